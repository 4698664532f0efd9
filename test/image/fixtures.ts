/**
 * Real test images made with sharp from raw pixels, so tests can assert on known pixel values.
 */
import sharp from 'sharp';

export type Rgb = readonly [number, number, number];

/** width×height×channels raw bytes from a per-pixel function. */
export function rawPixels(
  width: number,
  height: number,
  channels: 1 | 2 | 3 | 4,
  pixel: (x: number, y: number) => readonly number[],
): Buffer {
  const buf = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) buf.set(pixel(x, y), (y * width + x) * channels);
  return buf;
}

/** A sharp pipeline over raw pixels, ready for `.png()`, `.jpeg()`, …. */
export function fromRaw(
  width: number,
  height: number,
  channels: 1 | 2 | 3 | 4,
  pixel: (x: number, y: number) => readonly number[],
) {
  return sharp(rawPixels(width, height, channels, pixel), { raw: { width, height, channels } });
}

/** A colourful, non-repeating RGB test pattern (every pixel differs from its neighbours). */
export const pattern = (x: number, y: number): Rgb => [
  (x * 7 + y) & 255,
  (y * 5 + 3 * x) & 255,
  (x * y + 11) & 255,
];

/** A PNG of `pattern`. */
export function patternPng(width: number, height: number): Promise<Buffer> {
  return fromRaw(width, height, 3, pattern).png().toBuffer();
}

/** The RGB of pixel (x, y) in an HWC buffer. */
export function pixelAt(rgb: Uint8Array, width: number, x: number, y: number): number[] {
  const i = (y * width + x) * 3;
  return Array.from(rgb.subarray(i, i + 3));
}
