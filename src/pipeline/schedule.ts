/**
 * @module pipeline/schedule
 * The flow-matching sigma schedule for N Euler steps (flux.md §5.1, pseudocode §5.6): sigma_i =
 * 1 - i/N for i < N, then a terminal 0; [dev] additionally warps it with a time shift whose
 * strength mu grows linearly with the image token count. schnell uses no shift.
 *
 * Values are float64. diffusers' scheduler (FlowMatchEulerDiscreteScheduler) and BFL's
 * `get_schedule` hold them in float32, i.e. within 6e-8 of these; round when comparing bits.
 */

import { requireFinite, requireInt } from '../arguments.js';
import { errors } from '../errors.js';

/** How the base schedule is warped: not at all (schnell), or dev's resolution-dependent shift. */
export type SigmaShift =
  | { readonly shift: 'none' }
  | {
      readonly shift: 'dynamic';
      /** Packed image tokens, (H/16)·(W/16) — diffusers' `image_seq_len`. */
      readonly imageTokens: number;
      /** mu at `baseSeqLen` tokens (HF scheduler config `base_shift`); default 0.5. */
      readonly baseShift?: number;
      /** mu at `maxSeqLen` tokens (`max_shift`); default 1.15. */
      readonly maxShift?: number;
      /** `base_image_seq_len`; default 256. */
      readonly baseSeqLen?: number;
      /** `max_image_seq_len`; default 4096. */
      readonly maxSeqLen?: number;
    };

/**
 * dev's shift strength: the line through (baseSeqLen, baseShift) and (maxSeqLen, maxShift) at
 * `imageTokens`, NOT clamped (diffusers `calculate_shift`, BFL `get_lin_function`): 512² → 0.63,
 * 1024² → 1.15, 1440² → 1.82776.
 *
 * @example
 * dynamicShiftMu({ shift: 'dynamic', imageTokens: 4096 }); // 1.15
 */
export function dynamicShiftMu(opts: Extract<SigmaShift, { shift: 'dynamic' }>): number {
  requireInt('imageTokens', opts.imageTokens, 1);
  const baseShift = requireFinite('baseShift', opts.baseShift ?? 0.5);
  const maxShift = requireFinite('maxShift', opts.maxShift ?? 1.15);
  const baseSeqLen = requireFinite('baseSeqLen', opts.baseSeqLen ?? 256);
  const maxSeqLen = requireFinite('maxSeqLen', opts.maxSeqLen ?? 4096);
  if (maxSeqLen === baseSeqLen) throw errors.USAGE('maxSeqLen must differ from baseSeqLen');
  const slope = (maxShift - baseShift) / (maxSeqLen - baseSeqLen);
  return baseShift + slope * (opts.imageTokens - baseSeqLen);
}

/**
 * The N + 1 sigmas of an N-step run, from 1 down to a terminal 0. With a dynamic shift each
 * sigma s becomes e^mu / (e^mu + (1/s - 1)) (time_shift with exponent 1; s = 0 stays 0).
 * The model sees sigma_i (×1000 inside) at step i; the Euler step goes sigma_i → sigma_{i+1}.
 *
 * @example
 * sigmas(4, { shift: 'none' }); // [1, 0.75, 0.5, 0.25, 0]
 * sigmas(28, { shift: 'dynamic', imageTokens: 4096 }); // [1, 0.988409, …, 0.104721, 0]
 */
export function sigmas(steps: number, opts: SigmaShift): Float64Array {
  requireInt('steps', steps, 1);
  const out = new Float64Array(steps + 1); // out[steps] = 0, the terminal sigma
  const shift = opts.shift === 'dynamic' ? Math.exp(dynamicShiftMu(opts)) : 1;
  for (let i = 0; i < steps; i++) {
    const s = 1 - i / steps;
    out[i] = shift === 1 ? s : shift / (shift + (1 / s - 1));
  }
  return out;
}
