import { describe, expect, it } from 'vitest';
import { npyBytes } from '../../src/weights/npy-writer.js';

describe('npyBytes', () => {
  it('writes a NumPy 1.0 header padded to 64 bytes, then the little-endian data', () => {
    const bytes = npyBytes(Float32Array.of(1, -2, 3.5, 0), [2, 2]);
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('\x93NUMPY\x01\x00');
    const headerLength = bytes.readUInt16LE(8);
    expect((10 + headerLength) % 64).toBe(0);
    const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
    expect(header).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 2\), \} *\n$/);
    const data = bytes.subarray(10 + headerLength);
    expect(
      Array.from(new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))),
    ).toEqual([1, -2, 3.5, 0]);
  });

  it('spells 1-d shapes as a Python tuple and float64 as <f8', () => {
    const bytes = npyBytes(Float64Array.of(1, 0.75), [2]);
    expect(bytes.toString('latin1')).toContain("'descr': '<f8', 'fortran_order': False, 'shape': (2,), }");
    expect(bytes.length % 8).toBe(0);
  });

  it('refuses data that does not fill the shape', () => {
    expect(() => npyBytes(new Float32Array(3), [2, 2])).toThrow(/3 values do not fill shape \[2,2\]/);
  });
});
