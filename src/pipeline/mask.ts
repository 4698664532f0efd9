/**
 * @module pipeline/mask
 * The inpainting mask at latent resolution (flux.md §9 steps 2 and 4): white / 1 = repaint,
 * black / 0 = keep.
 */

import { requireInt, requireLength } from '../arguments.js';
import { LATENT_CHANNELS, latentSize } from './noise.js';
import { packLatents } from './packing.js';

/**
 * torch `interpolate(mode='nearest')` source index for output index `i` (UpSample.h
 * `nearest_neighbor_compute_source_index`): the scale in/out and the product are float32, then
 * floored. For in = 8·out it is exactly 8i — the top-left pixel of each 8x8 block.
 */
function nearestSource(i: number, inSize: number, outSize: number): number {
  const scale = Math.fround(inSize / outSize);
  return Math.min(Math.floor(Math.fround(i * scale)), inSize - 1);
}

/**
 * A grayscale mask [H, W] (0..255, row-major, already at the request size) → [h, w] of 0/1 at
 * the latent grid (h, w from `latentSize`: H/8, W/8 for multiples of 16). As diffusers: the mask
 * processor binarizes value/255 at 0.5 (so 128..255 → 1, 0..127 → 0), then `interpolate` to
 * (h, w) in its default nearest mode picks one pixel per latent cell; no blur, no averaging.
 *
 * @example
 * const m = latentMask(gray, 1024, 1024); // Float32Array(128 * 128) of 0 and 1
 */
export function latentMask(mask: Uint8Array, height: number, width: number): Float32Array {
  const size = latentSize(height, width);
  requireLength('mask', mask, height * width);
  const out = new Float32Array(size.height * size.width);
  for (let i = 0; i < size.height; i++) {
    const row = nearestSource(i, height, size.height) * width;
    for (let j = 0; j < size.width; j++) {
      const value = mask[row + nearestSource(j, width, size.width)] as number;
      out[i * size.width + j] = value / 255 >= 0.5 ? 1 : 0;
    }
  }
  return out;
}

/**
 * A latent mask [h, w] → the packed mask [batch, (h/2)(w/2), 64] that blends packed latents:
 * repeated to the 16 latent channels and every batch item, then packed like the latents, so
 * each token carries its own 2x2 cells (diffusers `prepare_mask_latents`).
 *
 * @example
 * const maskp = packMask(latentMask(gray, 1024, 1024), 1, 128, 128); // Float32Array(4096 * 64)
 */
export function packMask(mask: Float32Array, batch: number, height: number, width: number): Float32Array {
  requireInt('batch', batch, 1);
  requireLength('latent mask', mask, height * width);
  const plane = height * width;
  const repeated = new Float32Array(batch * LATENT_CHANNELS * plane);
  for (let k = 0; k < batch * LATENT_CHANNELS; k++) repeated.set(mask, k * plane);
  return packLatents(repeated, batch, LATENT_CHANNELS, height, width);
}
