import { truncate } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../../src/weights/safetensors-file.js';
import { MAX_HEADER_BYTES } from '../../src/weights/safetensors-header.js';
import { expectFluxError, f32Bytes, safetensorsBytes, tempDir, tempFile } from './fixtures.js';

const CODE = 'FLUX_ERR_SAFETENSORS';

/** A 2x2 F32 tensor [[1, 2], [3, 4]] plus a BF16 bias, assembled byte by byte. */
function handMade(): Uint8Array {
  const header =
    '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}}';
  const data = new Uint8Array([
    ...[0x00, 0x00, 0x80, 0x3f], // 1.0f
    ...[0x00, 0x00, 0x00, 0x40], // 2.0f
    ...[0x00, 0x00, 0x40, 0x40], // 3.0f
    ...[0x00, 0x00, 0x80, 0x40], // 4.0f
    ...[0x80, 0x3f, 0x00, 0xc0], // bf16 1.0, -2.0
  ]);
  const len = header.length;
  const bytes = new Uint8Array(8 + len + data.length);
  bytes.set([len & 0xff, len >> 8, 0, 0, 0, 0, 0, 0], 0);
  bytes.set(
    [...header].map((c) => c.charCodeAt(0)),
    8,
  );
  bytes.set(data, 8 + len);
  return bytes;
}

describe('SafetensorsFile', () => {
  it('reads a hand-made file byte for byte', async () => {
    const bytes = handMade();
    const f = await SafetensorsFile.open(await tempFile('hand.safetensors', bytes));
    try {
      expect([...f.tensors.keys()].sort()).toEqual(['b', 'w']);
      expect(f.metadata).toEqual({ format: 'pt' });
      const w = f.tensors.get('w');
      expect(w).toMatchObject({ dtype: 'F32', shape: [2, 2], byteLength: 16 });
      expect(w?.byteOffset).toBe(bytes.length - 20);
      const raw = await f.readRaw('w');
      expect(raw.byteOffset).toBe(0);
      expect([...new Float32Array(raw.buffer)]).toEqual([1, 2, 3, 4]);
      expect([...(await f.readRaw('b'))]).toEqual([0x80, 0x3f, 0x00, 0xc0]);
    } finally {
      await f.close();
    }
  });

  it('names an unknown tensor and refuses reads after close', async () => {
    const f = await SafetensorsFile.open(await tempFile('hand.safetensors', handMade()));
    await expectFluxError(f.readRaw('nope'), CODE, /no tensor named "nope"/);
    await f.close();
    await f.close();
    await expectFluxError(f.readRaw('w'), CODE, /after close/);
  });

  it('rejects files shorter than the length field', async () => {
    await expectFluxError(
      SafetensorsFile.open(await tempFile('e', new Uint8Array(0))),
      CODE,
      /0 bytes, shorter/,
    );
    await expectFluxError(
      SafetensorsFile.open(await tempFile('s', new Uint8Array(7))),
      CODE,
      /7 bytes, shorter/,
    );
  });

  it('rejects a huge header length before allocating', async () => {
    const path = await tempFile('huge', safetensorsBytes({}, undefined, 2n ** 60n));
    await expectFluxError(
      SafetensorsFile.open(path),
      CODE,
      /header length 1152921504606846976 exceeds the 104857600/,
    );
    const max = await tempFile('max', safetensorsBytes({}, undefined, 2n ** 64n - 1n));
    await expectFluxError(SafetensorsFile.open(max), CODE, /exceeds the .*-byte limit/);
    const over = await tempFile('over', safetensorsBytes({}, undefined, BigInt(MAX_HEADER_BYTES + 1)));
    await expectFluxError(SafetensorsFile.open(over), CODE, /limit/);
  });

  it('rejects a header length beyond the file', async () => {
    const path = await tempFile('short', safetensorsBytes({}, undefined, 3n));
    await expectFluxError(
      SafetensorsFile.open(path),
      CODE,
      /header length 3 exceeds the file's remaining 2 bytes/,
    );
  });

  it('rejects bad JSON, unknown dtypes and offsets past EOF through open()', async () => {
    await expectFluxError(
      SafetensorsFile.open(await tempFile('j', safetensorsBytes('{"a":'))),
      CODE,
      /not valid JSON/,
    );
    const dtype = safetensorsBytes(
      { w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } },
      new Uint8Array(1),
    );
    await expectFluxError(SafetensorsFile.open(await tempFile('d', dtype)), CODE, /unknown dtype "Q4"/);
    const eof = safetensorsBytes({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32Bytes([1]));
    await expectFluxError(SafetensorsFile.open(await tempFile('o', eof)), CODE, /past the end of the file/);
  });

  it('reports a missing file as a coded error', async () => {
    const dir = await tempDir();
    await expectFluxError(
      SafetensorsFile.open(`${dir}/absent.safetensors`),
      CODE,
      /absent\.safetensors: cannot open/,
    );
  });

  it('fails cleanly when the file is truncated after opening', async () => {
    const path = await tempFile('t.safetensors', handMade());
    const f = await SafetensorsFile.open(path);
    try {
      await truncate(path, handMade().length - 10);
      await expectFluxError(f.readRaw('w'), CODE, /unexpected end of file/);
    } finally {
      await f.close();
    }
  });
});
