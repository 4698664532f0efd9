/**
 * @module weights/dtype
 * The element types a safetensors header may name, and their sizes. The header is untrusted, so the
 * type guard is the single gate between a JSON string and a dtype the rest of the code relies on.
 */

/** Every dtype the safetensors format defines (as spelled in the header's `dtype` field). */
export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U8'
  | 'BOOL'
  | 'F8_E4M3'
  | 'F8_E5M2'
  | 'U16'
  | 'U32'
  | 'U64';

/**
 * Bytes per element of each dtype.
 *
 * @example
 * const bytes = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES.BF16; // 2 bytes per element
 */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  U16: 2,
  U32: 4,
  U64: 8,
});

/**
 * Whether `s` names a safetensors dtype.
 *
 * @example
 * if (!isSafetensorsDType(entry.dtype)) throw errors.SAFETENSORS(file, `unknown dtype ${entry.dtype}`);
 */
export function isSafetensorsDType(s: string): s is SafetensorsDType {
  // Own-property check: `toString` or `__proto__` must not pass as dtypes.
  return Object.hasOwn(DTYPE_BYTES, s);
}
