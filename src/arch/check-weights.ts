/**
 * @module arch/check-weights
 * Checks a checkpoint against an architecture's layer table before anything is built, so a wrong
 * file fails at once with the tensors' names, not hours into a build.
 */
import { errors } from '../errors.js';
import type { WeightSource } from '../weights/checkpoint.js';
import type { ParamTensor } from './param-tensor.js';

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);
const SHOWN = 10;

export interface WeightExpectation {
  /** Names the component in the error ("text encoder", "VAE decoder"). */
  readonly component: string;
  /** Tensors that must be present, float, with these shapes. */
  readonly required: readonly ParamTensor[];
  /** Tensors that may be present (checked when they are): tied copies, the other half of a file. */
  readonly optional?: readonly ParamTensor[];
  /** Names accepted without any check (buffers such as CLIP's position_ids). */
  readonly ignored?: readonly string[];
  /** Other names a required tensor may be stored under, for the "missing" message. */
  readonly alternatives?: Readonly<Record<string, readonly string[]>>;
  /** Appended to the unexpected-tensor problem: what a stray tensor probably means. */
  readonly strayHint: string;
}

function shapeProblem(weights: WeightSource, t: ParamTensor): string[] {
  const info = weights.info(t.name);
  const problems: string[] = [];
  if (info.shape.length !== t.shape.length || info.shape.some((d, i) => d !== t.shape[i])) {
    problems.push(`${t.name} has shape [${info.shape}], expected [${t.shape}]`);
  }
  if (!FLOAT_DTYPES.has(info.dtype))
    problems.push(`${t.name} has dtype ${info.dtype}, expected a float type`);
  return problems;
}

/**
 * @throws FluxServeError FLUX_ERR_WEIGHTS listing missing, misshapen, non-float and unexpected tensors
 * @example checkWeights(weights, { component: 'transformer', required: fluxTensors(c), strayHint: 'wrong variant?' });
 */
export function checkWeights(weights: WeightSource, e: WeightExpectation): void {
  const problems: string[] = [];
  for (const t of e.required) {
    if (weights.has(t.name)) problems.push(...shapeProblem(weights, t));
    else problems.push(`missing ${[t.name, ...(e.alternatives?.[t.name] ?? [])].join(' or ')} [${t.shape}]`);
  }
  for (const t of e.optional ?? []) if (weights.has(t.name)) problems.push(...shapeProblem(weights, t));
  const known = new Set([...e.required, ...(e.optional ?? [])].map((t) => t.name).concat(e.ignored ?? []));
  const stray = weights.names().filter((n) => !known.has(n));
  if (stray.length > 0) {
    problems.push(
      `${stray.length} unexpected tensor(s), e.g. ${stray.slice(0, 5).join(', ')} (${e.strayHint})`,
    );
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, SHOWN).join('; ');
    throw errors.WEIGHTS(
      `${e.component}: ${problems.length} problem(s): ${shown}${problems.length > SHOWN ? '; …' : ''}`,
    );
  }
}
