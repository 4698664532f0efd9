/**
 * compositeKept on real decoded images and masks: every black-mask pixel comes back identical to
 * the input, every white-mask pixel keeps the generated one, through encoding too.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeMask, decodeRgb } from '../../src/image/decode.js';
import { encodeImage } from '../../src/image/encode.js';
import { compositeKept, REPAINT_THRESHOLD } from '../../src/image/inpaint-composite.js';
import { fromRaw, pattern, patternPng } from './fixtures.js';

const W = 64;
const H = 48;

describe('compositeKept', () => {
  it('keeps black-mask pixels identical to the input and white-mask pixels as generated', async () => {
    // A JPEG photo-like input (so decoding is lossy and resampled), decoded at a size it must be
    // cropped to; a mask with a black left part, a grey ramp and a white right part.
    const photo = await fromRaw(96, 96, 3, pattern).jpeg({ quality: 80 }).toBuffer();
    const input = (await decodeRgb(photo, W, H)).rgb;
    const maskPng = await fromRaw(W, H, 1, (x) => [x < 16 ? 0 : x < 48 ? (x - 16) * 8 : 255])
      .png()
      .toBuffer();
    const mask = await decodeMask(maskPng, W, H);
    const generated = (await decodeRgb(await patternPng(W, H), W, H)).rgb.map((v) => 255 - v);
    const inputCopy = input.slice();
    const generatedCopy = generated.slice();

    const out = compositeKept(generated, input, mask, W, H);

    let kept = 0;
    for (let p = 0; p < W * H; p++) {
      const source = (mask[p] as number) < 128 ? input : generated;
      if (source === input) kept++;
      expect(Array.from(out.subarray(p * 3, p * 3 + 3))).toEqual(
        Array.from(source.subarray(p * 3, p * 3 + 3)),
      );
    }
    expect(kept).toBe(32 * H); // x < 16 (black) and the ramp below 128 (x < 32)
    expect(input).toEqual(inputCopy); // inputs are not modified
    expect(generated).toEqual(generatedCopy);

    // Lossless output keeps the kept pixels exact end to end.
    const back = await sharp(await encodeImage(out, W, H, 'png'))
      .raw()
      .toBuffer();
    for (let y = 0; y < H; y++)
      for (let x = 0; x < 16; x++) {
        const i = (y * W + x) * 3;
        expect(Array.from(back.subarray(i, i + 3))).toEqual(Array.from(input.subarray(i, i + 3)));
      }
  });

  it('binarizes at 128, like the latent mask (value/255 >= 0.5 repaints)', () => {
    expect(REPAINT_THRESHOLD).toBe(128);
    const out = Uint8Array.of(1, 1, 1, 2, 2, 2, 3, 3, 3);
    const input = Uint8Array.of(9, 8, 7, 6, 5, 4, 3, 2, 1);
    expect(Array.from(compositeKept(out, input, Uint8Array.of(0, 127, 128), 3, 1))).toEqual([
      9, 8, 7, 6, 5, 4, 3, 3, 3,
    ]);
  });

  it('checks the buffer sizes', () => {
    const rgb = new Uint8Array(12);
    expect(() => compositeKept(rgb, rgb, new Uint8Array(3), 2, 2)).toThrow(
      /mask must have 4 elements, got 3/,
    );
    expect(() => compositeKept(rgb, new Uint8Array(9), new Uint8Array(4), 2, 2)).toThrow(
      /input image must have 12 elements, got 9/,
    );
  });
});
