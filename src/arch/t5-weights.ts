/**
 * @module arch/t5-weights
 * Checks a T5 encoder checkpoint against the layer table before anything is built, so a wrong file
 * fails at once with the tensor's name. The token embedding may be stored as `shared.weight` or as
 * `encoder.embed_tokens.weight` (or both, tied); any other tensor (a decoder, an `lm_head`) is an error.
 */
import type { WeightSource } from '../weights/weight-source.js';
import { checkWeights } from './check-weights.js';
import type { T5Config } from './t5-config.js';
import { T5_EMBEDDING, T5_EMBEDDING_NAMES, t5Tensors } from './t5-layers.js';

/**
 * @returns the key the token embedding is read from (`shared.weight` when both are present)
 * @throws FluxServeError FLUX_ERR_WEIGHTS listing missing, misshapen, non-float or unexpected tensors
 */
export function checkT5Weights(c: T5Config, weights: WeightSource): string {
  const embedding = T5_EMBEDDING_NAMES.find((n) => weights.has(n)) ?? T5_EMBEDDING;
  checkWeights(weights, {
    component: 'T5 encoder',
    required: t5Tensors(c).map((t) => (t.name === T5_EMBEDDING ? { ...t, name: embedding } : t)),
    // A tied copy under the other name must at least fit, though it is not read.
    optional: T5_EMBEDDING_NAMES.filter((n) => n !== embedding).map((name) => ({
      name,
      shape: [c.vocabSize, c.dModel],
    })),
    alternatives: { [embedding]: T5_EMBEDDING_NAMES.filter((n) => n !== embedding) },
    strayHint: 'not a T5 v1.1 encoder with this config?',
  });
  return embedding;
}
