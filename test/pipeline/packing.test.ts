import { describe, expect, it } from 'vitest';
import { imageIds, packLatents, textIds, unpackLatents } from '../../src/pipeline/packing.js';
import { expectFluxThrow } from '../weights/fixtures.js';

/** Distinct values that encode their own [b, ch, y, x] index. */
function indexed(batch: number, channels: number, height: number, width: number): Float32Array {
  const z = new Float32Array(batch * channels * height * width);
  for (let i = 0; i < z.length; i++) z[i] = i;
  return z;
}

describe('packLatents', () => {
  it('packs one 2x2 patch of one channel in row-major order', () => {
    expect(packLatents(new Float32Array([1, 2, 3, 4]), 1, 1, 2, 2)).toEqual(new Float32Array([1, 2, 3, 4]));
  });

  it('puts z[b, ch, 2r+dy, 2c+dx] at [b, r·(w/2)+c, ch·4+dy·2+dx]', () => {
    const [B, C, h, w] = [2, 16, 4, 6];
    const z = indexed(B, C, h, w);
    const x = packLatents(z, B, C, h, w);
    const L = (h / 2) * (w / 2);
    expect(x.length).toBe(B * L * 4 * C);
    for (let b = 0; b < B; b++) {
      for (let r = 0; r < h / 2; r++) {
        for (let c = 0; c < w / 2; c++) {
          for (let ch = 0; ch < C; ch++) {
            for (let dy = 0; dy < 2; dy++) {
              for (let dx = 0; dx < 2; dx++) {
                const packed = (b * L + r * (w / 2) + c) * 4 * C + ch * 4 + dy * 2 + dx;
                const unpacked = ((b * C + ch) * h + 2 * r + dy) * w + 2 * c + dx;
                expect(x[packed]).toBe(z[unpacked]);
              }
            }
          }
        }
      }
    }
  });

  it('is undone exactly by unpackLatents', () => {
    const z = new Float32Array(3 * 16 * 8 * 10).map((_, i) => Math.sin(i) * 1e3);
    const x = packLatents(z, 3, 16, 8, 10);
    expect(x).not.toEqual(z);
    expect(unpackLatents(x, 3, 16, 8, 10)).toEqual(z);
    expect(packLatents(unpackLatents(x, 3, 16, 8, 10), 3, 16, 8, 10)).toEqual(x);
  });

  it('rejects odd grids and wrong lengths', () => {
    const U = 'FLUX_ERR_USAGE';
    expectFluxThrow(() => packLatents(new Float32Array(16 * 3 * 4), 1, 16, 3, 4), U, /must be even/);
    expectFluxThrow(() => packLatents(new Float32Array(10), 1, 16, 2, 2), U, /latents must have 64 elements/);
    expectFluxThrow(() => unpackLatents(new Float32Array(10), 1, 16, 2, 2), U, /packed latents/);
    expectFluxThrow(() => packLatents(new Float32Array(0), 0, 16, 2, 2), U, /batch/);
  });
});

describe('ids', () => {
  it('gives image tokens (0, row, col) in row-major order', () => {
    expect(imageIds(2, 3)).toEqual(new Float32Array([0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 1, 0, 1, 2]));
    const ids = imageIds(64, 48);
    expect(ids.length).toBe(64 * 48 * 3);
    const p = 37 * 48 + 11;
    expect(Array.from(ids.subarray(p * 3, p * 3 + 3))).toEqual([0, 37, 11]);
    expect(Array.from(ids.subarray(-3))).toEqual([0, 63, 47]);
  });

  it('gives text tokens all-zero ids', () => {
    const ids = textIds(256);
    expect(ids.length).toBe(768);
    expect(ids.every((v) => v === 0)).toBe(true);
  });

  it('rejects empty grids', () => {
    expectFluxThrow(() => imageIds(0, 4), 'FLUX_ERR_USAGE', /rows/);
    expectFluxThrow(() => textIds(0), 'FLUX_ERR_USAGE', /text tokens/);
  });
});
