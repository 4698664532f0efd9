/**
 * @module image/vae-output
 * Raw VAE decoder output to 8-bit RGB with diffusers' rule (flux.md §7.4): x/2 + 0.5, clamped to
 * [0, 1], ×255, rounded (not BFL's clamp-and-truncate). Done in JS because sharp reads float raw
 * input as zeros (dependencies.md §4); one pass over the planes, no intermediate arrays.
 */
import { requireInt, requireLength } from '../arguments.js';

/**
 * [B, 3, H, W] float32 (planar, ≈[-1, 1], unclamped) → one HWC RGB `Uint8Array` per batch item.
 * Each value follows diffusers' float32 arithmetic step by step — `fround(x/2 + 0.5)`, clamp,
 * `fround(·×255)`, then NumPy's `round` (ties to even), so results match diffusers bit for bit;
 * `Math.round` would round the rare exact .5 products up instead. NaN becomes 0.
 *
 * @example
 * const images = vaeOutputToRgb(decoded, 2, 1024, 1024); // [Uint8Array(1024 * 1024 * 3), Uint8Array(…)]
 */
export function vaeOutputToRgb(
  image: Float32Array,
  batch: number,
  height: number,
  width: number,
): Uint8Array[] {
  requireInt('batch', batch, 1);
  requireInt('height', height, 1);
  requireInt('width', width, 1);
  requireLength('VAE output', image, batch * 3 * height * width);
  const plane = height * width;
  const out: Uint8Array[] = [];
  for (let b = 0; b < batch; b++) {
    // Uint8ClampedArray stores with clamping and round-half-to-even, exactly NumPy's .round() then
    // uint8 for values in range; NaN stores as 0. One typed-array write replaces the branches.
    const rgb = new Uint8ClampedArray(3 * plane);
    for (let c = 0; c < 3; c++) {
      const src = (b * 3 + c) * plane;
      for (let p = 0, o = c; p < plane; p++, o += 3) {
        // x/2 + 0.5 and ·255 each rounded to float32 once, as diffusers computes them in float32.
        rgb[o] = Math.fround(Math.fround((image[src + p] as number) * 0.5 + 0.5) * 255);
      }
    }
    out.push(new Uint8Array(rgb.buffer));
  }
  return out;
}
