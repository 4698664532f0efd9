/** Inputs for the GPU proof's graphs: the tiny model's five, and the full-width transformer's steps and LoRAs. */
import * as ort from 'onnxruntime-node';
import type { ComputeDType } from '../../src/arch/build-context.js';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { FLUX_IO, loraInputs } from '../../src/arch/flux-io.js';
import { fluxLinears } from '../../src/arch/flux-layers.js';
import type { ValueSpec } from '../../src/onnx/graph.js';
import { imageIds, textIds } from '../../src/pipeline/packing.js';
import { f32ToF16 } from '../../src/weights/float16.js';
import { seededNormal } from '../../src/weights/random.js';
import { randomUniform, seedState } from './random-checkpoint.js';

const f32 = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, dims);

/** The sigma every step is timed at: a mid-schedule value. */
export const SIGMA = 0.75;

/**
 * Feeds for one of the tiny graphs from its manifest inputs: symbolic dims from `dims` (a LoRA rank
 * is 0: no LoRA), token ids well inside any vocabulary, real position ids and a sigma for the
 * transformer, images in [−1, 1], normals elsewhere.
 */
export function tinyFeeds(
  inputs: readonly ValueSpec[],
  dims: Readonly<Record<string, number>>,
  seed: number,
): Record<string, ort.Tensor> {
  const randn = seededNormal(seed);
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs) {
    const shape = input.dims.map((d) => {
      if (typeof d === 'number') return d;
      if (d.endsWith('.rank')) return 0;
      const v = dims[d];
      if (v === undefined) throw new Error(`no size for dim ${d} of ${input.name}`);
      return v;
    });
    const n = shape.reduce((a, b) => a * b, 1);
    if (input.dtype === 'int64') {
      feeds[input.name] = new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: n }, (_, i) => BigInt((i * 7919 + 11) % 1000)),
        shape,
      );
      continue;
    }
    let data: Float32Array;
    if (input.name === FLUX_IO.imgIds) {
      const side = Math.sqrt(shape[1] as number);
      data = imageIds(side, side);
    } else if (input.name === FLUX_IO.txtIds) data = textIds(shape[1] as number);
    else if (input.name === FLUX_IO.timesteps) data = new Float32Array(n).fill(SIGMA);
    else if (input.name === 'image') data = randomUniform(n, 1, seedState(seed, 1));
    else data = randn.fill(new Float32Array(n));
    feeds[input.name] = f32(data, shape);
  }
  return feeds;
}

/** The transformer's inputs at one image size: what stays fixed over a loop, and the per-step latents. */
export interface StepInputs {
  readonly size: number;
  readonly imgTokens: number;
  readonly txtTokens: number;
  /** img_ids, txt, txt_ids, y and rank-0 LoRA inputs: built once, bound once. */
  readonly fixed: Record<string, ort.Tensor>;
  readonly img: Float32Array;
  readonly imgDims: readonly number[];
}

export function stepInputs(
  c: FluxConfig,
  size: number,
  txtTokens: number,
  seed: number,
  dtype: ComputeDType = 'float16',
): StepInputs {
  const side = size / 16;
  const L = side * side;
  const randn = seededNormal(seed);
  const fixed: Record<string, ort.Tensor> = {
    [FLUX_IO.imgIds]: f32(imageIds(side, side), [1, L, 3]),
    [FLUX_IO.txt]: f32(randn.fill(new Float32Array(txtTokens * c.jointAttentionDim)), [
      1,
      txtTokens,
      c.jointAttentionDim,
    ]),
    [FLUX_IO.txtIds]: f32(textIds(txtTokens), [1, txtTokens, 3]),
    [FLUX_IO.y]: f32(randn.fill(new Float32Array(c.pooledProjectionDim)), [1, c.pooledProjectionDim]),
    ...loraFeeds(c, 0, seed, dtype),
  };
  return {
    size,
    imgTokens: L,
    txtTokens,
    fixed,
    img: randn.fill(new Float32Array(L * c.inChannels)),
    imgDims: [1, L, c.inChannels],
  };
}

/** One step's feeds: fresh latents and sigma tensors (new objects, so a DeviceSession copies them, as in the pipeline). */
export function stepFeeds(x: StepInputs, lora?: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
  return {
    ...x.fixed,
    ...lora,
    [FLUX_IO.img]: f32(x.img, x.imgDims),
    [FLUX_IO.timesteps]: f32(new Float32Array([SIGMA]), [1]),
  };
}

/**
 * Runtime LoRA inputs for every linear at rank `rank` (0: empty tensors), in the graph's float
 * type, as packLoras lays out a fused-layer LoRA: the whole-layer pair carries it, the per-part
 * pairs are empty. A spread like a trained factor's, B small, so the output moves but stays finite
 * in fp16.
 */
export function loraFeeds(
  c: FluxConfig,
  rank: number,
  seed: number,
  dtype: ComputeDType = 'float16',
): Record<string, ort.Tensor> {
  const t = (data: Float32Array, dims: number[]) =>
    dtype === 'float16' ? new ort.Tensor('float16', f32ToF16(data), dims) : f32(data, dims);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [i, layer] of fluxLinears(c).entries()) {
    const names = loraInputs(layer, dtype);
    feeds[names.a.name] = t(randomUniform(layer.in * rank, 1 / Math.sqrt(layer.in), seedState(seed, 2 * i)), [
      layer.in,
      rank,
    ]);
    feeds[names.b.name] = t(randomUniform(rank * layer.out, 0.01, seedState(seed, 2 * i + 1)), [
      rank,
      layer.out,
    ]);
    for (const part of names.parts) {
      feeds[part.a.name] = t(new Float32Array(0), [layer.in, 0]);
      feeds[part.b.name] = t(new Float32Array(0), [0, part.part.rows]);
    }
  }
  return feeds;
}

/** Bytes of the LoRA inputs at `rank` on every linear of `c`, in the graph's float type. */
export function loraBytes(c: FluxConfig, rank: number, dtype: ComputeDType = 'float16'): number {
  const bytes = dtype === 'float16' ? 2 : 4;
  return fluxLinears(c).reduce((n, l) => n + (l.in + l.out) * rank * bytes, 0);
}
