/**
 * @module api/submit-schema
 * The flux-schnell-lora submit body (api.md, "Submit request"): its JSON schema, as `GET /api/v3/models`
 * publishes it, and a validator that needs no Fastify so the worker and the CLI apply the same rules.
 * Ranges come from pipeline/generation-request's LIMITS; only the LoRA rules live here.
 */
import { errors } from '../errors.js';
import { parseImageInput } from '../image/image-input.js';
import { checkImageFormat } from '../image/sniff.js';
import {
  checkGenerationRequest,
  type GenerationRequest,
  inRange,
  LIMITS,
  type LoraRequest,
  type OutputFormat,
  parseSize,
} from '../pipeline/generation-request.js';
import { type ModelContract, modelContract, SCHNELL_MODELS, type StepRange } from './served-models.js';

/** LoRA rules of the contract; `maxCount` is the default of a configurable limit. */
export const LORA_LIMITS = { maxCount: 5, scale: { min: 0, max: 4 } } as const;

export const OUTPUT_FORMATS: readonly OutputFormat[] = ['jpeg', 'png', 'webp'];

/** The hosted form order, which UIs (ComfyUI nodes, the playground) follow. */
export const SUBMIT_ORDER = [
  'prompt',
  'image',
  'mask_image',
  'strength',
  'loras',
  'size',
  'num_inference_steps',
  'guidance_scale',
  'num_images',
  'seed',
  'output_format',
  'enable_base64_output',
  'enable_safety_checker',
  'enable_sync_mode',
] as const;

export const SUBMIT_DEFAULTS = {
  image: '',
  mask_image: '',
  strength: 0.8,
  size: '1024*1024',
  guidance_scale: 3.5,
  num_images: 1,
  seed: -1,
  output_format: 'jpeg' as OutputFormat,
  enable_base64_output: false,
  enable_safety_checker: true,
  enable_sync_mode: false,
} as const;

/**
 * Longest prompt by default, characters: the encoders read at most 77 (CLIP) and 512 (T5) tokens,
 * so a longer prompt only costs tokenizer time and task-store space.
 */
export const PROMPT_MAX_CHARS = 10_000;

/**
 * Longest URL (`image`, `mask_image`, `loras[].path`, the webhook) by default, characters. Real
 * signed URLs stay under 4,000; the task store keeps every one and the worker logs it.
 */
export const URL_MAX_CHARS = 8192;

/**
 * Deepest nesting of arrays and objects a body may have. The body is stored and echoed to webhooks
 * (`input`), and JSON.stringify recurses: 100,000 nested arrays, a 200 KB body, would overflow its
 * stack. Real bodies nest 3 deep (`loras[i].path`).
 */
export const BODY_MAX_DEPTH = 64;

/** Scale of a LoRA entry that leaves it out, as the hosted form pre-fills it. */
const DEFAULT_LORA_SCALE = 1;

/**
 * Annotation keywords the published schemas use; Fastify's Ajv runs in strict mode and refuses unknown
 * keywords, so an app that validates with these schemas declares them.
 * @example fastify({ ajv: { customOptions: { keywords: [...SCHEMA_KEYWORDS] } } })
 */
export const SCHEMA_KEYWORDS = ['x-order-properties'] as const;

const range = (r: { min: number; max: number }) => ({ minimum: r.min, maximum: r.max });

/**
 * JSON schema of a model's submit body. Unknown fields are allowed (clients send extra keys); the
 * side range of `size` cannot be said in JSON schema, so parseSubmitBody checks it.
 * @example submitSchema(modelContract('wavespeed-ai/flux-dev-lora')).properties.num_inference_steps.default // 28
 */
