/**
 * @module arch/random-flux
 * Random FLUX transformer weights for tiny test models and benchmarks. Scaled so that every block
 * visibly changes the output: weights ~ N(0, 1/in) keep activations O(1) through any depth, biases
 * and modulation gates are far from zero, QK-norm scales sit around 1.
 */
import type { FluxConfig } from './flux-config.js';
import { fluxTensors } from './flux-layers.js';
import type { ParamTensor } from './param-tensor.js';
import { type Normal, type RandomTensor, randomTensors } from './random-tensors.js';

/** The distribution of one tensor; bench/gpu draws full-width checkpoints from it with a faster generator. */
export function stdFor(t: ParamTensor): Normal {
  if (t.name.endsWith('.scale')) return { std: 0.1, mean: 1 };
  if (t.name.endsWith('.bias')) return { std: 0.1, mean: 0 };
  return { std: 1 / Math.sqrt(t.shape[1] ?? 1), mean: 0 };
}

/** @example for (const t of randomFluxTensors(config, 7)) writeTensor(t.name, t.shape, t.values()); */
export function randomFluxTensors(c: FluxConfig, seed: number): RandomTensor[] {
  return randomTensors(fluxTensors(c), seed, stdFor);
}
