/**
 * @module arch/clip-weights
 * A text encoder checkpoint (HF CLIPTextModel names) against the layer table.
 */
import type { WeightSource } from '../weights/checkpoint.js';
import { checkWeights } from './check-weights.js';
import type { ClipTextConfig } from './clip-config.js';
import { CLIP_IGNORED_TENSORS, clipTensors } from './clip-layers.js';

/** @throws FluxServeError FLUX_ERR_WEIGHTS listing missing, mis-shaped, non-float and unexpected tensors */
export function checkClipWeights(c: ClipTextConfig, weights: WeightSource): void {
  checkWeights(weights, {
    component: 'text encoder',
    required: clipTensors(c),
    ignored: CLIP_IGNORED_TENSORS,
    strayHint: 'not a CLIPTextModel checkpoint, or a prefix to strip?',
  });
}
