/**
 * Test support: images the safety tests make themselves — flat colours and seeded noise — since no
 * real photos (let alone NSFW ones) can be fetched or shipped with the tests.
 */
import type { RgbImage } from '../../src/image/decode.js';

export function flat(width: number, height: number, [r, g, b]: readonly [number, number, number]): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i += 3) {
    rgb[i] = r;
    rgb[i + 1] = g;
    rgb[i + 2] = b;
  }
  return { rgb, width, height };
}

/** Uniform noise from a small LCG, so every run sees the same pixels. */
export function noise(width: number, height: number, seed = 1): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  let s = seed >>> 0;
  for (let i = 0; i < rgb.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    rgb[i] = s >>> 24;
  }
  return { rgb, width, height };
}

export function sum(scores: Readonly<Record<string, number>>): number {
  return Object.values(scores).reduce((a, b) => a + b, 0);
}
