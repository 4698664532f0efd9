import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  inMemoryWeights,
  openCheckpoint,
  prefixStripped,
  type WeightSource,
} from '../../src/weights/checkpoint.js';
import { writeSafetensors } from '../../src/weights/safetensors-writer.js';
import { expectFluxError, expectFluxThrow, safetensorsBytes, tempDir, tempFile } from './fixtures.js';

const ST = 'FLUX_ERR_SAFETENSORS';
const W = 'FLUX_ERR_WEIGHTS';

async function shard(dir: string, file: string, names: readonly string[]): Promise<string> {
  const path = join(dir, file);
  await writeSafetensors(
    path,
    names.map((name, i) => ({ name, dtype: 'F32', shape: [2], data: new Float32Array([i, -i]) })),
  );
  return path;
}

async function index(dir: string, weightMap: Record<string, string>, file = 'model.safetensors.index.json') {
  const path = join(dir, file);
  await writeFile(path, JSON.stringify({ metadata: { total_size: 123 }, weight_map: weightMap }));
  return path;
}

async function withSource<T>(source: WeightSource, fn: (s: WeightSource) => Promise<T>): Promise<T> {
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}

describe('openCheckpoint: single files', () => {
  it('converts F32, F16, BF16 and F64 to both float widths', async () => {
    const dir = await tempDir();
    const values = new Float32Array([1, -2, 0.5, 3]); // exact in every format
    await writeSafetensors(join(dir, 'a.safetensors'), [
      { name: 'f32', dtype: 'F32', shape: [2, 2], data: values },
      { name: 'f16', dtype: 'F16', shape: [4], data: values },
      { name: 'bf16', dtype: 'BF16', shape: [4], data: values },
    ]);
    const f64 = new Uint8Array(new Float64Array([1, -2, 0.5, 1 + 2 ** -11 + 2 ** -40]).buffer);
    const i32 = new Uint8Array(new Int32Array([7]).buffer);
    const raw = safetensorsBytes(
      {
        f64: { dtype: 'F64', shape: [4], data_offsets: [0, 32] },
        i32: { dtype: 'I32', shape: [1], data_offsets: [32, 36] },
      },
      new Uint8Array([...f64, ...i32]),
    );
    const other = await tempFile('b.safetensors', raw, dir);
    await withSource(await openCheckpoint([join(dir, 'a.safetensors'), other]), async (w) => {
      expect(w.names()).toEqual(['bf16', 'f16', 'f32', 'f64', 'i32']);
      expect(w.has('f32')).toBe(true);
      expect(w.has('nope')).toBe(false);
      expect(w.info('f32')).toEqual({ dtype: 'F32', shape: [2, 2] });
      expect(w.info('i32')).toEqual({ dtype: 'I32', shape: [1] });
      for (const name of ['f32', 'f16', 'bf16']) {
        expect([...(await w.readF32(name))], name).toEqual([1, -2, 0.5, 3]);
        expect([...(await w.readF16(name))], name).toEqual([0x3c00, 0xc000, 0x3800, 0x4200]);
      }
      expect([...(await w.readF32('f64'))]).toEqual([1, -2, 0.5, Math.fround(1 + 2 ** -11)]);
      expect([...(await w.readF16('f64'))]).toEqual([0x3c00, 0xc000, 0x3800, 0x3c01]);
      await expectFluxError(w.readF32('i32'), W, /"i32" has dtype I32/);
      await expectFluxError(w.readF16('i32'), W, /"i32" has dtype I32/);
    });
  });

  it('names a missing tensor', async () => {
    const dir = await tempDir();
    await withSource(await openCheckpoint([await shard(dir, 'a.safetensors', ['x'])]), async (w) => {
      expectFluxThrow(
        () => w.info('double_blocks.0.img_attn.qkv.weight'),
        W,
        /"double_blocks\.0\.img_attn\.qkv\.weight"/,
      );
      await expectFluxError(w.readF32('missing'), W, /"missing" is not in the checkpoint/);
      await expectFluxError(w.readF16('missing'), W, /"missing"/);
    });
  });

  it('rejects a tensor that appears in two files, naming both', async () => {
    const dir = await tempDir();
    const a = await shard(dir, 'a.safetensors', ['x', 'y']);
    const b = await shard(dir, 'b.safetensors', ['y']);
    const err = await expectFluxError(openCheckpoint([a, b]), ST, /"y" is also in/);
    expect(err.message).toContain('a.safetensors');
    expect(err.message).toContain('b.safetensors');
  });

  it('opens a file named twice only once', async () => {
    const dir = await tempDir();
    const a = await shard(dir, 'a.safetensors', ['x']);
    await withSource(await openCheckpoint([a, join(dir, '.', 'a.safetensors')]), async (w) => {
      expect(w.names()).toEqual(['x']);
    });
  });

  it('rejects an empty path list and hostile files', async () => {
    await expectFluxError(openCheckpoint([]), W, /no checkpoint files/);
    const hostile = await tempFile('h.safetensors', safetensorsBytes({}, undefined, 2n ** 60n));
    await expectFluxError(openCheckpoint([hostile]), ST, /header length/);
  });
});

