/**
 * @module safety/onnx-classifier-spec
 * The JSON beside a pluggable ONNX safety classifier (`<home>/safety/model.json` next to
 * `model.onnx`). Its fields follow Hugging Face's `preprocessor_config.json` so a converted image
 * classifier (e.g. Falconsai/nsfw_image_detection, ViT-B/16 at 224², the classifier Black Forest
 * Labs' reference CLI uses with threshold 0.85) needs only a few lines:
 *
 * ```json
 * { "size": { "height": 224, "width": 224 }, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
 *   "labels": ["normal", "nsfw"], "nsfw_labels": ["nsfw"], "threshold": 0.85 }
 * ```
 * The model takes one float32 input `[1, 3, height, width]` (NCHW; channels R, G, B, each
 * `(x · rescale_factor − mean) / std`) and returns one output `[1, labels.length]` of logits (a
 * softmax is applied) or, with `"outputs": "probabilities"`, probabilities.
 */
import { checkThreshold } from './safety-checker.js';

export interface OnnxClassifierSpec {
  readonly size: { readonly height: number; readonly width: number };
  readonly imageMean: readonly [number, number, number];
  readonly imageStd: readonly [number, number, number];
  /** Multiplies the 0–255 pixel values first (default 1/255). */
  readonly rescaleFactor: number;
  /** Label of each output index. */
  readonly labels: readonly string[];
  /** Labels whose probabilities add up to the NSFW score. */
  readonly nsfwLabels: readonly string[];
  /** Flags at this score unless configured otherwise (default 0.85, BFL's choice for Falconsai). */
  readonly threshold: number;
  readonly outputs: 'logits' | 'probabilities';
  /** Graph input and output names (default: the model's first). */
  readonly inputName?: string;
  readonly outputName?: string;
}

export const ONNX_DEFAULT_THRESHOLD = 0.85;

/** Largest input side accepted from the JSON, pixels (a hostile size must not allocate gigabytes). */
const MAX_SIDE = 1024;

type Json = Record<string, unknown>;

function fail(file: string, why: string): never {
  throw new Error(`safety classifier ${file}: ${why}`);
}

function numberList(file: string, key: string, value: unknown, fallback: number[]): [number, number, number] {
  const list = value ?? fallback;
  if (
    !Array.isArray(list) ||
    list.length !== 3 ||
    !list.every((n) => typeof n === 'number' && Number.isFinite(n))
  )
    fail(file, `${key} must be three numbers (R, G, B)`);
  return list as [number, number, number];
}

function side(file: string, key: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_SIDE)
    fail(file, `${key} must be an integer in 1–${MAX_SIDE}, got ${JSON.stringify(value)}`);
  return value as number;
}

function labelList(file: string, key: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((l) => typeof l === 'string'))
    fail(file, `${key} must be a non-empty array of label names`);
  return value as string[];
}

function optionalName(file: string, key: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(file, `${key} must be a tensor name`);
  return value;
}

/**
 * Validates the parsed JSON; `file` names it in errors.
 * @example parseOnnxClassifierSpec(JSON.parse(text), 'model.json').labels // ['normal', 'nsfw']
 */
export function parseOnnxClassifierSpec(json: unknown, file: string): OnnxClassifierSpec {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, 'expected a JSON object');
  const j = json as Json;
  const size = j.size as Json | number | undefined;
  const height = side(file, 'size.height', typeof size === 'number' ? size : size?.height);
  const width = side(file, 'size.width', typeof size === 'number' ? size : size?.width);
  const labels = labelList(file, 'labels', j.labels);
  const nsfwLabels = labelList(file, 'nsfw_labels', j.nsfw_labels);
  const unknown = nsfwLabels.filter((l) => !labels.includes(l));
  if (unknown.length) fail(file, `nsfw_labels ${unknown.join(', ')} are not in labels`);
  const imageStd = numberList(file, 'image_std', j.image_std, [1, 1, 1]);
  if (imageStd.some((s) => s === 0)) fail(file, 'image_std must not contain 0');
  const rescaleFactor = j.rescale_factor ?? 1 / 255;
  if (typeof rescaleFactor !== 'number' || !Number.isFinite(rescaleFactor))
    fail(file, 'rescale_factor must be a number');
  const outputs = j.outputs ?? 'logits';
  if (outputs !== 'logits' && outputs !== 'probabilities')
    fail(file, `outputs must be "logits" or "probabilities", got ${JSON.stringify(outputs)}`);
  const threshold = j.threshold ?? ONNX_DEFAULT_THRESHOLD;
  if (typeof threshold !== 'number') fail(file, 'threshold must be a number');
  const inputName = optionalName(file, 'input_name', j.input_name);
  const outputName = optionalName(file, 'output_name', j.output_name);
  return {
    size: { height, width },
    imageMean: numberList(file, 'image_mean', j.image_mean, [0, 0, 0]),
    imageStd,
    rescaleFactor,
    labels,
    nsfwLabels,
    threshold: checkThreshold(file, threshold),
    outputs,
    ...(inputName ? { inputName } : {}),
    ...(outputName ? { outputName } : {}),
  };
}
