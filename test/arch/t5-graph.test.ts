/**
 * The built T5 encoder graph against the independent float64 reference (test/reference), on a tiny
 * random encoder with the real vocabulary size, for both operator variants and both dtypes; the
 * float16 overflow plan on weights that push the residual stream past 65504; and a sharded
 * checkpoint behind an HF index.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeDType, OpsVariant } from '../../src/arch/build-context.js';
import { randomT5Tensors } from '../../src/arch/random-t5.js';
import { buildT5Encoder, type T5BuildOptions } from '../../src/arch/t5.js';
import { parseT5Config, type T5Config } from '../../src/arch/t5-config.js';
import { writeModel } from '../../src/onnx/model-writer.js';
import { inMemoryWeights, openCheckpoint, type WeightSource } from '../../src/weights/checkpoint.js';
import { seededNormal } from '../../src/weights/random.js';
import { writeSafetensors } from '../../src/weights/safetensors-writer.js';
import { type T5RefTensor, t5Reference } from '../reference/t5-reference.js';
import { relativeError } from '../support/numerics.js';
import { runT5 } from '../support/t5-session.js';

const TINY: T5Config = parseT5Config({
  vocab_size: 32128,
  d_model: 32,
  d_kv: 8,
  num_heads: 4,
  d_ff: 64,
  num_layers: 2,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  feed_forward_proj: 'gated-gelu',
});

type F32Tensors = Map<string, { shape: readonly number[]; data: Float32Array }>;

let root: string;
let weights: F32Tensors;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 't5-graph-'));
  weights = new Map(randomT5Tensors(TINY, 5).map((t) => [t.name, { shape: t.shape, data: t.values() }]));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function asReference(tensors: F32Tensors): Map<string, T5RefTensor> {
  return new Map([...tensors].map(([k, t]) => [k, { shape: t.shape, data: Float64Array.from(t.data) }]));
}

async function readAll(w: WeightSource): Promise<Map<string, T5RefTensor>> {
  const all = new Map<string, T5RefTensor>();
  for (const name of w.names())
    all.set(name, { shape: w.info(name).shape, data: Float64Array.from(await w.readF32(name)) });
  return all;
}

async function build(
  name: string,
  source: WeightSource,
  options: T5BuildOptions,
): Promise<ort.InferenceSession> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'text_encoder_2.onnx');
  await writeModel(buildT5Encoder(TINY, source, options), path);
  return ort.InferenceSession.create(path);
}

/** Realistic T5 ids: content pieces (some `<extra_id_*>` near the top of the vocab), `</s>` = 1, `<pad>` = 0. */
function tokenIds(seed: number, batch: number, seq: number): number[] {
  const randn = seededNormal(seed);
  const ids: number[] = [];
  for (let b = 0; b < batch; b++) {
    const content = Math.max(1, seq - 1 - 3 * (b + 1)); // batch items of different lengths, then padding
    for (let s = 0; s < seq; s++) {
      if (s < Math.min(content, seq - 1)) {
        const u = Math.abs(randn.next()) * 1e4;
        ids.push(s % 5 === 4 ? 32127 - (Math.floor(u) % 100) : 3 + (Math.floor(u * 7) % 31997));
      } else ids.push(s === Math.min(content, seq - 1) ? 1 : 0);
    }
  }
  return ids;
}

async function run(
  session: ort.InferenceSession,
  ids: number[],
  batch: number,
  seq: number,
): Promise<Float32Array> {
  const out = await runT5(session, ids, batch, seq);
  expect(out.dims).toEqual([batch, seq, TINY.dModel]);
  return out.data;
}

/** max |a - b| / max |b|: the error relative to the output's scale. */

function allFinite(x: Float32Array): boolean {
  return x.every((v) => Number.isFinite(v));
}

describe('tiny T5 encoder graph', () => {
  const sessions = new Map<string, ort.InferenceSession>();
  const session = (dtype: ComputeDType, ops: OpsVariant) =>
    sessions.get(`${dtype}-${ops}`) as ort.InferenceSession;

  beforeAll(async () => {
    for (const dtype of ['float32', 'float16'] as const) {
      for (const ops of ['fused', 'plain'] as const)
        sessions.set(
          `${dtype}-${ops}`,
          await build(`${dtype}-${ops}`, inMemoryWeights(weights), { dtype, ops }),
        );
    }
  });

  it.each([
    ['fused', 7],
    ['fused', 40],
    ['plain', 7],
    ['plain', 40],
    ['fused', 300],
    ['plain', 300],
  ] as const)('fp32 %s at seq %i matches the float64 reference within 1e-4', async (ops, seq) => {
    const ids = tokenIds(seq, 2, seq);
    const expected = t5Reference(TINY, asReference(weights), ids, 2, seq).hidden;
    const got = await run(session('float32', ops), ids, 2, seq);
    expect(relativeError(got, expected)).toBeLessThan(1e-4);
  });

  it('the position bias really acts (a zero table changes the output)', () => {
    const ids = tokenIds(3, 1, 40);
    const ref = asReference(weights);
    const key = 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight';
    const zeroed = new Map(ref).set(key, { shape: [32, 4], data: new Float64Array(128) });
    expect(
      relativeError(t5Reference(TINY, zeroed, ids, 1, 40).hidden, t5Reference(TINY, ref, ids, 1, 40).hidden),
    ).toBeGreaterThan(1e-2);
  });

  it.each(['fused', 'plain'] as const)('fp16 %s stays within 5e-3 of the reference', async (ops) => {
    for (const seq of [7, 40]) {
      const ids = tokenIds(100 + seq, 2, seq);
      const expected = t5Reference(TINY, asReference(weights), ids, 2, seq).hidden;
      const got = await run(session('float16', ops), ids, 2, seq);
      const err = relativeError(got, expected);
      expect(err).toBeLessThan(5e-3); // measured 1.4e-3 to 2.1e-3
      expect(err).toBeGreaterThan(1e-5); // it really ran in half precision
    }
  });

  it('the fused graph uses MultiHeadAttention with scale 1.0 and the bias as attention_bias', () => {
    const graph = buildT5Encoder(TINY, inMemoryWeights(weights), { dtype: 'float32', ops: 'fused' });
    const mha = graph.nodes.filter((n) => n.opType === 'MultiHeadAttention');
    expect(mha).toHaveLength(TINY.numLayers);
    for (const n of mha) {
      expect(n.domain).toBe('com.microsoft');
      expect(n.inputs.slice(3, 5)).toEqual(['', '']);
      expect(n.inputs[5]).toBe(mha[0]?.inputs[5]); // one bias, shared by every block
      const scale = n.attributes.find((a) => a.name === 'scale');
      expect(scale?.f).toBe(1);
      expect(scale?.type).toBe(1); // FLOAT
    }
    expect(graph.inputs).toEqual([{ name: 'input_ids', dtype: 'int64', dims: ['batch', 'seq'] }]);
    expect(graph.outputs).toEqual([{ name: 'hidden', dtype: 'float32', dims: ['batch', 'seq', 32] }]);
    const plain = buildT5Encoder(TINY, inMemoryWeights(weights), { dtype: 'float32', ops: 'plain' });
    expect(plain.nodes.filter((n) => n.domain !== '')).toEqual([]);
  });
});

