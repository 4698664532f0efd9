/**
 * vaeOutputToRgb: diffusers' x/2 + 0.5 → clamp → ×255 → round, in float32 with NumPy's
 * ties-to-even, and the planar [B,3,H,W] → per-image HWC layout.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeImage } from '../../src/image/encode.js';
import { vaeOutputToRgb } from '../../src/image/vae-output.js';

describe('vaeOutputToRgb', () => {
  it('applies x/2 + 0.5, clamps to [0, 1], scales by 255 and rounds', () => {
    // B=1, H=1, W=3; planes R [-1, 1, 0], G [2, -3, 0.5], B [0.004, -0.004, NaN].
    const [rgb] = vaeOutputToRgb(Float32Array.of(-1, 1, 0, 2, -3, 0.5, 0.004, -0.004, Number.NaN), 1, 1, 3);
    // 0 → 127.5 → 128 (even); 0.5 → 191.25 → 191; ±0.004 → 128.01 / 126.99 → 128 / 127; NaN → 0.
    expect(Array.from(rgb ?? [])).toEqual([0, 255, 128, 255, 0, 127, 128, 191, 0]);
  });

  it("rounds exact .5 products to even, as NumPy's round does (Math.round would go up)", () => {
    // float32 inputs whose float32 (x/2 + 0.5)·255 is exactly 64.5, 65.5 and 126.5 (NumPy → 64, 66, 126).
    const f = Math.fround;
    const tie = (k: number) => {
      const bits = new Float32Array(1);
      const int = new Int32Array(bits.buffer);
      for (let d = -3; d <= 3; d++) {
        bits[0] = (k + 0.5) / 255;
        int[0] = (int[0] as number) + d;
        const u = bits[0] as number;
        const x = f(2 * u - 1);
        if (f(u * 255) === k + 0.5 && f(x * 0.5 + 0.5) === u) return x;
      }
      throw new Error(`no float32 tie for ${k}.5`);
    };
    const xs = [tie(64), tie(65), tie(126)];
    const [rgb] = vaeOutputToRgb(Float32Array.of(xs[0] as number, xs[1] as number, xs[2] as number), 1, 1, 1);
    expect(Array.from(rgb ?? [])).toEqual([64, 66, 126]);
    expect(xs.map((x) => Math.round(f(f(x * 0.5 + 0.5) * 255)))).toEqual([65, 66, 127]);
  });

  it('agrees with the plain formula away from ties, over the whole range', () => {
    const n = 4096;
    const image = Float32Array.from({ length: 3 * n }, (_, i) => ((i * 7919) % 3001) / 1000 - 1.5);
    const [rgb] = vaeOutputToRgb(image, 1, 64, 64);
    let differ = 0;
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < n; p++) {
        const u = Math.min(1, Math.max(0, (image[c * n + p] as number) / 2 + 0.5)) * 255;
        if (Math.abs(u - Math.floor(u) - 0.5) < 1e-4) continue;
        if (rgb?.[p * 3 + c] !== Math.round(u)) differ++;
      }
    expect(differ).toBe(0);
  });

  it('splits the batch and interleaves planes into HWC', () => {
    // B=2, H=1, W=2: item 0 is red then green, item 1 blue then white.
    const image = Float32Array.of(1, -1, -1, 1, -1, -1, /* item 1 */ -1, 1, -1, 1, 1, 1);
    const images = vaeOutputToRgb(image, 2, 1, 2);
    expect(images.map((rgb) => Array.from(rgb))).toEqual([
      [255, 0, 0, 0, 255, 0],
      [0, 0, 255, 255, 255, 255],
    ]);
  });

  it('produces pixels sharp encodes as they are', async () => {
    const h = 16;
    const w = 32;
    const image = new Float32Array(3 * h * w);
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < h * w; p++) image[c * h * w + p] = ((p % w) / (w - 1)) * 2 - 1 - c * 0.25;
    const [rgb] = vaeOutputToRgb(image, 1, h, w);
    const png = await encodeImage(rgb as Uint8Array, w, h, 'png');
    const back = await sharp(png).raw().toBuffer();
    expect(back.equals(Buffer.from(rgb as Uint8Array))).toBe(true);
  });

  it('checks the shape', () => {
    expect(() => vaeOutputToRgb(new Float32Array(11), 1, 2, 2)).toThrow(
      /VAE output must have 12 elements, got 11/,
    );
    expect(() => vaeOutputToRgb(new Float32Array(0), 0, 2, 2)).toThrow(/batch must be an integer >= 1/);
  });
});
