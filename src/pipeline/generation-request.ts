/**
 * @module pipeline/generation-request
 * A validated generation request as the API and the CLI hand it to the pipeline: the hosted
 * contract's fields (api.md), sizes already parsed, images still as the user gave them.
 */
import { errors } from '../errors.js';

export type OutputFormat = 'jpeg' | 'png' | 'webp';

/**
 * A LoRA of a request (api.md `loras[i]`). `file` and `sha256` are filled in by whoever made it
 * local (the server's dispatcher, the CLI) before a worker renders the request.
 */
export interface LoraRequest {
  readonly path: string;
  readonly scale: number;
  readonly file?: string;
  readonly sha256?: string;
}

export interface GenerationRequest {
  readonly prompt: string;
  /** Output size as requested (256–1536 each). */
  readonly width: number;
  readonly height: number;
  readonly steps: number;
  /** -1 draws a random seed, which the result reports. */
  readonly seed: number;
  readonly numImages: number;
  readonly guidanceScale: number;
  readonly strength: number;
  /** URL, data URI or bare base64 (api.md); '' or undefined = none. */
  readonly image?: string;
  readonly maskImage?: string;
  readonly outputFormat: OutputFormat;
  /** Up to five (configurable), applied at their scales; absent or empty = none. */
  readonly loras?: readonly LoraRequest[];
  /** `enable_safety_checker`: classify each output (default true when a checker is installed). */
  readonly safetyChecker?: boolean;
}

/** FLUX works on multiples of 16 (VAE ×8, packing ×2): the nearest one to a requested side. */
export function generationSide(side: number): number {
  return Math.max(16, Math.round(side / 16) * 16);
}

/**
 * The hosted contract's ranges (api.md); the API's JSON schema and the CLI check against these.
 * Steps: what the hosted dev endpoint takes; each served model id narrows it (api/served-models:
 * schnell 1–8).
 */
export const LIMITS = {
  side: { min: 256, max: 1536 },
  steps: { min: 1, max: 50 },
  numImages: { min: 1, max: 4 },
  seed: { min: -1, max: 9_999_999_999 },
  strength: { min: 0, max: 1 },
  guidanceScale: { min: 0, max: 10 },
} as const;

/**
 * Parses `"W*H"` (also `x`/`X`) into sides within the contract's range.
 * @example parseSize('1024*768') // { width: 1024, height: 768 }
 */
export function parseSize(size: string): { width: number; height: number } {
  const m = /^\s*(\d+)\s*[*xX]\s*(\d+)\s*$/.exec(size);
  if (!m) throw errors.USAGE(`size: expected "W*H" with integer sides, got ${JSON.stringify(size)}`);
  const [width, height] = [Number(m[1]), Number(m[2])];
  for (const [name, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (v < LIMITS.side.min) throw errors.USAGE(`size: ${name} ${v} is below the minimum ${LIMITS.side.min}`);
    if (v > LIMITS.side.max) throw errors.USAGE(`size: ${name} ${v} is above the maximum ${LIMITS.side.max}`);
  }
  return { width, height };
}

/** Throws a 400 naming `field` and its range unless `value` is a number (an integer) in it. */
export function inRange(
  field: string,
  value: number,
  range: { min: number; max: number },
  integer: boolean,
): void {
  if (
    !Number.isFinite(value) ||
    (integer && !Number.isInteger(value)) ||
    value < range.min ||
    value > range.max
  ) {
    throw errors.USAGE(
      `${field}: ${value} is not ${integer ? 'an integer' : 'a number'} in ${range.min}–${range.max}`,
    );
  }
}

/** Checks every field against the contract; throws a 400 naming the field and its allowed range. */
export function checkGenerationRequest(r: GenerationRequest): GenerationRequest {
  if (r.prompt.trim() === '') throw errors.USAGE('prompt: must not be empty');
  inRange('width', r.width, LIMITS.side, true);
  inRange('height', r.height, LIMITS.side, true);
  inRange('num_inference_steps', r.steps, LIMITS.steps, true);
  inRange('num_images', r.numImages, LIMITS.numImages, true);
  inRange('seed', r.seed, LIMITS.seed, true);
  inRange('strength', r.strength, LIMITS.strength, false);
  inRange('guidance_scale', r.guidanceScale, LIMITS.guidanceScale, false);
  if (r.maskImage && !r.image) throw errors.USAGE('mask_image: requires image');
  return r;
}
