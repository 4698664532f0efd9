import { describe, expect, it } from 'vitest';
import { initialNoise, LATENT_CHANNELS, latentSize, randomSeed } from '../../src/pipeline/noise.js';
import { torchRandn } from '../../src/pipeline/torch-randn.js';
import { expectFluxThrow } from '../weights/fixtures.js';

describe('latentSize', () => {
  it('is 2·floor(size/16) on each axis', () => {
    expect(latentSize(1024, 1024)).toEqual({ height: 128, width: 128 });
    expect(latentSize(768, 1360)).toEqual({ height: 96, width: 170 });
    expect(latentSize(1000, 40)).toEqual({ height: 124, width: 4 });
    expect(latentSize(16, 31)).toEqual({ height: 2, width: 2 });
  });

  it('rejects images smaller than one packed token', () => {
    expectFluxThrow(() => latentSize(15, 64), 'FLUX_ERR_USAGE', /height must be an integer >= 16/);
    expectFluxThrow(() => latentSize(64, 64.5), 'FLUX_ERR_USAGE', /width/);
  });
});

describe('initialNoise', () => {
  it('is one torch.randn draw of [B, 16, h, w]', () => {
    expect(LATENT_CHANNELS).toBe(16);
    const z = initialNoise(42, 1, 64, 48);
    expect(z.length).toBe(16 * 8 * 6);
    expect(z).toEqual(torchRandn(42, 16 * 8 * 6));
  });

  it('draws the whole batch from one generator, item after item', () => {
    const one = initialNoise(7, 1, 32, 32);
    const two = initialNoise(7, 2, 32, 32);
    expect(two.length).toBe(2 * one.length);
    expect(two).toEqual(torchRandn(7, 2 * 16 * 4 * 4));
    // Item 1 continues the stream: it is not a copy of item 0 nor a re-seeded draw.
    expect(two.subarray(one.length)).not.toEqual(one);
    expect(two.subarray(0, 256)).toEqual(one.subarray(0, 256)); // whole 16-blocks agree
  });

  it('accepts bigint seeds like torch, keeping the low 32 bits', () => {
    expect(initialNoise(2n ** 32n + 3n, 1, 16, 16)).toEqual(initialNoise(3, 1, 16, 16));
  });

  it('rejects a batch below 1', () => {
    expectFluxThrow(() => initialNoise(0, 0, 16, 16), 'FLUX_ERR_USAGE', /batch/);
  });
});

describe('randomSeed', () => {
  it('gives integers in [0, 2^32) that vary', () => {
    const seeds = Array.from({ length: 16 }, randomSeed);
    for (const s of seeds) {
      expect(Number.isInteger(s)).toBe(true);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThan(2 ** 32);
    }
    expect(new Set(seeds).size).toBeGreaterThan(1);
  });
});