export const submitSchema = (model: ModelContract) =>
  ({
    type: 'object',
    required: ['prompt'],
    additionalProperties: true,
    'x-order-properties': [...SUBMIT_ORDER],
    properties: {
      prompt: { type: 'string', minLength: 1, description: 'The text to generate from.' },
      image: {
        type: 'string',
        default: SUBMIT_DEFAULTS.image,
        description: 'Input image for img2img: http(s) URL, data URI or bare base64 (PNG/JPEG/WebP).',
      },
      mask_image: {
        type: 'string',
        default: SUBMIT_DEFAULTS.mask_image,
        description: 'Inpainting mask, same forms as image; white = repaint, black = keep. Requires image.',
      },
      strength: {
        type: 'number',
        default: SUBMIT_DEFAULTS.strength,
        ...range(LIMITS.strength),
        description: 'How much of the input image to repaint; used only with image.',
      },
      loras: {
        type: 'array',
        default: [],
        maxItems: LORA_LIMITS.maxCount,
        description: 'LoRAs to apply: HF owner/repo[/file.safetensors], an http(s) URL or a local file name.',
        items: {
          type: 'object',
          required: ['path'],
          properties: {
            path: { type: 'string', minLength: 1 },
            scale: { type: 'number', default: DEFAULT_LORA_SCALE, ...range(LORA_LIMITS.scale) },
          },
        },
      },
      size: {
        type: 'string',
        default: SUBMIT_DEFAULTS.size,
        pattern: '^\\s*\\d+\\s*[*xX]\\s*\\d+\\s*$',
        description: `"W*H" (also x/X), each side an integer ${LIMITS.side.min}–${LIMITS.side.max}.`,
      },
      num_inference_steps: {
        type: 'integer',
        default: model.steps.default,
        ...range(model.steps),
      },
      guidance_scale: {
        type: 'number',
        default: SUBMIT_DEFAULTS.guidance_scale,
        ...range(LIMITS.guidanceScale),
        description: 'Used by guidance-distilled models (dev); schnell ignores it.',
      },
      num_images: { type: 'integer', default: SUBMIT_DEFAULTS.num_images, ...range(LIMITS.numImages) },
      seed: {
        type: 'integer',
        default: SUBMIT_DEFAULTS.seed,
        ...range(LIMITS.seed),
        description: '-1 draws a random seed; the seed used is reported.',
      },
      output_format: { type: 'string', default: SUBMIT_DEFAULTS.output_format, enum: [...OUTPUT_FORMATS] },
      enable_base64_output: { type: 'boolean', default: SUBMIT_DEFAULTS.enable_base64_output },
      enable_safety_checker: { type: 'boolean', default: SUBMIT_DEFAULTS.enable_safety_checker },
      enable_sync_mode: { type: 'boolean', default: SUBMIT_DEFAULTS.enable_sync_mode },
    },
  }) as const;

const SCHNELL = modelContract(SCHNELL_MODELS[0]);

/** The schnell body schema, which the submit route documents. @example SUBMIT_SCHEMA.properties.size.default // '1024*1024' */
export const SUBMIT_SCHEMA = submitSchema(SCHNELL);

export type LoraSpec = Pick<LoraRequest, 'path' | 'scale'>;

export interface SubmitBody {
  readonly request: GenerationRequest;
  readonly loras: LoraSpec[];
  readonly enableBase64Output: boolean;
  readonly enableSafetyChecker: boolean;
  readonly enableSyncMode: boolean;
}

export interface SubmitOptions {
  /** The served model's step range and default (default: schnell's 1–8, 4). */
  readonly steps?: StepRange;
  /** The configured LoRA limit (default LORA_LIMITS.maxCount). */
  readonly maxLoras?: number;
  /** The configured prompt limit, characters (default PROMPT_MAX_CHARS). */
  readonly maxPromptChars?: number;
  /** Largest inline (base64) image, decoded bytes (default image-input's MAX_IMAGE_BYTES). */
  readonly maxImageBytes?: number;
  /** The configured URL limit, characters (default URL_MAX_CHARS); inline images have the byte limit instead. */
  readonly maxUrlChars?: number;
}

/**
 * Refuses a URL (or LoRA path) longer than `max` characters, naming the field and the limit.
 * @example checkUrlLength('webhook', 'https://example.com/hook', 8192) // passes
 */
export function checkUrlLength(field: string, value: string, max: number = URL_MAX_CHARS): void {
  if (value.length > max)
    throw errors.USAGE(`${field}: ${value.length} characters, above the limit of ${max} for a URL`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function wrongType(field: string, expected: string, value: unknown): never {
  throw errors.USAGE(`${field}: expected ${expected}, got ${describe(value)}`);
}

/** The body's value or the default; null counts as absent because some SDKs send None for unset fields. */
function field(body: Record<string, unknown>, name: string): unknown {
  const v = body[name];
  return v === null ? undefined : v;
}

function str(body: Record<string, unknown>, name: string, fallback: string): string {
  const v = field(body, name) ?? fallback;
  return typeof v === 'string' ? v : wrongType(name, 'a string', v);
}

function num(body: Record<string, unknown>, name: string, fallback: number): number {
  const v = field(body, name) ?? fallback;
  return typeof v === 'number' ? v : wrongType(name, 'a number', v);
}

function bool(body: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const v = field(body, name) ?? fallback;
  return typeof v === 'boolean' ? v : wrongType(name, 'a boolean', v);
}

function parseLora(entry: unknown, index: number, maxUrlChars: number): LoraSpec {
  const name = `loras[${index}]`;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    wrongType(name, 'an object {path, scale}', entry);
  }
  const record = entry as Record<string, unknown>;
  const path = record.path;
  if (typeof path !== 'string') wrongType(`${name}.path`, 'a string', path);
  if (path.trim() === '') throw errors.USAGE(`${name}.path: must not be empty`);
  checkUrlLength(`${name}.path`, path.trim(), maxUrlChars);
  const scale = record.scale ?? DEFAULT_LORA_SCALE;
  if (typeof scale !== 'number') wrongType(`${name}.scale`, 'a number', scale);
  const { min, max } = LORA_LIMITS.scale;
  if (!Number.isFinite(scale) || scale < min || scale > max) {
    throw errors.USAGE(`${name}.scale: ${scale} is not a number in ${min}–${max}`);
  }
  return { path: path.trim(), scale };
}

function parseLoras(value: unknown, maxLoras: number, maxUrlChars: number): LoraSpec[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) wrongType('loras', 'an array of {path, scale}', value);
  if (value.length > maxLoras) throw errors.USAGE(`loras: at most ${maxLoras} LoRAs, got ${value.length}`);
  return value.map((entry, i) => parseLora(entry, i, maxUrlChars));
}

