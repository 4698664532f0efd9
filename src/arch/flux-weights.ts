/**
 * @module arch/flux-weights
 * The transformer checkpoint (seen through BFL names) against the layer table.
 */
import type { WeightSource } from '../weights/checkpoint.js';
import { checkWeights } from './check-weights.js';
import type { FluxConfig } from './flux-config.js';
import { fluxTensors } from './flux-layers.js';

export function checkFluxWeights(c: FluxConfig, weights: WeightSource): void {
  checkWeights(weights, {
    component: 'transformer',
    required: fluxTensors(c),
    strayHint: 'wrong variant or config?',
  });
}
