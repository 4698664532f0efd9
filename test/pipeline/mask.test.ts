import { describe, expect, it } from 'vitest';
import { latentMask, packMask } from '../../src/pipeline/mask.js';
import { packLatents } from '../../src/pipeline/packing.js';
import { expectFluxThrow } from '../weights/fixtures.js';

/** A mask whose 8x8 blocks have `corner(i, j)` at the top-left pixel and 255 - it elsewhere. */
function blockMask(height: number, width: number, corner: (i: number, j: number) => number): Uint8Array {
  const m = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = corner(Math.floor(y / 8), Math.floor(x / 8));
      m[y * width + x] = y % 8 === 0 && x % 8 === 0 ? c : 255 - c;
    }
  }
  return m;
}

describe('latentMask', () => {
  it('takes the top-left pixel of each 8x8 block', () => {
    const corner = (i: number, j: number) => ((i * 5 + j) % 3 === 0 ? 255 : 0);
    const m = latentMask(blockMask(32, 48, corner), 32, 48);
    expect(m.length).toBe(4 * 6);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 6; j++) expect(m[i * 6 + j]).toBe(corner(i, j) === 255 ? 1 : 0);
    }
  });

  it('binarizes value/255 at 0.5: 127 keeps, 128 repaints', () => {
    const at = (v: number) => latentMask(new Uint8Array(16 * 16).fill(v), 16, 16);
    expect(at(0)).toEqual(new Float32Array(4));
    expect(at(127)).toEqual(new Float32Array(4));
    expect(at(128)).toEqual(new Float32Array(4).fill(1));
    expect(at(255)).toEqual(new Float32Array(4).fill(1));
  });

  it('samples like torch nearest when the size is not a multiple of 16', () => {
    // 40 px -> 2·floor(40/16) = 4 latent rows at scale 10: source rows 0, 10, 20, 30.
    const m = new Uint8Array(40 * 16);
    for (const y of [0, 20]) m.fill(255, y * 16, y * 16 + 16);
    for (const y of [1, 9, 11, 29, 31, 39]) m.fill(255, y * 16, y * 16 + 16); // never sampled rows
    expect(latentMask(m, 40, 16)).toEqual(new Float32Array([1, 1, 0, 0, 1, 1, 0, 0]));
  });

  it('rejects a mask of the wrong size', () => {
    expectFluxThrow(() => latentMask(new Uint8Array(10), 16, 16), 'FLUX_ERR_USAGE', /mask must have 256/);
  });
});

describe('packMask', () => {
  it('gives each token 16 copies of its 2x2 cells, for every batch item', () => {
    const [h, w] = [4, 6];
    const m = new Float32Array(h * w).map((_, i) => ((i * 7) % 3 === 0 ? 1 : 0));
    const p = packMask(m, 2, h, w);
    const L = (h / 2) * (w / 2);
    expect(p.length).toBe(2 * L * 64);
    for (let b = 0; b < 2; b++) {
      for (let r = 0; r < h / 2; r++) {
        for (let c = 0; c < w / 2; c++) {
          const cells = [
            m[2 * r * w + 2 * c],
            m[2 * r * w + 2 * c + 1],
            m[(2 * r + 1) * w + 2 * c],
            m[(2 * r + 1) * w + 2 * c + 1],
          ];
          const token = (b * L + r * (w / 2) + c) * 64;
          for (let ch = 0; ch < 16; ch++) {
            expect(Array.from(p.subarray(token + ch * 4, token + ch * 4 + 4))).toEqual(cells);
          }
        }
      }
    }
  });

  it('equals packing the mask repeated over batch and channels', () => {
    const m = new Float32Array(8 * 8).map((_, i) => i % 2);
    const repeated = new Float32Array(16 * 64);
    for (let ch = 0; ch < 16; ch++) repeated.set(m, ch * 64);
    expect(packMask(m, 1, 8, 8)).toEqual(packLatents(repeated, 1, 16, 8, 8));
  });

  it('rejects a latent mask of the wrong size', () => {
    expectFluxThrow(() => packMask(new Float32Array(5), 1, 2, 2), 'FLUX_ERR_USAGE', /latent mask/);
  });
});
