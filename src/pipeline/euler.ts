/**
 * @module pipeline/euler
 * One flow-matching Euler step and the inpainting re-blend that follows it (flux.md §5, §5.6,
 * §9 step 6). Both work in place on packed latents and round like torch's float32 ops: each
 * tensor operation of the reference (a product, a sum) is rounded to float32 on its own.
 */
import { requireFinite, requireLength } from '../arguments.js';

/**
 * x ← x + (σ_next − σ)·v, in place (dt < 0: sigma falls toward 0). As diffusers'
 * FlowMatchEulerDiscreteScheduler.step in float32 (§5.5): dt = float32(σ_next) − float32(σ)
 * rounded to float32 (the scheduler keeps sigmas as float32), then the product and the sum each
 * rounded to float32.
 *
 * @example
 * eulerStep(x, v, sig[i], sig[i + 1]);
 */
export function eulerStep(x: Float32Array, v: Float32Array, sigma: number, sigmaNext: number): void {
  requireLength('velocity', v, x.length);
  const f = Math.fround;
  const dt = f(f(requireFinite('sigmaNext', sigmaNext)) - f(requireFinite('sigma', sigma)));
  for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) + f(dt * (v[i] as number));
}

/**
 * The inpainting step after each Euler update (diffusers FluxInpaintPipeline, §9 step 6), in
 * place on x: the kept region (mask 0) is reset to the clean latents z0 re-noised to the sigma
 * the latents now sit at, with the SAME initial noise — ref = σ_next·noise + (1 − σ_next)·z0
 * (`scale_noise`) — or to z0 itself after the last step; x ← (1 − mask)·ref + mask·x.
 * All arrays are packed [B, L, 64]; `mask` comes from `packMask`.
 *
 * @example
 * eulerStep(x, v, sig[i], sig[i + 1]);
 * inpaintBlend(x, noisep, z0p, maskp, sig[i + 1], i === sig.length - 2);
 */
export function inpaintBlend(
  x: Float32Array,
  noise: Float32Array,
  z0: Float32Array,
  mask: Float32Array,
  sigmaNext: number,
  isLast: boolean,
): void {
  requireLength('noise', noise, x.length);
  requireLength('clean latents', z0, x.length);
  requireLength('mask', mask, x.length);
  const f = Math.fround;
  const s = f(requireFinite('sigmaNext', sigmaNext));
  const keep = f(1 - s);
  for (let i = 0; i < x.length; i++) {
    const clean = z0[i] as number;
    const ref = isLast ? clean : f(f(s * (noise[i] as number)) + f(keep * clean));
    const m = mask[i] as number;
    x[i] = f(f(1 - m) * ref) + f(m * (x[i] as number));
  }
}