/** The nesting depth of a parsed JSON value, iteratively (a recursive walk would overflow first). */
function depthAbove(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

function parseFormat(value: string): OutputFormat {
  if ((OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  throw errors.USAGE(
    `output_format: expected one of ${OUTPUT_FORMATS.join(', ')}, got ${JSON.stringify(value)}`,
  );
}

/**
 * Validates a submit body and applies the defaults; throws FLUX_ERR_USAGE (400) naming the field
 * and the rule. Unknown fields are ignored.
 * @example parseSubmitBody({ prompt: 'a cat', size: '768x512' }).request // { prompt: 'a cat', width: 768, height: 512, steps: 4, … }
 */
export function parseSubmitBody(body: unknown, opts: SubmitOptions = {}): SubmitBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    wrongType('body', 'a JSON object', body);
  const b = body as Record<string, unknown>;
  if (depthAbove(b, BODY_MAX_DEPTH))
    throw errors.USAGE(`body: nested deeper than ${BODY_MAX_DEPTH} levels of arrays and objects`);
  if (field(b, 'prompt') === undefined) throw errors.USAGE('prompt: is required');
  const prompt = str(b, 'prompt', '');
  const maxPromptChars = opts.maxPromptChars ?? PROMPT_MAX_CHARS;
  if (prompt.length > maxPromptChars)
    throw errors.USAGE(`prompt: ${prompt.length} characters, above the limit of ${maxPromptChars}`);
  const { width, height } = parseSize(str(b, 'size', SUBMIT_DEFAULTS.size));
  const image = str(b, 'image', SUBMIT_DEFAULTS.image).trim();
  const maskImage = str(b, 'mask_image', SUBMIT_DEFAULTS.mask_image).trim();
  const stepRange = opts.steps ?? SCHNELL.steps;
  const steps = num(b, 'num_inference_steps', stepRange.default);
  inRange('num_inference_steps', steps, stepRange, true);
  const request = checkGenerationRequest({
    prompt,
    width,
    height,
    steps,
    seed: num(b, 'seed', SUBMIT_DEFAULTS.seed),
    numImages: num(b, 'num_images', SUBMIT_DEFAULTS.num_images),
    guidanceScale: num(b, 'guidance_scale', SUBMIT_DEFAULTS.guidance_scale),
    strength: num(b, 'strength', SUBMIT_DEFAULTS.strength),
    ...(image !== '' && { image }),
    ...(maskImage !== '' && { maskImage }),
    outputFormat: parseFormat(str(b, 'output_format', SUBMIT_DEFAULTS.output_format)),
  });
  // Inline images are checked now (form, base64, size, magic bytes) so that a bad one is a 400, not
  // a failed task; URLs for their syntax here and their address in submit-sources, and the worker
  // fetches them under the private-network rules.
  const maxUrlChars = opts.maxUrlChars ?? URL_MAX_CHARS;
  for (const [name, value] of [
    ['image', image],
    ['mask_image', maskImage],
  ] as const) {
    if (value === '') continue;
    const parsed = parseImageInput(name, value, opts.maxImageBytes);
    if (parsed.kind === 'url') checkUrlLength(name, value, maxUrlChars);
    else checkImageFormat(name, parsed.bytes);
  }
  const loras = parseLoras(field(b, 'loras'), opts.maxLoras ?? LORA_LIMITS.maxCount, maxUrlChars);
  return {
    request: loras.length > 0 ? { ...request, loras } : request,
    loras,
    enableBase64Output: bool(b, 'enable_base64_output', SUBMIT_DEFAULTS.enable_base64_output),
    enableSafetyChecker: bool(b, 'enable_safety_checker', SUBMIT_DEFAULTS.enable_safety_checker),
    enableSyncMode: bool(b, 'enable_sync_mode', SUBMIT_DEFAULTS.enable_sync_mode),
  };
}
