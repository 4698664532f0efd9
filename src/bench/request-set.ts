/**
 * @module bench/request-set
 * The requests a benchmark sends: hosted submit bodies, built from the built-in prompts crossed with
 * the chosen sizes and LoRA mixes, or read from a JSON file. Every request gets a fixed seed (the
 * file's, or `firstSeed + index`), so two endpoints are asked for the same images.
 */
import { readFile } from 'node:fs/promises';
import { errors } from '../errors.js';

/** Varied subjects and styles, short enough for any text encoder. */
export const BUILTIN_PROMPTS: readonly string[] = [
  'a red fox sitting in fresh snow, morning light, photograph',
  'a lighthouse on a rocky coast during a storm, oil painting',
  'a bowl of ramen on a wooden table, steam rising, close-up',
  'an astronaut riding a horse on the moon, cinematic',
  'a cozy reading nook with plants and warm lamps, interior design photo',
  'a watercolor map of an imaginary island with mountains and rivers',
  'a vintage sports car parked on a rainy neon street at night',
  'a portrait of an old fisherman with a grey beard, dramatic lighting',
];

export interface LoraMix {
  readonly path: string;
  readonly scale: number;
}

export interface BenchRequest {
  readonly index: number;
  /** The hosted submit body. */
  readonly input: Readonly<Record<string, unknown>>;
}

export interface RequestSetOptions {
  readonly count: number;
  /** Hosted `size` strings, cycled: `['1024*1024', '768*1344']`. */
  readonly sizes: readonly string[];
  readonly steps: number;
  /** LoRA sets, cycled; `[[]]` = none. */
  readonly loraMixes: readonly (readonly LoraMix[])[];
  readonly firstSeed: number;
  readonly outputFormat: string;
  /** A JSON file of submit bodies (an array, or `{requests: [...]}`), cycled instead of the built-ins. */
  readonly file?: string;
}

/**
 * `path:scale+path:scale` (scale after the last ':' when it is a number, default 1).
 * @example parseLoraMix('a.safetensors:0.8+owner/repo') // [{ path: 'a.safetensors', scale: 0.8 }, { path: 'owner/repo', scale: 1 }]
 */
export function parseLoraMix(text: string): LoraMix[] {
  return text
    .split('+')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const colon = part.lastIndexOf(':');
      const tail = colon > 0 ? part.slice(colon + 1) : '';
      const scale = tail !== '' && Number.isFinite(Number(tail)) ? Number(tail) : undefined;
      return { path: scale === undefined ? part : part.slice(0, colon), scale: scale ?? 1 };
    });
}

async function readBodies(file: string): Promise<Record<string, unknown>[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw errors.USAGE(`--requests ${file}: not a readable JSON file (${(cause as Error).message})`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(list) || list.length === 0)
    throw errors.USAGE(
      `--requests ${file}: expected a non-empty array of submit bodies, or {"requests": [...]}`,
    );
  for (const [i, body] of list.entries())
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw errors.USAGE(`--requests ${file}: entry ${i} is not a JSON object`);
  return list as Record<string, unknown>[];
}

const at = <T>(list: readonly T[], i: number): T => list[i % list.length] as T;

/**
 * The benchmark's `count` requests.
 * @example await requestSet({ count: 2, sizes: ['512*512'], steps: 4, loraMixes: [[]], firstSeed: 42, outputFormat: 'jpeg' })
 * // [{ index: 0, input: { prompt: 'a red fox…', size: '512*512', seed: 42, … } }, { index: 1, … seed: 43 }]
 */
export async function requestSet(o: RequestSetOptions): Promise<BenchRequest[]> {
  if (o.file) {
    const bodies = await readBodies(o.file);
    return Array.from({ length: o.count }, (_, index) => {
      const body = at(bodies, index);
      return { index, input: { ...body, seed: body.seed ?? o.firstSeed + index } };
    });
  }
  return Array.from({ length: o.count }, (_, index) => {
    const loras = at(o.loraMixes, index);
    return {
      index,
      input: {
        prompt: at(BUILTIN_PROMPTS, index),
        size: at(o.sizes, index),
        num_inference_steps: o.steps,
        seed: o.firstSeed + index,
        output_format: o.outputFormat,
        ...(loras.length > 0 && { loras }),
      },
    };
  });
}
