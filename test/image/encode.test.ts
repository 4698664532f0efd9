/**
 * encodeImage / resizeRgb / mimeType / toDataUri: real files decoded back with sharp, checking
 * format, size, absence of metadata and the pixels.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeImage, mimeType, resizeRgb, toDataUri } from '../../src/image/encode.js';
import { parseImageInput } from '../../src/image/image-input.js';
import { pattern, rawPixels } from './fixtures.js';

const W = 48;
const H = 32;
/** A smooth gradient: lossy codecs reproduce it closely, so pixel errors stay small. */
const smooth = new Uint8Array(rawPixels(W, H, 3, (x, y) => [x * 5, y * 7, 128]));

async function decoded(bytes: Buffer) {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return { data, info, meta: await sharp(bytes).metadata() };
}

function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

describe('encodeImage', () => {
  it('writes a lossless PNG that decodes to the same pixels, without metadata', async () => {
    const rgb = new Uint8Array(rawPixels(W, H, 3, pattern));
    const { data, info, meta } = await decoded(await encodeImage(rgb, W, H, 'png'));
    expect([meta.format, info.width, info.height, info.channels]).toEqual(['png', W, H, 3]);
    expect([meta.exif, meta.icc, meta.xmp]).toEqual([undefined, undefined, undefined]);
    expect(data.equals(Buffer.from(rgb))).toBe(true);
  });

  it.each(['jpeg', 'webp'] as const)('writes a %s close to the source, without metadata', async (format) => {
    const { data, info, meta } = await decoded(await encodeImage(smooth, W, H, format));
    expect([meta.format, info.width, info.height, info.channels]).toEqual([format, W, H, 3]);
    expect([meta.exif, meta.icc, meta.xmp]).toEqual([undefined, undefined, undefined]);
    expect(maxAbsDiff(data, smooth)).toBeLessThanOrEqual(12);
  });

  it('uses quality 90 by default and honours a given quality', async () => {
    const noisy = new Uint8Array(rawPixels(64, 64, 3, pattern));
    for (const format of ['jpeg', 'webp'] as const) {
      const byDefault = await encodeImage(noisy, 64, 64, format);
      expect(byDefault.equals(await encodeImage(noisy, 64, 64, format, { quality: 90 }))).toBe(true);
      const low = await encodeImage(noisy, 64, 64, format, { quality: 30 });
      expect(low.length).toBeLessThan(byDefault.length);
    }
  });

  it.each(['jpeg', 'png', 'webp'] as const)(
    '%s: resizeTo gives exactly the requested size',
    async (format) => {
      const { info, meta } = await decoded(
        await encodeImage(smooth, W, H, format, { resizeTo: { width: 45, height: 30 } }),
      );
      expect([meta.format, info.width, info.height]).toEqual([format, 45, 30]);
    },
  );

  it('resizeTo at the same size leaves the pixels alone', async () => {
    const rgb = new Uint8Array(rawPixels(W, H, 3, pattern));
    const png = await encodeImage(rgb, W, H, 'png', { resizeTo: { width: W, height: H } });
    expect((await decoded(png)).data.equals(Buffer.from(rgb))).toBe(true);
  });

  it('refuses a bad quality, a wrong buffer length and an unknown format', async () => {
    await expect(encodeImage(smooth, W, H, 'jpeg', { quality: 0 })).rejects.toThrow(
      /quality must be an integer 1–100/,
    );
    await expect(encodeImage(smooth, W, H + 1, 'png')).rejects.toThrow(
      /rgb must have 4752 elements, got 4608/,
    );
    await expect(encodeImage(smooth, W, H, 'gif' as never)).rejects.toThrow(
      /output_format must be jpeg, png or webp/,
    );
  });
});

describe('resizeRgb', () => {
  it('stretches to exactly the target size with Lanczos3', async () => {
    const flat = new Uint8Array(W * H * 3).fill(77);
    const out = await resizeRgb(flat, W, H, { width: 40, height: 40 });
    expect(out).toHaveLength(40 * 40 * 3);
    expect(out.every((v) => v === 77)).toBe(true);
    const gradient = await resizeRgb(smooth, W, H, { width: 45, height: 30 });
    expect(gradient).toHaveLength(45 * 30 * 3);
    expect(gradient[0]).toBeLessThan(gradient[(45 - 1) * 3] as number); // red still rises left to right
  });
});

describe('mimeType / toDataUri', () => {
  it('name the format and round-trip through parseImageInput', async () => {
    expect([mimeType('jpeg'), mimeType('png'), mimeType('webp')]).toEqual([
      'image/jpeg',
      'image/png',
      'image/webp',
    ]);
    const webp = await encodeImage(smooth, W, H, 'webp');
    const uri = toDataUri(webp, 'webp');
    expect(uri.startsWith('data:image/webp;base64,UklGR')).toBe(true);
    const parsed = parseImageInput('image', uri);
    expect(parsed.kind === 'bytes' && parsed.bytes.equals(webp)).toBe(true);
  });
});
