/**
 * @module api/openai-request
 * OpenAI Images API requests (`/v1/images/generations`, `/v1/images/edits`) translated into the hosted
 * submit body, so that they are validated by the same rules (submit-schema) and become the same
 * tasks. OpenAI-only knobs we cannot honour (`quality`, `style`, `background`, `moderation`,
 * `output_compression`, `user`) are accepted and ignored, as tools send them by default; `model`
 * picks an installed model when it names one and is otherwise ignored (tools hard-code `dall-e-3`
 * or `gpt-image-1`). Our extensions: `seed`, `steps`, `loras`, and on edits `strength`.
 *
 * `response_format` defaults as OpenAI answers: `url` for DALL·E (and no model), `b64_json` for the
 * GPT image models, which OpenAI documents as always returning base64 and not taking the parameter —
 * a client written for `gpt-image-1` reads `b64_json` and would find nothing in a `url` answer. An
 * explicit `response_format` is honoured for every model (an extension for those).
 */
import { OpenAiError } from './openai-errors.js';
import { OUTPUT_FORMATS } from './submit-schema.js';

export type ResponseFormat = 'url' | 'b64_json';

const RESPONSE_FORMATS: readonly ResponseFormat[] = ['url', 'b64_json'];

/** OpenAI's GPT image models (`gpt-image-1`, `gpt-image-1-mini`, …): base64 answers only. */
const BASE64_ONLY_MODEL = /^gpt-image-/;

/**
 * The answer format when the request names none, by the OpenAI model it was written for.
 * @example defaultResponseFormat('gpt-image-1') // 'b64_json'
 */
function defaultResponseFormat(model: unknown): ResponseFormat {
  return typeof model === 'string' && BASE64_ONLY_MODEL.test(model) ? 'b64_json' : 'url';
}

/** OpenAI's default output format (the hosted contract's is jpeg). */
const DEFAULT_OUTPUT_FORMAT = 'png';

/** `size: "auto"` for a generation; an edit's `auto` is the input image's size (see `autoEditSize`). */
export const AUTO_GENERATION_SIZE = '1024x1024';

export interface OpenAiImageRequest {
  /** The hosted submit body (prompt, size, num_images, seed, …) for `parseSubmitBody`. */
  readonly body: Record<string, unknown>;
  readonly responseFormat: ResponseFormat;
  /** The hosted model id the task is for. */
  readonly model: string;
}

function oneOf<T extends string>(param: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new OpenAiError(
    400,
    `${param}: expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`,
    param,
    'invalid_value',
  );
}

/** The installed model `requested` names (`owner/name` or just `name`), else the first installed. */
function modelFor(requested: unknown, models: readonly string[]): string {
  const fallback = models[0] ?? '';
  if (typeof requested !== 'string') return fallback;
  return models.find((m) => m === requested || m.split('/').pop() === requested) ?? fallback;
}

export interface TranslateOptions {
  readonly models: readonly string[];
  /** What `size: "auto"` (and no size) means here, `WxH`. */
  readonly autoSize: string;
  /** Edits: the uploaded image and mask as URLs the worker can read. */
  readonly image?: string;
  readonly mask?: string;
}

/**
 * An OpenAI images request (JSON body, or the fields of an edit's form) as a hosted submit body.
 * @throws OpenAiError (400) naming `response_format`, `output_format` or `stream`
 * @example openAiImageRequest({ prompt: 'a cat', n: 2, size: '512x512' }, { models, autoSize: '1024x1024' }).body
 * // { prompt: 'a cat', num_images: 2, size: '512x512', output_format: 'png', … }
 */
export function openAiImageRequest(fields: Record<string, unknown>, o: TranslateOptions): OpenAiImageRequest {
  if (fields.stream === true || fields.stream === 'true')
    throw new OpenAiError(
      400,
      'stream: streaming image responses are not supported',
      'stream',
      'invalid_value',
    );
  const responseFormat = oneOf(
    'response_format',
    fields.response_format,
    RESPONSE_FORMATS,
    defaultResponseFormat(fields.model),
  );
  const outputFormat = oneOf('output_format', fields.output_format, OUTPUT_FORMATS, DEFAULT_OUTPUT_FORMAT);
  const size =
    fields.size === undefined || fields.size === null || fields.size === 'auto' ? o.autoSize : fields.size;
  const body: Record<string, unknown> = {
    prompt: fields.prompt,
    size,
    num_images: fields.n ?? 1,
    output_format: outputFormat,
    ...(fields.seed !== undefined && { seed: fields.seed }),
    ...(fields.steps !== undefined && { num_inference_steps: fields.steps }),
    ...(fields.loras !== undefined && { loras: fields.loras }),
    ...(fields.strength !== undefined && { strength: fields.strength }),
    ...(o.image !== undefined && { image: o.image }),
    ...(o.mask !== undefined && { mask_image: o.mask }),
  };
  return { body, responseFormat, model: modelFor(fields.model, o.models) };
}

/** Numeric form fields of an edit arrive as text; the JSON route gets them as numbers. */
const NUMERIC_FIELDS = new Set(['n', 'seed', 'steps', 'strength']);

/**
 * The text fields of a multipart edit as the JSON route would have them: numbers parsed, and LoRAs
 * either as a JSON string (`loras=[{"path":…}]`, for curl) or in the bracket form the OpenAI SDKs
 * send for an array of objects (`loras[][path]`, `loras[][scale]`, one entry per `path`).
 * @example formFields([['n', '2'], ['loras[][path]', 'a.safetensors'], ['loras[][scale]', '0.5']])
 * // { n: 2, loras: [{ path: 'a.safetensors', scale: 0.5 }] }
 */
export function formFields(entries: Iterable<readonly [string, string]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const loras: Record<string, unknown>[] = [];
  for (const [key, value] of entries) {
    const lora = /^loras\[\]\[(path|scale)\]$/.exec(key);
    if (lora) {
      if (lora[1] === 'path' || loras.length === 0) loras.push({});
      const current = loras[loras.length - 1] as Record<string, unknown>;
      current[lora[1] as string] = lora[1] === 'scale' ? Number(value) : value;
    } else if (key === 'loras') {
      try {
        out.loras = JSON.parse(value);
      } catch {
        throw new OpenAiError(400, 'loras: expected a JSON array of {path, scale}', 'loras', 'invalid_value');
      }
    } else if (NUMERIC_FIELDS.has(key) && value.trim() !== '' && Number.isFinite(Number(value))) {
      out[key] = Number(value);
    } else {
      out[key] = value;
    }
  }
  if (loras.length > 0) out.loras = loras;
  return out;
}
