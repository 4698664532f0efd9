/**
 * @module pipeline/transformer-feeds
 * The transformer's inputs for a whole denoising loop: everything but the latents and the sigma is
 * the same at every step, so it is built once (flux.md §3.4 ids, §5.3 guidance, README contract).
 */
import * as ort from 'onnxruntime-node';
import { FLUX_IO } from '../arch/flux-io.js';
import type { ManifestLayer } from '../runtime/manifest.js';
import { allLoraTensors } from './lora-tensors.js';
import { imageIds, textIds } from './packing.js';
import type { EncodedPrompt } from './prompt-encoder.js';

export interface TransformerFeedsSpec {
  readonly batch: number;
  /** Packed grid: h2 = H/16 rows, w2 = W/16 columns. */
  readonly h2: number;
  readonly w2: number;
  readonly prompt: EncodedPrompt;
  /** Packed latent channels (64). */
  readonly channels: number;
  readonly pooledDim: number;
  readonly jointDim: number;
  readonly guidance?: number;
  readonly layers: readonly ManifestLayer[];
  /** Runtime LoRA inputs by input name; layers without one get rank-0 (empty) tensors. */
  readonly lora?: Readonly<Record<string, ort.Tensor>>;
}

/** `times` copies of `row` back to back: per-prompt tensors repeated over the batch. */
export function repeatBatch(row: Float32Array, times: number): Float32Array {
  const out = new Float32Array(row.length * times);
  for (let i = 0; i < times; i++) out.set(row, i * row.length);
  return out;
}

export class TransformerFeeds {
  private readonly fixed: Record<string, ort.Tensor> = {};
  private readonly imgDims: number[];
  private readonly timesteps: Float32Array;

  constructor(spec: TransformerFeedsSpec) {
    const B = spec.batch;
    const L = spec.h2 * spec.w2;
    const T = spec.prompt.t5Length;
    const f = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
    this.fixed[FLUX_IO.imgIds] = f(repeatBatch(imageIds(spec.h2, spec.w2), B), [B, L, 3]);
    this.fixed[FLUX_IO.txt] = f(repeatBatch(spec.prompt.t5, B), [B, T, spec.jointDim]);
    this.fixed[FLUX_IO.txtIds] = f(repeatBatch(textIds(T), B), [B, T, 3]);
    this.fixed[FLUX_IO.y] = f(repeatBatch(spec.prompt.pooled, B), [B, spec.pooledDim]);
    if (spec.guidance !== undefined)
      this.fixed[FLUX_IO.guidance] = f(new Float32Array(B).fill(spec.guidance), [B]);
    Object.assign(this.fixed, allLoraTensors(spec.layers, spec.lora));
    this.imgDims = [B, L, spec.channels];
    this.timesteps = new Float32Array(B);
  }

  /** The feeds for one step: latents x [B, L, 64] at noise level sigma. */
  at(x: Float32Array, sigma: number): Record<string, ort.Tensor> {
    this.timesteps.fill(sigma);
    return {
      ...this.fixed,
      [FLUX_IO.img]: new ort.Tensor('float32', x, this.imgDims),
      [FLUX_IO.timesteps]: new ort.Tensor('float32', this.timesteps, [this.timesteps.length]),
    };
  }
}
