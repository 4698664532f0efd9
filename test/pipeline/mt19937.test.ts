import { describe, expect, it } from 'vitest';
import { Mt19937, torchSeed32 } from '../../src/pipeline/mt19937.js';
import { expectFluxThrow } from '../weights/fixtures.js';
import { referenceMt } from './mt19937-reference.js';

function draws(mt: Mt19937, count: number): number[] {
  return Array.from({ length: count }, () => mt.random());
}

describe('Mt19937', () => {
  it('gives the published first outputs for seeds 0 and 5489', () => {
    expect(draws(new Mt19937(0), 5)).toEqual([2357136044, 2546248239, 3071714933, 3626093760, 2588848963]);
    expect(draws(new Mt19937(5489), 5)).toEqual([3499211612, 581869302, 3890346734, 3586334585, 545404204]);
    expect(new Mt19937().random()).toBe(3499211612); // default seed 5489, as std::mt19937
  });

  it('gives the 10000th output the C++ standard requires of a default std::mt19937', () => {
    const mt = new Mt19937(5489);
    let last = 0;
    for (let i = 0; i < 10000; i++) last = mt.random();
    expect(last).toBe(4123659995);
  });

  it('matches a naive mt19937ar transcription across several state regenerations', () => {
    for (const seed of [0, 1, 42, 5489, 123456789, 2 ** 32 - 1]) {
      expect(draws(new Mt19937(seed), 2000)).toEqual(referenceMt(seed, 2000));
    }
  });

  it('joins two outputs into random64 with the first in the high word', () => {
    const [a, b, c, d] = referenceMt(7, 4) as [number, number, number, number];
    const mt = new Mt19937(7);
    expect(mt.random64()).toBe((BigInt(a) << 32n) | BigInt(b));
    expect(mt.random64()).toBe(BigInt(c) * 2n ** 32n + BigInt(d));
  });

  it('keeps only the low 32 bits of the seed, negatives as 64-bit two’s complement', () => {
    expect(torchSeed32(42)).toBe(42);
    expect(torchSeed32(2n ** 32n + 42n)).toBe(42);
    expect(torchSeed32(2 ** 40 + 5)).toBe(5);
    expect(torchSeed32(2n ** 64n - 1n)).toBe(0xffffffff);
    expect(torchSeed32(-1)).toBe(0xffffffff);
    expect(torchSeed32(-(2n ** 63n))).toBe(0);
    expect(draws(new Mt19937(2n ** 33n + 5489n), 3)).toEqual(draws(new Mt19937(5489), 3));
  });

  it('rejects seeds torch would not accept or that a number cannot hold exactly', () => {
    const U = 'FLUX_ERR_USAGE';
    expectFluxThrow(() => new Mt19937(1.5), U, /seed must be an integer/);
    expectFluxThrow(() => new Mt19937(2 ** 60), U, /seed must be an integer/);
    expectFluxThrow(() => new Mt19937(Number.NaN), U, /seed must be an integer/);
    expectFluxThrow(() => new Mt19937(2n ** 64n), U, /\[-2\^63, 2\^64\)/);
    expectFluxThrow(() => new Mt19937(-(2n ** 63n) - 1n), U, /\[-2\^63, 2\^64\)/);
  });
});
