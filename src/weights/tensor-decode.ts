/**
 * @module weights/tensor-decode
 * Turns a tensor's raw little-endian bytes into the float32 or float16 arrays the graph builder
 * wants. Kept apart from file access so every source (single file, shards, LoRA) decodes the same way.
 */
import { errors } from '../errors.js';
import type { SafetensorsDType } from './dtype.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, f64ToF16 } from './float16.js';

/** Views `raw` as `T` without copying when aligned; copies first when it is not (typed arrays demand it). */
function view<T>(
  raw: Uint8Array,
  bytes: number,
  make: (buf: ArrayBufferLike, offset: number, length: number) => T,
): T {
  const src = raw.byteOffset % bytes === 0 ? raw : raw.slice();
  return make(src.buffer, src.byteOffset, src.byteLength / bytes);
}

function unsupported(name: string, dtype: SafetensorsDType, want: string): Error {
  return errors.WEIGHTS(
    `tensor ${JSON.stringify(name)} has dtype ${dtype}, which does not convert to ${want}`,
  );
}

/**
 * Throws unless `dtype` is one decodeF32/decodeF16 convert (F64, F32, F16, BF16); lets a caller fail
 * before reading the tensor's bytes.
 *
 * @throws FluxServeError FLUX_ERR_WEIGHTS naming the tensor and its dtype
 *
 * @example
 * checkFloat('img_in.weight', entry.dtype, 'float32');
 */
export function checkFloat(name: string, dtype: SafetensorsDType, want: 'float32' | 'float16'): void {
  if (dtype !== 'F64' && dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16')
    throw unsupported(name, dtype, want);
}

/**
 * Decodes raw tensor bytes to float32. F32 is viewed in place (no copy); F16/BF16 widen exactly;
 * F64 rounds to nearest even.
 *
 * @throws FluxServeError FLUX_ERR_WEIGHTS for non-float dtypes
 *
 * @example
 * const values = decodeF32('img_in.weight', 'BF16', await file.readRaw('img_in.weight'));
 */
export function decodeF32(name: string, dtype: SafetensorsDType, raw: Uint8Array): Float32Array {
  switch (dtype) {
    case 'F32':
      return view(raw, 4, (b, o, n) => new Float32Array(b, o, n));
    case 'F16':
      return f16ToF32(view(raw, 2, (b, o, n) => new Uint16Array(b, o, n)));
    case 'BF16':
      return bf16ToF32(view(raw, 2, (b, o, n) => new Uint16Array(b, o, n)));
    case 'F64':
      // The Float32Array constructor rounds each double to nearest even, per the spec's ToFloat32.
      return new Float32Array(view(raw, 8, (b, o, n) => new Float64Array(b, o, n)));
    default:
      throw unsupported(name, dtype, 'float32');
  }
}

/**
 * Decodes raw tensor bytes to float16 bit patterns. F16 is viewed in place; F32, BF16 and F64 round
 * once to nearest even.
 *
 * @throws FluxServeError FLUX_ERR_WEIGHTS for non-float dtypes
 *
 * @example
 * const bits = decodeF16('img_in.weight', 'F32', await file.readRaw('img_in.weight'));
 */
export function decodeF16(name: string, dtype: SafetensorsDType, raw: Uint8Array): Uint16Array {
  switch (dtype) {
    case 'F16':
      return view(raw, 2, (b, o, n) => new Uint16Array(b, o, n));
    case 'F32':
      return f32ToF16(view(raw, 4, (b, o, n) => new Float32Array(b, o, n)));
    case 'BF16':
      // bf16 -> f32 is exact, so this rounds only once.
      return f32ToF16(bf16ToF32(view(raw, 2, (b, o, n) => new Uint16Array(b, o, n))));
    case 'F64':
      return f64ToF16(view(raw, 8, (b, o, n) => new Float64Array(b, o, n)));
    default:
      throw unsupported(name, dtype, 'float16');
  }
}

/**
 * Encodes float32 values as bfloat16 or float16 bits, or passes float32 through; used by the writer.
 *
 * @example
 * const bits = encodeFloats('BF16', new Float32Array([1])); // Uint16Array [0x3f80]
 */
export function encodeFloats(
  dtype: 'F32' | 'F16' | 'BF16',
  values: Float32Array,
): Float32Array | Uint16Array {
  if (dtype === 'F16') return f32ToF16(values);
  if (dtype === 'BF16') return f32ToBf16(values);
  return values;
}
