/**
 * Block quantization for MatMulNBits: the round-trip bound of the symmetric scheme, the bit layout
 * (low nibble first, default zero point), the stored scales and the size formula.
 */
import { describe, expect, it } from 'vitest';
import { dequantizeF64 } from '../../src/weights/dequantize.js';
import { f16ToF32, f32ToF16 } from '../../src/weights/float16.js';
import { quantizedBytes, quantizeWeight, scaleBytes } from '../../src/weights/quantize.js';
import { seededNormal } from '../../src/weights/random.js';

/** A [n, k] weight whose blocks span six orders of magnitude, with an all-zero row. */
function spreadWeight(n: number, k: number, seed: number): Float32Array {
  const w = seededNormal(seed).fill(new Float32Array(n * k));
  for (let i = 0; i < w.length; i++) w[i] = (w[i] as number) * 10 ** ((i % 7) - 4);
  w.fill(0, 0, k);
  return w;
}

describe.each([
  [8, 'float32'],
  [8, 'float16'],
  [4, 'float32'],
  [4, 'float16'],
] as const)('%i-bit weights, %s scales', (bits, scaleDType) => {
  const n = 6;
  const k = 70; // two full blocks of 32 and a padded tail of 6
  const w = spreadWeight(n, k, bits * 10 + (scaleDType === 'float16' ? 1 : 0));
  const q = quantizeWeight(w, n, k, { bits, scaleDType });

  it('has the MatMulNBits shapes', () => {
    expect(q.kBlocks).toBe(3);
    expect(q.blobSize).toBe(32 * (bits / 8));
    expect(q.packed.length).toBe(n * 3 * q.blobSize);
    expect(q.scales.length).toBe(n * 3);
    expect(quantizedBytes(n, k, bits, scaleDType === 'float16' ? 2 : 4)).toBe(
      q.packed.length + scaleBytes(q).length,
    );
  });

  it('dequantizes every weight to within half a step of its block scale', () => {
    const d = dequantizeF64(q);
    const qmax = 2 ** (bits - 1) - 1;
    for (let row = 0; row < n; row++) {
      for (let i = 0; i < k; i++) {
        const block = row * 3 + Math.floor(i / 32);
        const scale = q.scales[block] as number;
        let absMax = 0;
        for (let j = Math.floor(i / 32) * 32; j < Math.min(k, Math.floor(i / 32) * 32 + 32); j++)
          absMax = Math.max(absMax, Math.abs(w[row * k + j] as number));
        expect(scale).toBeGreaterThanOrEqual(absMax / qmax); // rounded up, never clips
        expect(scale).toBeLessThanOrEqual((absMax / qmax) * (1 + 2 ** -10));
        expect(Math.abs((d[row * k + i] as number) - (w[row * k + i] as number))).toBeLessThanOrEqual(
          scale / 2,
        );
      }
    }
    expect(Array.from(d.subarray(0, k))).toEqual(new Array(k).fill(0)); // the zero row stays zero
  });

  it('stores scales in the activation dtype', () => {
    const raw = scaleBytes(q);
    if (scaleDType === 'float16') {
      expect(Array.from(f16ToF32(new Uint16Array(raw.slice().buffer)))).toEqual(Array.from(q.scales));
      expect(Array.from(f16ToF32(f32ToF16(q.scales)))).toEqual(Array.from(q.scales));
    } else {
      expect(Array.from(new Float32Array(raw.slice().buffer))).toEqual(Array.from(q.scales));
    }
  });

  it('pads the K tail with the zero point', () => {
    const tail = q.packed.subarray(q.blobSize * 2 + (6 * bits) / 8, q.blobSize * 3);
    expect(new Set(tail)).toEqual(new Set([bits === 8 ? 128 : 0x88]));
  });
});

describe('bit layout', () => {
  it('4-bit: even k in the low nibble, odd k in the high nibble, offset by 8', () => {
    const w = new Float32Array(32);
    w[0] = 7; // scale 1: q = 7 → 15
    w[1] = -7; // q = −7 → 1
    w[2] = 2; // → 10
    w[3] = 0.4; // rounds to 0 → 8
    const q = quantizeWeight(w, 1, 32, { bits: 4, scaleDType: 'float32' });
    expect(Array.from(q.scales)).toEqual([1]);
    expect(Array.from(q.packed.subarray(0, 3))).toEqual([0x1f, 0x8a, 0x88]);
  });

  it('8-bit: one byte per weight, offset by 128', () => {
    const w = new Float32Array(32);
    w[0] = -127;
    w[1] = 127;
    w[2] = 3.5; // half rounds up: 4
    const q = quantizeWeight(w, 1, 32, { bits: 8, scaleDType: 'float32' });
    expect(Array.from(q.packed.subarray(0, 4))).toEqual([1, 255, 132, 128]);
  });

  it('refuses NaN and infinite weights', () => {
    const w = new Float32Array(32);
    w[5] = Number.NaN;
    expect(() => quantizeWeight(w, 1, 32, { bits: 4, scaleDType: 'float16' })).toThrow(/\[0, 5\] is NaN/);
  });

  it('counts the full-width sizes: 3072×3072 at 4 bits with float16 scales', () => {
    expect(quantizedBytes(3072, 3072, 4, 2)).toBe(3072 * 96 * (16 + 2));
    expect(quantizedBytes(3072, 3072, 8, 2)).toBe(3072 * 96 * (32 + 2));
  });
});
