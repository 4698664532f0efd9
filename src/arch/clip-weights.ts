/**
 * @module arch/clip-weights
 * Checks a text encoder checkpoint (HF CLIPTextModel names) against the layer table before anything
 * is built, so a wrong file fails at once with the tensor's name.
 */
import { errors } from '../errors.js';
import type { WeightSource } from '../weights/checkpoint.js';
import type { ClipTextConfig } from './clip-config.js';
import { CLIP_IGNORED_TENSORS, clipTensors } from './clip-layers.js';

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** @throws FluxServeError FLUX_ERR_WEIGHTS listing missing, mis-shaped, non-float and unexpected tensors */
export function checkClipWeights(c: ClipTextConfig, weights: WeightSource): void {
  const expected = clipTensors(c);
  const known = new Set([...expected.map((t) => t.name), ...CLIP_IGNORED_TENSORS]);
  const problems: string[] = [];
  for (const t of expected) {
    if (!weights.has(t.name)) {
      problems.push(`missing ${t.name} [${t.shape}]`);
      continue;
    }
    const info = weights.info(t.name);
    if (info.shape.length !== t.shape.length || info.shape.some((d, i) => d !== t.shape[i])) {
      problems.push(`${t.name} has shape [${info.shape}], expected [${t.shape}]`);
    }
    if (!FLOAT_DTYPES.has(info.dtype))
      problems.push(`${t.name} has dtype ${info.dtype}, expected a float type`);
  }
  const extra = weights.names().filter((n) => !known.has(n));
  if (extra.length > 0) {
    problems.push(
      `${extra.length} unexpected tensor(s), e.g. ${extra.slice(0, 5).join(', ')} (not a CLIPTextModel checkpoint, or a prefix to strip?)`,
    );
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).join('; ');
    throw errors.WEIGHTS(
      `text encoder: ${problems.length} problem(s): ${shown}${problems.length > 10 ? '; …' : ''}`,
    );
  }
}
