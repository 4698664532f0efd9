/**
 * decodeRgb / decodeMask / rgbToVaeInput on real images encoded by sharp: the format allow-list,
 * the pixel limit (checked from the header), EXIF orientation, alpha, the cover-crop rule and the
 * exact pixel values that reach the VAE.
 */
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeMask, decodeRgb, MAX_INPUT_PIXELS, rgbToVaeInput } from '../../src/image/decode.js';
import { sniffImageFormat } from '../../src/image/sniff.js';
import { fromRaw, pattern, patternPng, pixelAt, rawPixels } from './fixtures.js';

/** A real PNG whose IHDR is rewritten to claim width×height (CRC fixed), with 1×1 pixel data. */
async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(
    await fromRaw(1, 1, 3, () => [0, 0, 0])
      .png()
      .toBuffer(),
  );
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

/** Three vertical bands: left quarter red, middle half green, right quarter blue. */
const bands = (w: number) => (x: number) =>
  x < w / 4 ? [255, 0, 0] : x < (3 * w) / 4 ? [0, 255, 0] : [0, 0, 255];

describe('sniffImageFormat', () => {
  it('identifies PNG, JPEG and WebP from their bytes and names some others', async () => {
    const img = fromRaw(4, 4, 3, pattern);
    expect(sniffImageFormat(await img.clone().png().toBuffer())).toEqual({ supported: true, format: 'png' });
    expect(sniffImageFormat(await img.clone().jpeg().toBuffer())).toEqual({
      supported: true,
      format: 'jpeg',
    });
    expect(sniffImageFormat(await img.clone().webp().toBuffer())).toEqual({
      supported: true,
      format: 'webp',
    });
    expect(sniffImageFormat(await img.clone().gif().toBuffer())).toEqual({ supported: false, name: 'GIF' });
    expect(sniffImageFormat(await img.clone().tiff().toBuffer())).toEqual({ supported: false, name: 'TIFF' });
    expect(sniffImageFormat(await img.clone().avif().toBuffer())).toEqual({ supported: false, name: 'AVIF' });
    expect(sniffImageFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toEqual({
      supported: false,
      name: 'SVG/XML/HTML',
    });
    expect(sniffImageFormat(Buffer.alloc(0))).toEqual({ supported: false, name: 'unknown' });
  });
});

describe('decodeRgb', () => {
  it('refuses formats other than PNG, JPEG and WebP, naming the field and the allowed formats', async () => {
    const gif = await fromRaw(4, 4, 3, pattern).gif().toBuffer();
    await expect(decodeRgb(gif, 16, 16)).rejects.toThrow(
      /^image: unsupported image format \(GIF\); allowed formats are PNG, JPEG and WebP$/,
    );
    await expect(decodeMask(Buffer.from('hello world'), 16, 16)).rejects.toMatchObject({
      statusCode: 400,
      message: 'mask_image: unsupported image format (unknown); allowed formats are PNG, JPEG and WebP',
    });
  });

  it('refuses images above the pixel limit from the header, before decoding', async () => {
    // 60000×60000 claimed, 1×1 actually stored: only the header check can refuse it this way.
    await expect(decodeRgb(await pngClaiming(60_000, 60_000), 64, 64)).rejects.toThrow(
      /^image: the image is 60000×60000 \(3600\.0 MP\), above the limit of 40\.0 MP$/,
    );
    expect(MAX_INPUT_PIXELS).toBe(40_000_000);
    const real = await fromRaw(200, 100, 3, pattern).png().toBuffer();
    await expect(decodeRgb(real, 16, 16, { maxPixels: 19_999 })).rejects.toThrow(/200×100 \(0\.0 MP\)/);
    await expect(decodeRgb(real, 16, 16, { maxPixels: 20_000 })).resolves.toMatchObject({ width: 16 });
  });

  it('refuses corrupt and truncated data with a 400', async () => {
    const png = await patternPng(64, 64);
    await expect(decodeRgb(Buffer.concat([png.subarray(0, 8), Buffer.alloc(40)]), 8, 8)).rejects.toThrow(
      /^image: cannot decode the PNG image/,
    );
    const jpeg = await fromRaw(256, 256, 3, pattern).jpeg().toBuffer();
    await expect(decodeRgb(jpeg.subarray(0, jpeg.length >> 1), 64, 64)).rejects.toMatchObject({
      statusCode: 400,
      message: expect.stringMatching(/^image: cannot decode the JPEG image/),
    });
  });

  it('returns the pixels unchanged when the image is already at the target size', async () => {
    const { rgb, width, height } = await decodeRgb(await patternPng(40, 24), 40, 24);
    expect([width, height, rgb.length]).toEqual([40, 24, 40 * 24 * 3]);
    expect(Buffer.from(rgb).equals(rawPixels(40, 24, 3, pattern))).toBe(true);
  });

  it('decodes JPEG and WebP too', async () => {
    const flat = fromRaw(32, 32, 3, () => [200, 100, 50]);
    for (const bytes of [
      await flat.clone().jpeg({ quality: 95 }).toBuffer(),
      await flat.clone().webp({ quality: 95 }).toBuffer(),
    ]) {
      const { rgb } = await decodeRgb(bytes, 16, 16);
      for (const [i, v] of [200, 100, 50].entries())
        expect(Math.abs((rgb[i] as number) - v)).toBeLessThanOrEqual(3);
    }
  });

  it('covers and center-crops by default: a wide image keeps its middle, undistorted', async () => {
    const png = await fromRaw(64, 16, 3, bands(64)).png().toBuffer();
    const { rgb } = await decodeRgb(png, 16, 16);
    // The 16×16 crop is the middle of the green band: no red or blue survives anywhere.
    for (let p = 0; p < 16 * 16; p++) expect(pixelAt(rgb, 16, p % 16, p >> 4)).toEqual([0, 255, 0]);
  });

  it('covers a tall image by cropping top and bottom', async () => {
    // 16×64: top quarter red, middle green, bottom quarter blue.
    const png = await fromRaw(16, 64, 3, (_x, y) => bands(64)(y))
      .png()
      .toBuffer();
    const { rgb } = await decodeRgb(png, 32, 32);
    expect(pixelAt(rgb, 32, 0, 0)).toEqual([0, 255, 0]);
    expect(pixelAt(rgb, 32, 31, 31)).toEqual([0, 255, 0]);
  });

  it("stretches with fit 'fill' (diffusers' resize)", async () => {
    const png = await fromRaw(64, 16, 3, bands(64)).png().toBuffer();
    const { rgb } = await decodeRgb(png, 16, 16, { fit: 'fill' });
    expect(pixelAt(rgb, 16, 0, 8)).toEqual([255, 0, 0]);
    expect(pixelAt(rgb, 16, 8, 8)).toEqual([0, 255, 0]);
    expect(pixelAt(rgb, 16, 15, 8)).toEqual([0, 0, 255]);
  });

  it('honours EXIF orientation', async () => {
    // Stored 32×16, left red / right blue, orientation 6 (display rotated 90° clockwise): shown
    // 16×32 with red on top.
    const jpeg = await fromRaw(32, 16, 3, (x) => (x < 16 ? [255, 0, 0] : [0, 0, 255]))
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const { rgb } = await decodeRgb(jpeg, 16, 32);
    const top = pixelAt(rgb, 16, 8, 2);
    const bottom = pixelAt(rgb, 16, 8, 29);
    expect(top[0]).toBeGreaterThan(200);
    expect(top[2]).toBeLessThan(50);
    expect(bottom[2]).toBeGreaterThan(200);
    expect(bottom[0]).toBeLessThan(50);
  });

  it('flattens alpha onto white', async () => {
    // Left half fully transparent black, right half 50% opaque black.
    const png = await fromRaw(16, 8, 4, (x) => [0, 0, 0, x < 8 ? 0 : 128])
      .png()
      .toBuffer();
    const { rgb } = await decodeRgb(png, 16, 8);
    expect(pixelAt(rgb, 16, 2, 4)).toEqual([255, 255, 255]);
    const half = pixelAt(rgb, 16, 13, 4);
    for (const v of half) expect(Math.abs(v - 127)).toBeLessThanOrEqual(1);
  });

  it('turns grey and 16-bit PNGs into 8-bit RGB', async () => {
    const grey = await fromRaw(8, 8, 1, (x) => [x * 30])
      .png()
      .toBuffer();
    expect(pixelAt((await decodeRgb(grey, 8, 8)).rgb, 8, 3, 0)).toEqual([90, 90, 90]);
    const deep = await fromRaw(8, 8, 3, () => [255, 0, 128])
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    expect((await sharp(deep).metadata()).depth).toBe('ushort');
    const { rgb } = await decodeRgb(deep, 8, 8);
    expect(rgb).toHaveLength(8 * 8 * 3);
    expect(pixelAt(rgb, 8, 4, 4)).toEqual([255, 0, 128]);
  });

  it('refuses a non-integer target size', async () => {
    await expect(decodeRgb(await patternPng(8, 8), 0, 8)).rejects.toThrow(/width must be an integer >= 1/);
  });
});

describe('decodeMask', () => {
  it('returns H×W grayscale with the same cover-crop as the image', async () => {
    // Wide mask: white outer quarters, black middle. Cover-cropped to a square, it is all black.
    const wide = await fromRaw(64, 16, 3, (x) => (x < 16 || x >= 48 ? [255, 255, 255] : [0, 0, 0]))
      .png()
      .toBuffer();
    const mask = await decodeMask(wide, 16, 16);
    expect(mask).toHaveLength(16 * 16);
    expect(mask.every((v) => v === 0)).toBe(true);
    const stretched = await decodeMask(wide, 16, 16, { fit: 'fill' });
    expect([stretched[0], stretched[8], stretched[15]]).toEqual([255, 0, 255]);
  });

  it('flattens alpha onto black: transparent means keep', async () => {
    // Transparent white (invisible in an editor) on the left, opaque white on the right.
    const png = await fromRaw(16, 8, 4, (x) => [255, 255, 255, x < 8 ? 0 : 255])
      .png()
      .toBuffer();
    const mask = await decodeMask(png, 16, 8);
    expect(mask[8 * 2 + 2]).toBe(0);
    expect(mask[8 * 2 + 13]).toBe(255);
  });

  it("converts colour to gray with PIL's convert('L') weights", async () => {
    // PIL: (19595 R + 38470 G + 7471 B + 32768) >> 16 → red 76, green 150, blue 29, (200,100,50) 124.
    const colours = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [200, 100, 50],
    ];
    const png = await fromRaw(4, 1, 3, (x) => colours[x] as number[])
      .png()
      .toBuffer();
    expect(Array.from(await decodeMask(png, 4, 1))).toEqual([76, 150, 29, 124]);
  });
});

describe('rgbToVaeInput', () => {
  it("maps bytes to planar [1, 3, H, W] in [-1, 1] with diffusers' float32 arithmetic", () => {
    const f = Math.fround;
    const v = (x: number) => f(2 * f(x / 255) - 1);
    // 2×1 image: pixel 0 = (0, 255, 51), pixel 1 = (255, 0, 128).
    const planes = rgbToVaeInput(Uint8Array.of(0, 255, 51, 255, 0, 128), 2, 1);
    expect(Array.from(planes)).toEqual([-1, 1, 1, -1, v(51), v(128)]);
    expect(Math.abs((planes[5] as number) - (128 / 127.5 - 1))).toBeLessThan(1e-7);
  });

  it('checks the buffer length', () => {
    expect(() => rgbToVaeInput(new Uint8Array(5), 2, 1)).toThrow(/rgb must have 6 elements, got 5/);
  });
});
