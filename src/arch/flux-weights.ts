/**
 * @module arch/flux-weights
 * Checks a checkpoint (seen through BFL names) against the layer table before anything is built,
 * so a wrong file fails in a second with the tensor's name, not hours into a build.
 */
import { errors } from '../errors.js';
import type { WeightSource } from '../weights/checkpoint.js';
import type { FluxConfig } from './flux-config.js';
import { fluxTensors } from './flux-layers.js';

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

export function checkFluxWeights(c: FluxConfig, weights: WeightSource): void {
  const expected = fluxTensors(c);
  const wanted = new Set(expected.map((t) => t.name));
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
  const extra = weights.names().filter((n) => !wanted.has(n));
  if (extra.length > 0) {
    problems.push(
      `${extra.length} unexpected tensor(s), e.g. ${extra.slice(0, 5).join(', ')} (wrong variant or config?)`,
    );
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).join('; ');
    throw errors.WEIGHTS(`${problems.length} problem(s): ${shown}${problems.length > 10 ? '; …' : ''}`);
  }
}
