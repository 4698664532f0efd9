/**
 * @module weights/float16
 * Conversions between float32 and the two 16-bit float formats (IEEE binary16 and bfloat16).
 * They run over every weight of a checkpoint (billions of values), so each is one tight loop over
 * integer views of the typed arrays: no per-value allocation, no DataView, no Math calls on the
 * hot path. Rounding is to nearest, ties to even, as IEEE conversions and PyTorch's `.half()` do.
 * NaNs stay NaNs with their top payload bits, so a 16-bit NaN survives a round trip through f32.
 * The integer views assume a little-endian host, as safetensors data and every platform Node ships for.
 */

/** f32 bit patterns of all 65536 f16 values: widening becomes one table load per value. */
let f16Table: Uint32Array | undefined;

function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal f16 is normal in f32: shift the leading 1 up to the implicit bit.
  let e = 113;
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

function table(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/**
 * Narrows f32 bits to f16 bits, round to nearest even. Integer-only: an FP-add trick for subnormals
 * would round twice in JS, whose arithmetic is double precision.
 */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x47800000) {
    // |x| >= 65536 (or Inf/NaN): beyond any rounding to 65504.
    if (abs <= 0x7f800000) return sign | 0x7c00;
    const payload = (abs >>> 13) & 0x3ff;
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }
  if (abs >= 0x38800000) {
    // Normal in f16. Adding 0xfff plus the result's lowest bit rounds ties to even; a carry out of
    // the mantissa bumps the exponent, which is also how 65520 and above become Inf.
    return sign | ((abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13);
  }
  if (abs < 0x33000000) return sign; // |x| <= 2^-25: ties to even at the halfway point gives zero.
  // Subnormal in f16: value = M * 2^(e-150) and the result counts units of 2^-24.
  const e = abs >>> 23;
  const m = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - e; // 14..24
  const half = 1 << (shift - 1);
  const rest = m & ((1 << shift) - 1);
  let h = m >>> shift;
  if (rest > half || (rest === half && (h & 1) === 1)) h++; // carrying into 0x400 gives the smallest normal
  return sign | h;
}

/**
 * Converts float32 values to IEEE half precision bit patterns (round to nearest even; overflow gives
 * ±Inf; NaN stays NaN; subnormals exact).
 *
 * @example
 * const bits = f32ToF16(new Float32Array([1, 65520])); // Uint16Array [0x3c00, 0x7c00]
 */
export function f32ToF16(src: Float32Array): Uint16Array {
  const n = src.length;
  const bits = new Uint32Array(src.buffer, src.byteOffset, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = f32BitsToF16Bits(bits[i] as number);
  return out;
}

/**
 * Widens IEEE half precision bit patterns to float32 (exact).
 *
 * @example
 * const values = f16ToF32(new Uint16Array([0x3c00, 0x0001])); // Float32Array [1, 2^-24]
 */
export function f16ToF32(src: Uint16Array): Float32Array {
  const n = src.length;
  const t = table();
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = t[src[i] as number] as number;
  return out;
}

/**
 * Widens bfloat16 bit patterns to float32 (exact: bf16 is the top half of an f32).
 *
 * @example
 * const values = bf16ToF32(new Uint16Array([0x3f80])); // Float32Array [1]
 */
export function bf16ToF32(src: Uint16Array): Float32Array {
  const n = src.length;
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = (src[i] as number) << 16;
  return out;
}

/**
 * Converts float32 values to bfloat16 bit patterns (round to nearest even; NaN stays NaN).
 *
 * @example
 * const bits = f32ToBf16(new Float32Array([1, -2])); // Uint16Array [0x3f80, 0xc000]
 */
export function f32ToBf16(src: Float32Array): Uint16Array {
  const n = src.length;
  const bits = new Uint32Array(src.buffer, src.byteOffset, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const x = bits[i] as number;
    if ((x & 0x7fffffff) > 0x7f800000) {
      // NaN: rounding could carry the payload into the exponent, so truncate; if that leaves no
      // payload bits (it would read as Inf), set the quiet bit.
      const t = x >>> 16;
      out[i] = (t & 0x7f) === 0 ? t | 0x40 : t;
    } else {
      out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    }
  }
  return out;
}

/**
 * Converts float64 values to IEEE half precision bit patterns with a single correct rounding (nearest
 * even). Going through f32 with `Math.fround` would round twice; rounding to odd first avoids that,
 * because f32 keeps more than two extra bits over f16.
 *
 * @example
 * const bits = f64ToF16(new Float64Array([0.1])); // Uint16Array [0x2e66]
 */
export function f64ToF16(src: Float64Array): Uint16Array {
  const n = src.length;
  const out = new Uint16Array(n);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < n; i++) {
    const x = src[i] as number;
    f[0] = x;
    const r = f[0] as number;
    if (r !== x && !Number.isNaN(r)) {
      // Inexact: step back toward zero if fround went away from it, then set the sticky lowest bit.
      let b = u[0] as number;
      if (Math.abs(r) > Math.abs(x)) b -= 1;
      u[0] = b | 1;
    }
    out[i] = f32BitsToF16Bits(u[0] as number);
  }
  return out;
}