describe('openCheckpoint: sharded', () => {
  it('loads every tensor through an HF index', async () => {
    const dir = await tempDir();
    await shard(dir, 'model-00001-of-00002.safetensors', ['a.weight', 'b.weight']);
    await mkdir(join(dir, 'sub'));
    await shard(dir, 'sub/model-00002-of-00002.safetensors', ['c.weight']);
    const idx = await index(dir, {
      'a.weight': 'model-00001-of-00002.safetensors',
      'b.weight': 'model-00001-of-00002.safetensors',
      'c.weight': 'sub/model-00002-of-00002.safetensors',
    });
    await withSource(await openCheckpoint([idx]), async (w) => {
      expect(w.names()).toEqual(['a.weight', 'b.weight', 'c.weight']);
      expect([...(await w.readF32('b.weight'))]).toEqual([1, -1]);
      expect([...(await w.readF32('c.weight'))]).toEqual([0, -0]);
    });
  });

  it('combines an index with a separate file', async () => {
    const dir = await tempDir();
    await shard(dir, 's1.safetensors', ['a']);
    const idx = await index(dir, { a: 's1.safetensors' });
    const extra = await shard(dir, 'te.safetensors', ['t5.x']);
    await withSource(await openCheckpoint([idx, extra]), async (w) =>
      expect(w.names()).toEqual(['a', 't5.x']),
    );
  });

  it('rejects shard names that leave the index folder', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'model'));
    await shard(dir, 'outside.safetensors', ['a']);
    for (const bad of ['../outside.safetensors', 'x/../../outside.safetensors', '..\\outside.safetensors']) {
      const idx = await index(join(dir, 'model'), { a: bad });
      await expectFluxError(openCheckpoint([idx]), ST, /leaves the index's folder/);
    }
    for (const bad of [join(dir, 'outside.safetensors'), 'C:\\x.safetensors', '\\\\server\\share\\x']) {
      const idx = await index(join(dir, 'model'), { a: bad });
      await expectFluxError(openCheckpoint([idx]), ST, /absolute path/);
    }
  });

  it('rejects a missing shard, a misplaced tensor and malformed indexes', async () => {
    const dir = await tempDir();
    await shard(dir, 's1.safetensors', ['a']);
    await shard(dir, 's2.safetensors', ['b']);
    const missing = await index(dir, { a: 's1.safetensors', b: 'gone.safetensors' }, 'm.index.json');
    await expectFluxError(openCheckpoint([missing]), ST, /gone\.safetensors: cannot open/);
    const misplaced = await index(dir, { a: 's1.safetensors', b: 's1.safetensors' }, 'w.index.json');
    await expectFluxError(
      openCheckpoint([misplaced]),
      ST,
      /weight_map puts "b" in .*s1\.safetensors, which lacks it/,
    );
    const noMap = await tempFile('n.index.json', '{"metadata":{}}', dir);
    await expectFluxError(openCheckpoint([noMap]), ST, /no weight_map object/);
    const badJson = await tempFile('j.index.json', '{"weight_map":', dir);
    await expectFluxError(openCheckpoint([badJson]), ST, /index is not valid JSON/);
    const badShard = await index(dir, { a: 7 as unknown as string }, 'x.index.json');
    await expectFluxError(openCheckpoint([badShard]), ST, /must be a non-empty string/);
    await expectFluxError(openCheckpoint([join(dir, 'absent.index.json')]), ST, /cannot read index/);
  });
});

describe('prefixStripped', () => {
  const tensors = (names: string[]) =>
    inMemoryWeights(new Map(names.map((n, i) => [n, { shape: [1], data: new Float32Array([i]) }])));

  it('strips a prefix every name shares', async () => {
    const inner = tensors(['model.diffusion_model.img_in.bias', 'model.diffusion_model.img_in.weight']);
    const w = prefixStripped(inner, 'model.diffusion_model.');
    expect(w.names()).toEqual(['img_in.bias', 'img_in.weight']);
    expect(w.has('img_in.weight')).toBe(true);
    expect(w.has('model.diffusion_model.img_in.weight')).toBe(false);
    expect(w.info('img_in.weight')).toEqual({ dtype: 'F32', shape: [1] });
    expect([...(await w.readF32('img_in.weight'))]).toEqual([1]);
    expect([...(await w.readF16('img_in.weight'))]).toEqual([0x3c00]);
    expectFluxThrow(() => w.info('nope'), W, /model\.diffusion_model\.nope/);
    await w.close();
  });

  it('returns the source unchanged unless every name has the prefix', () => {
    const mixed = tensors(['model.diffusion_model.a', 'vae.b']);
    expect(prefixStripped(mixed, 'model.diffusion_model.')).toBe(mixed);
    expect(prefixStripped(mixed, '')).toBe(mixed);
    const none = tensors([]);
    expect(prefixStripped(none, 'x.')).toBe(none);
  });
});

describe('inMemoryWeights', () => {
  it('serves float32 tensors as F32', async () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const w = inMemoryWeights(new Map([['w', { shape: [2, 3], data }]]));
    expect(w.names()).toEqual(['w']);
    expect(w.info('w')).toEqual({ dtype: 'F32', shape: [2, 3] });
    expect(await w.readF32('w')).toBe(data);
    expect([...(await w.readF16('w'))]).toEqual([0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600]);
    await expectFluxError(w.readF32('x'), W, /"x"/);
  });

  it('rejects data that does not fit the shape', () => {
    expectFluxThrow(
      () => inMemoryWeights(new Map([['w', { shape: [2, 3], data: new Float32Array(5) }]])),
      W,
      /"w" has 5 values but shape \[2,3\] needs 6/,
    );
    expectFluxThrow(
      () => inMemoryWeights(new Map([['w', { shape: [-1], data: new Float32Array(1) }]])),
      W,
      /invalid shape/,
    );
  });
});
