/**
 * @module arch/random-vae
 * Random FLUX AE weights (BFL names) for tiny test models and benchmarks: convs ~ N(0, 1/(in·k·k))
 * keep activations O(1) through any depth, GroupNorm scales sit around 1 and biases are far enough
 * from zero that every term shows in the output.
 */
import type { ParamTensor } from './param-tensor.js';
import { type Normal, type RandomTensor, randomTensors } from './random-tensors.js';
import type { VaeConfig } from './vae-config.js';
import { vaeTensors } from './vae-layers.js';

function stdFor(t: ParamTensor): Normal {
  if (t.name.endsWith('.bias')) return { std: 0.1, mean: 0 };
  if (t.shape.length === 4) {
    const fanIn = (t.shape[1] ?? 1) * (t.shape[2] ?? 1) * (t.shape[3] ?? 1);
    return { std: 1 / Math.sqrt(fanIn), mean: 0 };
  }
  return { std: 0.1, mean: 1 }; // GroupNorm weight
}

/** @example const weights = new Map(randomVaeTensors(config, 3).map((t) => [t.name, { shape: t.shape, data: t.values() }])); */
export function randomVaeTensors(c: VaeConfig, seed: number): RandomTensor[] {
  return randomTensors(vaeTensors(c), seed, stdFor);
}
