/**
 * @module arch/random-tensors
 * Random weights for a layer table, for tiny test models and benchmarks. Each architecture only
 * says which normal distribution each of its tensors gets.
 */
import { seededNormal } from '../weights/random.js';
import type { ParamTensor } from './param-tensor.js';

export interface RandomTensor extends ParamTensor {
  /** Draws the tensor's values; deterministic per (seed, tensor index), independent of call order. */
  readonly values: () => Float32Array;
}

export interface Normal {
  readonly mean: number;
  readonly std: number;
}

/** @example randomTensors(fluxTensors(c), 7, () => ({ mean: 0, std: 0.02 })) */
export function randomTensors<T extends ParamTensor>(
  tensors: readonly T[],
  seed: number,
  distribution: (t: T) => Normal,
): RandomTensor[] {
  return tensors.map((t, i) => ({
    name: t.name,
    shape: t.shape,
    values: () => {
      const { std, mean } = distribution(t);
      const n = t.shape.reduce((a, b) => a * b, 1);
      return seededNormal((seed * 1_000_003 + i) >>> 0).fill(new Float32Array(n), std, mean);
    },
  }));
}
