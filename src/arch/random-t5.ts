/**
 * @module arch/random-t5
 * Random T5 encoder weights for tiny test models and benchmarks, scaled so that every block
 * visibly changes the output: linear weights ~ N(0, 1/in) keep activations O(1) through any depth,
 * RMSNorm weights ~ 1 + 0.1·N(0, 1), token embeddings ~ N(0, 1), and the relative position table
 * ~ N(0, 0.5²), large enough that the bias visibly shapes attention.
 */
import type { ParamTensor } from './param-tensor.js';
import { type Normal, type RandomTensor, randomTensors } from './random-tensors.js';
import type { T5Config } from './t5-config.js';
import { T5_EMBEDDING, T5_RELATIVE_BIAS, t5Tensors } from './t5-layers.js';

function distribution(t: ParamTensor): Normal {
  if (t.name === T5_EMBEDDING) return { std: 1, mean: 0 };
  if (t.name === T5_RELATIVE_BIAS) return { std: 0.5, mean: 0 };
  if (t.name.endsWith('layer_norm.weight')) return { std: 0.1, mean: 1 };
  return { std: 1 / Math.sqrt(t.shape[1] ?? 1), mean: 0 };
}

/**
 * Every tensor of `t5Tensors(c)` (embedding under `shared.weight`) with a lazy, seeded draw:
 * deterministic per (seed, tensor index), independent of call order.
 *
 * @example const weights = new Map(randomT5Tensors(c, 7).map((t) => [t.name, { shape: t.shape, data: t.values() }]));
 */
export function randomT5Tensors(c: T5Config, seed: number): RandomTensor[] {
  return randomTensors(t5Tensors(c), seed, distribution);
}
