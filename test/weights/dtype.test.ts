import { describe, expect, it } from 'vitest';
import { DTYPE_BYTES, isSafetensorsDType } from '../../src/weights/dtype.js';

describe('dtype', () => {
  it('knows the byte size of every safetensors dtype', () => {
    expect(DTYPE_BYTES).toEqual({
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
  });

  it('accepts exactly the dtype names, case-sensitively, and no inherited keys', () => {
    for (const d of Object.keys(DTYPE_BYTES)) expect(isSafetensorsDType(d)).toBe(true);
    for (const d of ['f32', 'FP32', 'F8', 'C64', '', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(isSafetensorsDType(d)).toBe(false);
    }
  });
});
