/**
 * @module safety/onnx-checker
 * A pluggable, stronger safety classifier: any image classifier exported to ONNX, placed in the
 * model home as `safety/model.onnx` with `safety/model.json` describing its input size,
 * normalisation, labels and threshold (format: safety/onnx-classifier-spec). It runs on ONNX
 * Runtime's CPU provider in the worker process, one image at a time.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { RgbImage } from '../image/decode.js';
import { resizeRgb } from '../image/encode.js';
import { type OnnxClassifierSpec, parseOnnxClassifierSpec } from './onnx-classifier-spec.js';
import { checkThreshold, type SafetyChecker, verdict } from './safety-checker.js';

export const ONNX_CLASSIFIER_FILES = { model: 'model.onnx', spec: 'model.json' } as const;

/** HWC bytes at the model's size → NCHW float32, `(x · rescale − mean) / std` per channel. */
async function pixelValues(
  { rgb, width, height }: RgbImage,
  spec: OnnxClassifierSpec,
): Promise<Float32Array> {
  const { width: w, height: h } = spec.size;
  const data = await resizeRgb(rgb, width, height, spec.size);
  const plane = w * h;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const mean = spec.imageMean[c] as number;
    const std = spec.imageStd[c] as number;
    for (let p = 0; p < plane; p++)
      out[c * plane + p] = ((data[p * 3 + c] as number) * spec.rescaleFactor - mean) / std;
  }
  return out;
}

function softmax(logits: Float32Array): number[] {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/**
 * Loads `<dir>/model.onnx` and `<dir>/model.json`; `threshold` overrides the JSON's.
 * @example const checker = await loadOnnxChecker(join(home, 'safety')); await checker.check(image)
 * @throws Error naming the file when the JSON is missing or invalid, or the model does not load
 */
export async function loadOnnxChecker(
  dir: string,
  options: { readonly threshold?: number } = {},
): Promise<SafetyChecker> {
  const specFile = join(dir, ONNX_CLASSIFIER_FILES.spec);
  const modelFile = join(dir, ONNX_CLASSIFIER_FILES.model);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(specFile, 'utf8'));
  } catch (cause) {
    throw new Error(`safety classifier ${specFile}: cannot read it (${(cause as Error).message})`, { cause });
  }
  const spec = parseOnnxClassifierSpec(json, specFile);
  const threshold =
    options.threshold === undefined ? spec.threshold : checkThreshold('safety threshold', options.threshold);
  const session = await ort.InferenceSession.create(modelFile, { executionProviders: ['cpu'] });
  const inputName = spec.inputName ?? session.inputNames[0];
  const outputName = spec.outputName ?? session.outputNames[0];
  if (!inputName || !session.inputNames.includes(inputName))
    throw new Error(
      `safety classifier ${modelFile}: no input ${inputName} (has ${session.inputNames.join(', ')})`,
    );
  if (!outputName || !session.outputNames.includes(outputName))
    throw new Error(
      `safety classifier ${modelFile}: no output ${outputName} (has ${session.outputNames.join(', ')})`,
    );
  return {
    name: `onnx:${modelFile}`,
    threshold,
    async check(image) {
      const input = new ort.Tensor('float32', await pixelValues(image, spec), [
        1,
        3,
        spec.size.height,
        spec.size.width,
      ]);
      const result = await session.run({ [inputName]: input });
      const out = result[outputName];
      if (out?.type !== 'float32' || out.size !== spec.labels.length)
        throw new Error(
          `safety classifier ${modelFile}: output ${outputName} has ${out?.size} ${out?.type} values, ` +
            `expected ${spec.labels.length} float32 (one per label)`,
        );
      const values = out.data as Float32Array;
      const probabilities = spec.outputs === 'logits' ? softmax(values) : Array.from(values);
      return verdict(
        Object.fromEntries(spec.labels.map((label, i) => [label, probabilities[i] as number])),
        spec.nsfwLabels,
        threshold,
      );
    },
    async dispose() {
      await session.release();
    },
  };
}
