/**
 * @module arch/random-clip
 * Random CLIP text tower weights for tiny test models and benchmarks: linear weights ~ N(0, 1/in)
 * keep activations O(1) through any depth, LayerNorm scales sit around 1, biases are far from zero
 * and embeddings ~ N(0, 0.5²) so that tokens and positions both matter.
 */
import type { ClipTextConfig } from './clip-config.js';
import { type ClipTensor, clipTensors } from './clip-layers.js';
import { type Normal, type RandomTensor, randomTensors } from './random-tensors.js';

function distribution(t: ClipTensor): Normal {
  switch (t.role) {
    case 'embedding':
      return { std: 0.5, mean: 0 };
    case 'norm':
      return { std: 0.1, mean: 1 };
    case 'bias':
      return { std: 0.1, mean: 0 };
    case 'linear':
      return { std: 1 / Math.sqrt(t.shape[1] ?? 1), mean: 0 };
  }
}

/** @example const weights = inMemoryWeights(new Map(randomClipTensors(c, 3).map((t) => [t.name, { shape: t.shape, data: t.values() }]))); */
export function randomClipTensors(c: ClipTextConfig, seed: number): RandomTensor[] {
  return randomTensors(clipTensors(c), seed, distribution);
}
