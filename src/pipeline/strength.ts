/**
 * @module pipeline/strength
 * img2img/inpaint strength → the step the sampler starts at (flux.md §8 step 3, §5.6).
 */

import { requireInt } from '../arguments.js';
import { errors } from '../errors.js';

/**
 * Index of the first of N steps to run for `strength` in [0, 1], with diffusers' arithmetic:
 * `t_start = int(max(N - min(N * strength, N), 0))` — a float product, then truncation, so
 * N=4, s=0.6 → 1 (sigmas 0.75, 0.5, 0.25); N=4, s=0.95 → int(0.2) = 0 (pure noise, the input
 * image is ignored); N=28, s=0.6 → 11; N=25, s=0.56 → 10, not 11 (25·0.56 is
 * 14.000000000000002 in binary floating point, in Python as here).
 * The run then takes steps t_start..N-1, starting from sigma[t_start].
 *
 * Where diffusers raises because no step would remain (t_start = N: strength 0, or so small
 * that N - N·strength rounds to N) this clamps to N - 1, so at least the last step runs.
 *
 * @example
 * img2imgStart(28, 0.6); // 11: 17 steps from sigma[11]
 */
export function img2imgStart(steps: number, strength: number): number {
  requireInt('steps', steps, 1);
  // diffusers check_inputs: "The value of strength should in [0.0, 1.0]".
  if (!(strength >= 0 && strength <= 1)) throw errors.USAGE(`strength must be in [0, 1], got ${strength}`);
  const init = Math.min(steps * strength, steps);
  const start = Math.trunc(Math.max(steps - init, 0));
  return Math.min(start, steps - 1);
}
