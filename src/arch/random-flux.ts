/**
 * @module arch/random-flux
 * Random FLUX transformer weights for tiny test models and benchmarks. Scaled so that every block
 * visibly changes the output: weights ~ N(0, 1/in) keep activations O(1) through any depth, biases
 * and modulation gates are far from zero, QK-norm scales sit around 1.
 */
import { seededNormal } from '../weights/random.js';
import type { FluxConfig } from './flux-config.js';
import { fluxTensors, type ParamTensor } from './flux-layers.js';

export interface RandomTensor extends ParamTensor {
  /** Draws the tensor's values; deterministic per (seed, tensor index), independent of call order. */
  readonly values: () => Float32Array;
}

function stdFor(t: ParamTensor): { std: number; mean: number } {
  if (t.name.endsWith('.scale')) return { std: 0.1, mean: 1 };
  if (t.name.endsWith('.bias')) return { std: 0.1, mean: 0 };
  return { std: 1 / Math.sqrt(t.shape[1] ?? 1), mean: 0 };
}

/** @example for (const t of randomFluxTensors(config, 7)) writeTensor(t.name, t.shape, t.values()); */
export function randomFluxTensors(c: FluxConfig, seed: number): RandomTensor[] {
  return fluxTensors(c).map((t, i) => ({
    ...t,
    values: () => {
      const { std, mean } = stdFor(t);
      const n = t.shape.reduce((a, b) => a * b, 1);
      return seededNormal((seed * 1_000_003 + i) >>> 0).fill(new Float32Array(n), std, mean);
    },
  }));
}
