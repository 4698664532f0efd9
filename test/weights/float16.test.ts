import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, f64ToF16 } from '../../src/weights/float16.js';

/** f16 bits -> exact value, straight from the IEEE definition. */
function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : Number.NaN;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const POSITIVE_F16 = Array.from({ length: 0x7c00 }, (_, h) => f16Value(h)); // 0 .. 65504, increasing

/** Reference round-to-nearest-even narrowing of an exact value, by search over all f16 values. */
function refF16(x: number): number {
  if (Number.isNaN(x)) return -1;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = POSITIVE_F16.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if ((POSITIVE_F16[mid] as number) <= a) lo = mid;
    else hi = mid;
  }
  if ((POSITIVE_F16[hi] as number) <= a) lo = hi;
  if (lo === POSITIVE_F16.length - 1) return sign | lo;
  // Midpoints of adjacent f16 values are exact doubles, so this comparison is exact.
  const midpoint = ((POSITIVE_F16[lo] as number) + (POSITIVE_F16[lo + 1] as number)) / 2;
  if (a < midpoint) return sign | lo;
  if (a > midpoint) return sign | (lo + 1);
  return sign | (lo % 2 === 0 ? lo : lo + 1);
}

function f32FromBits(bits: readonly number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

function bitsOf(values: Float32Array): number[] {
  return [...new Uint32Array(values.buffer, values.byteOffset, values.length)];
}

const ALL_16 = Uint16Array.from({ length: 65536 }, (_, i) => i);

describe('f16ToF32', () => {
  it('widens all 65536 patterns to their exact values', () => {
    const out = f16ToF32(ALL_16);
    for (let h = 0; h < 65536; h++) {
      const want = f16Value(h);
      const got = out[h] as number;
      if (Number.isNaN(want)) expect(Number.isNaN(got), `h=${h}`).toBe(true);
      else if (got !== want || Object.is(got, -0) !== Object.is(want, -0)) expect(got, `h=${h}`).toBe(want);
    }
  });

  it('maps the subnormal and signed-zero corners', () => {
    expect([...f16ToF32(new Uint16Array([0x0001, 0x03ff, 0x0400, 0x8000, 0x7bff, 0xfc00]))]).toEqual([
      2 ** -24,
      1023 * 2 ** -24,
      2 ** -14,
      -0,
      65504,
      -Infinity,
    ]);
  });
});

describe('f32ToF16', () => {
  it('round-trips all 65536 patterns through f32, NaN payloads included', () => {
    const back = f32ToF16(f16ToF32(ALL_16));
    let mismatches = 0;
    for (let h = 0; h < 65536; h++) if (back[h] !== h) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('rounds to nearest even at every f16 midpoint and one f32 ulp either side', () => {
    const probes: number[] = [];
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let h = 0; h < 0x7bff; h++) {
      f[0] = ((POSITIVE_F16[h] as number) + (POSITIVE_F16[h + 1] as number)) / 2;
      const mid = u[0] as number;
      for (const bits of [mid - 1, mid, mid + 1]) probes.push(bits, (bits | 0x80000000) >>> 0);
    }
    const values = f32FromBits(probes);
    const got = f32ToF16(values);
    let mismatches = 0;
    values.forEach((v, i) => {
      if (got[i] !== refF16(v)) mismatches++;
    });
    expect(mismatches).toBe(0);
  });

  it('matches the reference on a sweep of f32 bit patterns', () => {
    const probes: number[] = [];
    for (let b = 0; b < 2 ** 32; b += 4099) probes.push(b);
    const values = f32FromBits(probes);
    const got = f32ToF16(values);
    let mismatches = 0;
    values.forEach((v, i) => {
      const want = refF16(v);
      const ok = want === -1 ? ((got[i] as number) & 0x7fff) > 0x7c00 : got[i] === want;
      if (!ok) mismatches++;
    });
    expect(mismatches).toBe(0);
  });

  it('handles overflow, the smallest subnormal, signed zero and NaN', () => {
    const got = f32ToF16(
      new Float32Array([
        65504,
        65519.99,
        65520,
        1e9,
        -65520,
        Infinity,
        2 ** -24,
        2 ** -25,
        1.5 * 2 ** -25,
        -0,
        0,
      ]),
    );
    expect([...got]).toEqual([0x7bff, 0x7bff, 0x7c00, 0x7c00, 0xfc00, 0x7c00, 0x0001, 0, 0x0001, 0x8000, 0]);
    const nans = f32ToF16(f32FromBits([0x7fc00000, 0xffc00000, 0x7f800001]));
    for (const h of nans) expect(h & 0x7fff).toBeGreaterThan(0x7c00);
    expect(nans[2]).toBe(0x7e00); // payload only in low bits: kept NaN by setting the quiet bit
  });

  it('reads views that start inside a buffer', () => {
    const backing = new Float32Array([9, 1, 2, 9]);
    expect([...f32ToF16(backing.subarray(1, 3))]).toEqual([0x3c00, 0x4000]);
  });
});

describe('bf16', () => {
  it('round-trips all 65536 patterns through f32', () => {
    const widened = bf16ToF32(ALL_16);
    expect(bitsOf(widened).every((b, h) => b === h << 16 || b === (h << 16) >>> 0)).toBe(true);
    const back = f32ToBf16(widened);
    let mismatches = 0;
    for (let h = 0; h < 65536; h++) if (back[h] !== h) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('rounds to nearest even and keeps NaN', () => {
    const got = f32ToBf16(
      f32FromBits([
        0x3f808000, 0x3f818000, 0x3f808001, 0x3f807fff, 0x7f7fffff, 0xff7fffff, 0x7f800001, 0xffffffff,
      ]),
    );
    expect([...got.slice(0, 6)]).toEqual([0x3f80, 0x3f82, 0x3f81, 0x3f80, 0x7f80, 0xff80]);
    expect(got[6]).toBe(0x7fc0);
    expect(got[7]).toBe(0xffff);
  });
});

describe('f64ToF16', () => {
  it('rounds once, where going through f32 would round twice', () => {
    // fround lands exactly on the f16 midpoint 1 + 2^-11; the true value is above it.
    const x = 1 + 2 ** -11 + 2 ** -40;
    expect(f32ToF16(new Float32Array([x]))[0]).toBe(0x3c00);
    expect(f64ToF16(new Float64Array([x]))[0]).toBe(0x3c01);
    expect(f64ToF16(new Float64Array([1 + 2 ** -11 - 2 ** -40]))[0]).toBe(0x3c00);
  });

  it('agrees with the reference on midpoints, extremes and tiny values', () => {
    const xs: number[] = [
      0,
      -0,
      1e-300,
      -1e-300,
      2 ** -25,
      2 ** -25 + 2 ** -60,
      65519.999999,
      65520,
      1e300,
      -Infinity,
    ];
    for (let h = 0; h < 0x7bff; h += 37) {
      const mid = ((POSITIVE_F16[h] as number) + (POSITIVE_F16[h + 1] as number)) / 2;
      xs.push(mid, mid * (1 + 2 ** -50), mid * (1 - 2 ** -50), -mid);
    }
    const got = f64ToF16(new Float64Array(xs));
    xs.forEach((x, i) => {
      expect(got[i], `x=${x}`).toBe(refF16(x));
    });
    expect((f64ToF16(new Float64Array([Number.NaN]))[0] as number) & 0x7fff).toBeGreaterThan(0x7c00);
  });
});
