/**
 * @module pipeline/packing
 * 2x2 patch packing of VAE latents into transformer tokens and back (flux.md §4), and the position
 * ids of text and image tokens (flux.md §3.4).
 */

import { requireInt, requireLength } from '../arguments.js';
import { errors } from '../errors.js';

function checkGrid(batch: number, channels: number, height: number, width: number): void {
  requireInt('batch', batch, 1);
  requireInt('channels', channels, 1);
  requireInt('height', height, 2);
  requireInt('width', width, 2);
  // 2x2 patches must tile the grid; latentSize() always gives even sizes.
  if (height % 2 !== 0 || width % 2 !== 0) {
    throw errors.USAGE(`latent height and width must be even, got ${height}x${width}`);
  }
}

/**
 * z [B, C, h, w] → [B, (h/2)(w/2), 4C]: token p = r·(w/2) + c (row-major), and inside a token
 * channel ch·4 + dy·2 + dx holds z[b, ch, 2r+dy, 2c+dx] — diffusers `_pack_latents`, BFL
 * `rearrange("b c (h ph) (w pw) -> b (h w) (c ph pw)")`. FLUX uses C = 16, so tokens have 64.
 *
 * @example
 * const x = packLatents(noise, 1, 16, 128, 128); // Float32Array(1 * 4096 * 64)
 */
export function packLatents(
  z: Float32Array,
  batch: number,
  channels: number,
  height: number,
  width: number,
): Float32Array {
  checkGrid(batch, channels, height, width);
  requireLength('latents', z, batch * channels * height * width);
  const out = new Float32Array(z.length);
  const h2 = height / 2;
  const w2 = width / 2;
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < h2; r++) {
      for (let c = 0; c < w2; c++) {
        for (let ch = 0; ch < channels; ch++) {
          const plane = (b * channels + ch) * height;
          const top = (plane + 2 * r) * width + 2 * c;
          out[o++] = z[top] as number;
          out[o++] = z[top + 1] as number;
          out[o++] = z[top + width] as number;
          out[o++] = z[top + width + 1] as number;
        }
      }
    }
  }
  return out;
}

/**
 * The exact inverse of `packLatents`: [B, (h/2)(w/2), 4C] → [B, C, h, w] (diffusers
 * `_unpack_latents`), with h, w the unpacked latent size.
 *
 * @example
 * const z = unpackLatents(x, 1, 16, 128, 128); // ready for the VAE decoder
 */
export function unpackLatents(
  packed: Float32Array,
  batch: number,
  channels: number,
  height: number,
  width: number,
): Float32Array {
  checkGrid(batch, channels, height, width);
  requireLength('packed latents', packed, batch * channels * height * width);
  const out = new Float32Array(packed.length);
  const h2 = height / 2;
  const w2 = width / 2;
  let i = 0;
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < h2; r++) {
      for (let c = 0; c < w2; c++) {
        for (let ch = 0; ch < channels; ch++) {
          const plane = (b * channels + ch) * height;
          const top = (plane + 2 * r) * width + 2 * c;
          out[top] = packed[i++] as number;
          out[top + 1] = packed[i++] as number;
          out[top + width] = packed[i++] as number;
          out[top + width + 1] = packed[i++] as number;
        }
      }
    }
  }
  return out;
}

/**
 * Image-token ids [h2·w2, 3] for a packed grid of h2 rows and w2 columns: token p = r·w2 + c gets
 * (0, r, c) — axis 0 is 0 for text-to-image, axis 1 the row, axis 2 the column (flux.md §3.4).
 * Shared by the whole batch (diffusers passes 2-D ids).
 *
 * @example
 * imageIds(64, 64); // Float32Array(4096 * 3): [0,0,0, 0,0,1, …, 0,63,63]
 */
export function imageIds(h2: number, w2: number): Float32Array {
  requireInt('rows', h2, 1);
  requireInt('columns', w2, 1);
  const ids = new Float32Array(h2 * w2 * 3);
  for (let r = 0; r < h2; r++) {
    for (let c = 0; c < w2; c++) {
      const p = (r * w2 + c) * 3;
      ids[p + 1] = r;
      ids[p + 2] = c;
    }
  }
  return ids;
}

/**
 * Text-token ids [T, 3]: all zero, so RoPE leaves text tokens unrotated (flux.md §3.4).
 *
 * @example
 * textIds(256); // Float32Array(768), zeros
 */
export function textIds(tokens: number): Float32Array {
  requireInt('text tokens', tokens, 1);
  return new Float32Array(tokens * 3);
}
