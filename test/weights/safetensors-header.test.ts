import { describe, expect, it } from 'vitest';
import { parseSafetensorsHeader } from '../../src/weights/safetensors-header.js';
import { expectFluxThrow } from './fixtures.js';

const FILE = 'hostile.safetensors';

function parse(header: unknown, fileSize = 1000, dataStart = 100) {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  return parseSafetensorsHeader(FILE, new TextEncoder().encode(text), dataStart, fileSize);
}

function rejects(header: unknown, message: RegExp, fileSize?: number): void {
  const err = expectFluxThrow(() => parse(header, fileSize), 'FLUX_ERR_SAFETENSORS', message);
  expect(err.message).toContain(FILE);
}

const f32 = (shape: unknown, offsets: unknown, dtype: unknown = 'F32') => ({
  dtype,
  shape,
  data_offsets: offsets,
});

describe('parseSafetensorsHeader', () => {
  it('locates tensors absolutely and keeps metadata', () => {
    const entries = {
      a: f32([2, 2], [0, 16]),
      b: f32([3], [16, 22], 'BF16'),
      scalar: f32([], [22, 26]),
      empty: f32([0, 5], [26, 26]),
    };
    // Spliced as text: an object literal's __proto__ key would set the prototype instead.
    const text = `{"__metadata__":{"format":"pt","__proto__":"x"},${JSON.stringify(entries).slice(1)}`;
    const { tensors, metadata } = parse(text, 200);
    expect(tensors.get('a')).toEqual({
      name: 'a',
      dtype: 'F32',
      shape: [2, 2],
      byteOffset: 100,
      byteLength: 16,
    });
    expect(tensors.get('b')).toMatchObject({ dtype: 'BF16', byteOffset: 116, byteLength: 6 });
    expect(tensors.get('scalar')).toMatchObject({ shape: [], byteLength: 4 });
    expect(tensors.get('empty')).toMatchObject({ shape: [0, 5], byteLength: 0 });
    expect(metadata.format).toBe('pt');
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(metadata, '__proto__')?.value).toBe('x');
  });

  it('accepts space padding after the JSON and an empty header', () => {
    expect(parse('{}     ').tensors.size).toBe(0);
  });

  it('rejects JSON that is not an object', () => {
    rejects('not json', /not valid JSON/);
    rejects('', /not valid JSON/);
    rejects('[1,2]', /must be an object/);
    rejects('null', /must be an object/);
  });

  it('rejects invalid UTF-8', () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]);
    expectFluxThrow(() => parseSafetensorsHeader(FILE, bytes, 15, 15), 'FLUX_ERR_SAFETENSORS', /UTF-8/);
  });

  it('rejects unknown and missing dtypes', () => {
    rejects({ w: f32([1], [0, 4], 'F128') }, /"w".*unknown dtype "F128"/);
    rejects({ w: f32([1], [0, 4], 'toString') }, /unknown dtype/);
    rejects({ w: { shape: [1], data_offsets: [0, 4] } }, /unknown dtype/);
    rejects({ w: 5 }, /entry must be an object/);
  });

  it('rejects negative, fractional, huge and non-numeric dims', () => {
    rejects({ w: f32([-1], [0, 4]) }, /non-negative integers/);
    rejects({ w: f32([1.5], [0, 6]) }, /non-negative integers/);
    rejects({ w: f32(['2'], [0, 8]) }, /non-negative integers/);
    rejects({ w: f32([2 ** 53], [0, 8]) }, /non-negative integers/);
    rejects({ w: f32('2x2', [0, 16]) }, /shape must be an array/);
  });

  it('rejects element counts beyond Number.MAX_SAFE_INTEGER, but not when a dim is 0', () => {
    rejects({ w: f32([2 ** 30, 2 ** 30, 2 ** 30], [0, 4]) }, /more elements than can be addressed/);
    expect(parse({ w: f32([2 ** 52, 2 ** 52, 0], [0, 0]) }).tensors.get('w')?.byteLength).toBe(0);
  });

  it('rejects malformed data_offsets', () => {
    rejects({ w: f32([1], [0]) }, /data_offsets must be \[begin, end\]/);
    rejects({ w: f32([1], [-4, 0]) }, /0 <= begin <= end/);
    rejects({ w: f32([1], [8, 4]) }, /0 <= begin <= end/);
    rejects({ w: f32([1], [0, 4.5]) }, /0 <= begin <= end/);
    rejects({ w: f32([1], [0, 2 ** 60]) }, /0 <= begin <= end/);
  });

  it('rejects offsets past the end of the file', () => {
    rejects({ w: f32([4], [0, 16]) }, /run past the end of the file/, 110);
  });

  it('rejects a byte span that does not match shape x dtype size', () => {
    rejects({ w: f32([2, 2], [0, 12]) }, /span 12 bytes but F32 shape \[2,2\] needs 16/);
    rejects({ w: f32([3], [0, 12], 'F16') }, /needs 6/);
  });

  it('rejects overlapping tensors, allowing adjacent and empty ones', () => {
    rejects({ a: f32([4], [0, 16]), b: f32([2], [8, 16]) }, /"a" and "b" overlap/);
    rejects({ a: f32([4], [4, 20]), b: f32([4], [0, 16]) }, /"b" and "a" overlap/);
    const ok = parse({ a: f32([2], [0, 8]), b: f32([2], [8, 16]), e: f32([0], [4, 4]) });
    expect(ok.tensors.size).toBe(3);
  });

  it('rejects non-string metadata', () => {
    rejects({ __metadata__: { step: 5 } }, /__metadata__ value for "step" must be a string/);
    rejects({ __metadata__: ['a'] }, /__metadata__ must be an object/);
  });
});