describe('float16 overflow plan', () => {
  // wo scaled so that the FFN output, and with it the residual stream, far exceeds 65504.
  const WO_SCALE = 5e4;
  let scaled: F32Tensors;

  beforeAll(() => {
    scaled = new Map(weights);
    for (const [name, t] of weights) {
      if (name.endsWith('DenseReluDense.wo.weight'))
        scaled.set(name, { shape: t.shape, data: t.data.map((v) => v * WO_SCALE) });
    }
  });

  it('keeps the fp16 graph finite and close to fp32 where the residual exceeds the fp16 range', async () => {
    const seq = 40;
    const ids = tokenIds(77, 2, seq);
    const ref = t5Reference(TINY, asReference(scaled), ids, 2, seq);
    expect(ref.maxAbsResidual).toBeGreaterThan(65504 * 2);
    const fp32 = await run(
      await build('overflow-fp32', inMemoryWeights(scaled), { dtype: 'float32', ops: 'fused' }),
      ids,
      2,
      seq,
    );
    expect(relativeError(fp32, ref.hidden)).toBeLessThan(1e-4);
    for (const ops of ['fused', 'plain'] as const) {
      const fp16 = await run(
        await build(`overflow-fp16-${ops}`, inMemoryWeights(scaled), { dtype: 'float16', ops }),
        ids,
        2,
        seq,
      );
      expect(allFinite(fp16)).toBe(true);
      expect(relativeError(fp16, ref.hidden)).toBeLessThan(1e-2); // measured 2.8e-3 fused, 3.4e-3 plain
    }
  });

  it('without ffnFp32, wo in fp16 saturates: finite but wrong (why the plan keeps wo in fp32)', async () => {
    const seq = 40;
    const ids = tokenIds(77, 2, seq);
    const ref = t5Reference(TINY, asReference(scaled), ids, 2, seq);
    const fp16 = await run(
      await build('overflow-fp16-wo16', inMemoryWeights(scaled), {
        dtype: 'float16',
        ops: 'fused',
        ffnFp32: false,
      }),
      ids,
      2,
      seq,
    );
    expect(allFinite(fp16)).toBe(true);
    expect(relativeError(fp16, ref.hidden)).toBeGreaterThan(5e-2);
  });
});

describe('sharded checkpoint', () => {
  it('opens an HF-style index over two shards (BF16 + F32, embed_tokens naming) and builds', async () => {
    const dir = join(root, 'sharded');
    await mkdir(dir, { recursive: true });
    const tensors = [...weights].map(([name, t]) => ({
      name: name === 'shared.weight' ? 'encoder.embed_tokens.weight' : name,
      shape: t.shape,
      data: t.data,
    }));
    const half = Math.ceil(tensors.length / 2);
    const shards = [
      { file: 'model-00001-of-00002.safetensors', dtype: 'BF16' as const, tensors: tensors.slice(0, half) },
      { file: 'model-00002-of-00002.safetensors', dtype: 'F32' as const, tensors: tensors.slice(half) },
    ];
    const weightMap: Record<string, string> = {};
    for (const s of shards) {
      await writeSafetensors(
        join(dir, s.file),
        s.tensors.map((t) => ({ ...t, dtype: s.dtype })),
        { format: 'pt' },
      );
      for (const t of s.tensors) weightMap[t.name] = s.file;
    }
    const indexPath = join(dir, 'model.safetensors.index.json');
    await writeFile(indexPath, JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));

    const source = await openCheckpoint([indexPath]);
    try {
      expect(source.info('encoder.embed_tokens.weight').dtype).toBe('BF16');
      const ref = await readAll(source);
      const session = await build('sharded-model', source, { dtype: 'float32', ops: 'fused' });
      const ids = tokenIds(9, 2, 16);
      const expected = t5Reference(TINY, ref, ids, 2, 16).hidden;
      expect(relativeError(await run(session, ids, 2, 16), expected)).toBeLessThan(1e-4);
    } finally {
      await source.close();
    }
  });
});
