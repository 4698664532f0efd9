/**
 * The graph core and model writer: what lands on disk (decoded with onnx-buf, independently of the
 * writer) and what ONNX Runtime computes from it.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float } from '../../src/onnx/attributes.js';
import { Graph } from '../../src/onnx/graph.js';
import { writeModel } from '../../src/onnx/model-writer.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'onnx-writer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** y = LayerNorm(x · W + b) with W [3, 2048] (a page-sized weight) and b [2048]. */
function smallGraph(): { g: Graph; w: Float32Array; bias: Float32Array } {
  const g = new Graph('small');
  const w = Float32Array.from({ length: 3 * 2048 }, (_, i) => Math.sin(i));
  const bias = Float32Array.from({ length: 2048 }, (_, i) => i / 2048);
  g.input('x', 'float32', ['batch', 3]);
  const wName = g.initializer('w', 'float32', [3, 2048], () => new Uint8Array(w.buffer));
  const bName = g.initializer('b', 'float32', [2048], () => new Uint8Array(bias.buffer));
  const y = g.node('/add', 'Add', [g.node('/matmul', 'MatMul', ['x', wName]), bName]);
  const ones = g.constant('float32', [2048], new Array(2048).fill(1));
  const zeros = g.constant('float32', [2048], new Array(2048).fill(0));
  const n = g.node('/ln', 'LayerNormalization', [y, ones, zeros], { axis: -1, epsilon: float(1e-6) });
  g.output(n, 'y', 'float32', ['batch', 2048]);
  return { g, w, bias };
}

describe('writeModel', () => {
  it('puts every weight in one aligned external file and keeps shape constants inline', async () => {
    const { g } = smallGraph();
    const written = await writeModel(g, join(dir, 'small.onnx'));
    const model = fromBinary(ModelProtoSchema, await readFile(written.modelPath));
    expect(model.irVersion).toBe(10n);
    expect(model.opsetImport.map((o) => [o.domain, o.version])).toEqual([
      ['', 21n],
      ['com.microsoft', 1n],
    ]);
    const byName = new Map(model.graph?.initializer.map((t) => [t.name, t]));
    for (const name of ['w', 'b']) {
      const t = byName.get(name);
      expect(t?.dataLocation).toBe(TensorProto_DataLocation.EXTERNAL);
      const kv = Object.fromEntries(t?.externalData.map((e) => [e.key, e.value]) ?? []);
      expect(kv.location).toBe('small.onnx.data');
      expect(Number(kv.offset) % 64).toBe(0);
    }
    const wOffset = Number(byName.get('w')?.externalData.find((e) => e.key === 'offset')?.value);
    expect(wOffset % 4096).toBe(0); // page-sized tensors are page-aligned for mmap
    const constant = [...byName.values()].find((t) => t.name.startsWith('/constants/'));
    expect(constant?.dataLocation).toBe(TensorProto_DataLocation.DEFAULT);
    expect(constant?.rawData.byteLength).toBe(2048 * 4);
    expect(model.graph?.input.map((i) => i.name)).toEqual(['x']);
    expect(model.graph?.output.map((o) => o.name)).toEqual(['y']);
    expect((await readdir(dir)).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('runs in ONNX Runtime and matches a direct computation', async () => {
    const { g, w, bias } = smallGraph();
    await writeModel(g, join(dir, 'run.onnx'));
    const session = await ort.InferenceSession.create(join(dir, 'run.onnx'));
    const x = Float32Array.of(1, -2, 0.5, 3, 0, -1);
    const { y } = await session.run({ x: new ort.Tensor('float32', x, [2, 3]) });
    const out = y?.data as Float32Array;
    for (let r = 0; r < 2; r++) {
      const row = Array.from({ length: 2048 }, (_, j) => {
        let s = bias[j] as number;
        for (let k = 0; k < 3; k++) s += (x[r * 3 + k] as number) * (w[k * 2048 + j] as number);
        return s;
      });
      const mean = row.reduce((a, v) => a + v, 0) / 2048;
      const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / 2048;
      for (let j = 0; j < 2048; j += 97) {
        expect(out[r * 2048 + j]).toBeCloseTo(((row[j] as number) - mean) / Math.sqrt(variance + 1e-6), 4);
      }
    }
  });

  it('fails on a producer that yields the wrong byte count and leaves no files', async () => {
    const g = new Graph('bad');
    g.input('x', 'float32', [2]);
    const w = g.initializer('w', 'float32', [2], () => new Uint8Array(4));
    g.output(g.node('/add', 'Add', ['x', w]), 'y', 'float32', [2]);
    await expect(writeModel(g, join(dir, 'bad.onnx'))).rejects.toThrow(/w: produced 4 bytes, expected 8/);
    expect((await readdir(dir)).filter((f) => f.startsWith('bad'))).toEqual([]);
  });
});

describe('Graph', () => {
  it('rejects a node reading a value that does not exist yet', () => {
    const g = new Graph('g');
    g.input('x', 'float32', [1]);
    expect(() => g.node('/n', 'Relu', ['nope'])).toThrow(/node \/n \(Relu\) reads nope/);
  });

  it('rejects two values with one name', () => {
    const g = new Graph('g');
    g.input('x', 'float32', [1]);
    g.node('/n', 'Relu', ['x']);
    expect(() => g.node('/n', 'Relu', ['x'])).toThrow(/defined twice/);
  });

  it('shares one constant per value', () => {
    const g = new Graph('g');
    expect(g.constant('int64', [2], [0, -1])).toBe(g.constant('int64', [2], [0, -1]));
    expect(g.constant('int64', [2], [0, -1])).not.toBe(g.constant('int64', [2], [0, 1]));
    expect(g.initializers).toHaveLength(2);
  });
});
