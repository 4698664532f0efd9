/**
 * @module image/inpaint-composite
 * The pixel-space paste after inpainting. diffusers blends only in latent space (flux.md §9 step
 * 7), so kept areas come back through a VAE round trip: close to the input but not equal. The
 * contract promises that black mask areas are preserved, so every kept pixel is copied from the
 * input here, bit for bit.
 *
 * The edge is hard, with the same threshold as the latent mask (value ≥ 128 repaints, i.e.
 * value/255 ≥ 0.5; pipeline/mask): a feather on the keep side would alter kept pixels, and one on
 * the repaint side would ghost the replaced content back into the new one. The sampler already
 * denoised the repainted region against the kept latents, so the generated side continues the
 * kept content; any seam is the VAE's small colour error at the boundary.
 */
import { requireInt, requireLength } from '../arguments.js';

/** Mask values at or above this repaint; below it the input pixel is kept. */
export const REPAINT_THRESHOLD = 128;

/**
 * Returns a copy of `output` (HWC RGB) where every pixel whose `mask` value (H×W grayscale) is
 * below 128 is replaced by the `input` pixel at the same place. All three are at width×height.
 *
 * @throws FluxServeError FLUX_ERR_USAGE if a buffer does not match width×height
 *
 * @example
 * const final = compositeKept(generated, init.rgb, mask, 1024, 1024); // black-mask pixels === init pixels
 */
export function compositeKept(
  output: Uint8Array,
  input: Uint8Array,
  mask: Uint8Array,
  width: number,
  height: number,
): Uint8Array {
  requireInt('width', width, 1);
  requireInt('height', height, 1);
  const n = width * height;
  requireLength('generated image', output, 3 * n);
  requireLength('input image', input, 3 * n);
  requireLength('mask', mask, n);
  const out = output.slice();
  for (let p = 0, i = 0; p < n; p++, i += 3) {
    if ((mask[p] as number) < REPAINT_THRESHOLD) {
      out[i] = input[i] as number;
      out[i + 1] = input[i + 1] as number;
      out[i + 2] = input[i + 2] as number;
    }
  }
  return out;
}
