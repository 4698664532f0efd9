import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { f32ToBf16, f32ToF16 } from '../../src/weights/float16.js';
import { SafetensorsFile } from '../../src/weights/safetensors-file.js';
import { type TensorPlan, writeSafetensors } from '../../src/weights/safetensors-writer.js';
import { expectFluxError, tempDir } from './fixtures.js';

const CODE = 'FLUX_ERR_SAFETENSORS';

function bytesOf(a: Float32Array | Uint16Array): number[] {
  return [...new Uint8Array(a.buffer, a.byteOffset, a.byteLength)];
}

describe('writeSafetensors', () => {
  it('round-trips F32, F16 and BF16 with exact bytes and metadata', async () => {
    const path = join(await tempDir(), 'rt.safetensors');
    const f32 = new Float32Array([1, -2.5, 0.1, 1e-40, 65520, -0]);
    const f16Bits = new Uint16Array([0x3c00, 0x0001, 0x7bff, 0xfc00, 0x7e01]);
    const bf16Bits = new Uint16Array([0x3f80, 0xc000, 0x0001, 0x7fc1]);
    await writeSafetensors(
      path,
      [
        { name: 'f32', dtype: 'F32', shape: [2, 3], data: f32 },
        { name: 'f16', dtype: 'F16', shape: [5], data: f16Bits },
        { name: 'bf16', dtype: 'BF16', shape: [2, 2], data: bf16Bits },
        { name: 'f16-from-f32', dtype: 'F16', shape: [6], data: f32 },
        { name: 'bf16-from-f32', dtype: 'BF16', shape: [3, 2], data: () => f32 },
        { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      ],
      { format: 'pt', note: 'ünïcode' },
    );
    const f = await SafetensorsFile.open(path);
    try {
      expect(f.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
      expect(f.tensors.get('f32')).toMatchObject({ dtype: 'F32', shape: [2, 3] });
      expect([...(await f.readRaw('f32'))]).toEqual(bytesOf(f32));
      expect([...(await f.readRaw('f16'))]).toEqual(bytesOf(f16Bits));
      expect([...(await f.readRaw('bf16'))]).toEqual(bytesOf(bf16Bits));
      expect([...(await f.readRaw('f16-from-f32'))]).toEqual(bytesOf(f32ToF16(f32)));
      expect([...(await f.readRaw('bf16-from-f32'))]).toEqual(bytesOf(f32ToBf16(f32)));
      expect((await f.readRaw('empty')).length).toBe(0);
    } finally {
      await f.close();
    }
    expect(await readdir(join(path, '..'))).toEqual(['rt.safetensors']);
  });

  it('pads the header with spaces to an 8-byte aligned data start and lays tensors out in order', async () => {
    const path = join(await tempDir(), 'layout.safetensors');
    await writeSafetensors(path, [
      { name: 'z', dtype: 'F16', shape: [1], data: new Uint16Array([0x1234]) },
      { name: '10', dtype: 'F32', shape: [1], data: new Float32Array([1]) },
      { name: '2', dtype: 'BF16', shape: [1], data: new Uint16Array([0xabcd]) },
    ]);
    const bytes = new Uint8Array(await readFile(path));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text).toMatch(/^\{.*\} *$/);
    expect(text.indexOf('"z"')).toBeLessThan(text.indexOf('"10"'));
    expect(JSON.parse(text)).toEqual({
      z: { dtype: 'F16', shape: [1], data_offsets: [0, 2] },
      '10': { dtype: 'F32', shape: [1], data_offsets: [2, 6] },
      '2': { dtype: 'BF16', shape: [1], data_offsets: [6, 8] },
    });
    expect([...bytes.subarray(8 + n)]).toEqual([0x34, 0x12, 0, 0, 0x80, 0x3f, 0xcd, 0xab]);
  });

  it('produces plan data one tensor at a time, in order', async () => {
    const path = join(await tempDir(), 'plan.safetensors');
    const events: string[] = [];
    const plans: TensorPlan[] = ['a', 'b', 'c'].map((name, i) => ({
      name,
      dtype: 'F32',
      shape: [2],
      data: async () => {
        events.push(name);
        return new Float32Array([i, i + 0.5]);
      },
    }));
    await writeSafetensors(path, plans);
    expect(events).toEqual(['a', 'b', 'c']);
    const f = await SafetensorsFile.open(path);
    expect([...new Float32Array((await f.readRaw('c')).buffer)]).toEqual([2, 2.5]);
    await f.close();
  });

  it('rejects data that does not match the shape, and leaves no file behind', async () => {
    const dir = await tempDir();
    const path = join(dir, 'bad.safetensors');
    await expectFluxError(
      writeSafetensors(path, [
        { name: 'ok', dtype: 'F32', shape: [1], data: new Float32Array(1) },
        { name: 'w', dtype: 'F32', shape: [2, 2], data: () => new Float32Array(3) },
      ]),
      CODE,
      /"w": data has 3 values but shape \[2,2\] needs 4/,
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps an existing file intact when a rewrite fails', async () => {
    const dir = await tempDir();
    const path = join(dir, 'keep.safetensors');
    await writeFile(path, 'old');
    await expectFluxError(
      writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [1], data: new Uint16Array(1) }]),
      CODE,
      /F32 data must be a Float32Array/,
    );
    expect(await readFile(path, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['keep.safetensors']);
  });

  it('rejects bad plans before creating anything', async () => {
    const dir = await tempDir();
    const p = join(dir, 'x.safetensors');
    const one = new Float32Array(1);
    await expectFluxError(
      writeSafetensors(p, [
        { name: 'a', dtype: 'F32', shape: [1], data: one },
        { name: 'a', dtype: 'F32', shape: [1], data: one },
      ]),
      CODE,
      /"a": listed twice/,
    );
    await expectFluxError(
      writeSafetensors(p, [{ name: '__metadata__', dtype: 'F32', shape: [1], data: one }]),
      CODE,
      /reserved/,
    );
    await expectFluxError(
      writeSafetensors(p, [{ name: 'a', dtype: 'F32', shape: [-1], data: one }]),
      CODE,
      /shape/,
    );
    await expectFluxError(
      writeSafetensors(p, [{ name: 'a', dtype: 'I8' as 'F32', shape: [1], data: one }]),
      CODE,
      /cannot write dtype I8/,
    );
    await expectFluxError(
      writeSafetensors(p, [], { step: 5 as unknown as string }),
      CODE,
      /metadata value for "step" must be a string/,
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports an unwritable destination as a coded error', async () => {
    const path = join(await tempDir(), 'missing-dir', 'x.safetensors');
    await expectFluxError(writeSafetensors(path, []), CODE, /cannot write/);
  });

  it('writes a valid file with no tensors', async () => {
    const path = join(await tempDir(), 'none.safetensors');
    await writeSafetensors(path, []);
    const f = await SafetensorsFile.open(path);
    expect(f.tensors.size).toBe(0);
    await f.close();
  });
});
