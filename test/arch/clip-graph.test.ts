/**
 * The built CLIP text encoder graph against the independent float64 reference (test/reference), on a
 * tiny random CLIP (real vocabulary and length, toy width), for both operator variants and dtypes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeDType, OpsVariant } from '../../src/arch/build-context.js';
import { buildClipText, CLIP_IO } from '../../src/arch/clip.js';
import { type ClipTextConfig, parseClipTextConfig } from '../../src/arch/clip-config.js';
import { clipLinears, clipTensors } from '../../src/arch/clip-layers.js';
import { parameterCount } from '../../src/arch/param-tensor.js';
import { randomClipTensors } from '../../src/arch/random-clip.js';
import { writeModel } from '../../src/onnx/model-writer.js';
import { inMemoryWeights, type WeightSource } from '../../src/weights/checkpoint.js';
import { seededNormal } from '../../src/weights/random.js';
import { type ClipRefTensor, clipReference } from '../reference/clip-reference.js';
import { relativeError } from '../support/numerics.js';

const BOS = 49406;
const EOS = 49407;

/** Toy width, real vocabulary, length and special ids; eos_token_id 2 as in FLUX's text_encoder/config.json. */
const TINY = {
  vocab_size: 49408,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  max_position_embeddings: 77,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
  bos_token_id: 0,
  eos_token_id: 2,
  pad_token_id: 1,
};

/**
 * fp16 max-abs-error / max-abs against the float64 reference, measured over weight seeds 5-7 on CPU:
 * hidden 6.6e-4 to 1.3e-3, pooled 6.0e-4 to 9.5e-4 (fused and plain alike); fp32 is ~4e-7.
 */
const FP16_TOLERANCE = 5e-3;

let root: string;
const c: ClipTextConfig = parseClipTextConfig(TINY);
const weights = new Map<string, { shape: readonly number[]; data: Float32Array }>();
const sessions = new Map<string, ort.InferenceSession>();

function lookup(name: string): ClipRefTensor {
  const t = weights.get(name);
  if (!t) throw new Error(`no weight ${name}`);
  return { shape: t.shape, data: Float64Array.from(t.data) };
}

/** BOS, `content` random tokens, EOS, then `pad` up to 77. */
function prompt(seed: number, content: number, pad = EOS): number[] {
  const randn = seededNormal(seed);
  const ids = [BOS];
  for (let i = 0; i < content; i++) ids.push(Math.floor(Math.abs(randn.next()) * 7919 * 5) % BOS);
  ids.push(EOS);
  while (ids.length < c.maxPositions) ids.push(pad);
  return ids;
}

async function run(
  session: ort.InferenceSession,
  ids: readonly (readonly number[])[],
): Promise<{ pooled: Float32Array; hidden: Float32Array }> {
  const flat = BigInt64Array.from(ids.flat(), (v) => BigInt(v));
  const result = await session.run({
    [CLIP_IO.inputIds]: new ort.Tensor('int64', flat, [ids.length, c.maxPositions]),
  });
  const pooled = result[CLIP_IO.pooled];
  const hidden = result[CLIP_IO.hidden];
  if (!pooled || !hidden) throw new Error('missing output');
  expect(pooled.type).toBe('float32');
  expect(hidden.type).toBe('float32');
  expect(pooled.dims).toEqual([ids.length, c.hiddenSize]);
  expect(hidden.dims).toEqual([ids.length, c.maxPositions, c.hiddenSize]);
  return { pooled: pooled.data as Float32Array, hidden: hidden.data as Float32Array };
}

function session(dtype: ComputeDType, ops: OpsVariant): ort.InferenceSession {
  const s = sessions.get(`${dtype}-${ops}`);
  if (!s) throw new Error(`no session ${dtype}-${ops}`);
  return s;
}

/** Tokens [0, n) of every batch item of a [B, 77, D] array. */
function prefix(hidden: Float32Array, batch: number, n: number): Float32Array {
  const d = c.hiddenSize;
  const out = new Float32Array(batch * n * d);
  for (let b = 0; b < batch; b++)
    out.set(hidden.subarray(b * c.maxPositions * d, (b * c.maxPositions + n) * d), b * n * d);
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'clip-graph-'));
  for (const t of randomClipTensors(c, 5)) weights.set(t.name, { shape: t.shape, data: t.values() });
  for (const dtype of ['float32', 'float16'] as const) {
    for (const ops of ['fused', 'plain'] as const) {
      const path = join(root, `clip-${dtype}-${ops}.onnx`);
      await writeModel(buildClipText(c, inMemoryWeights(weights), { dtype, ops }), path);
      sessions.set(`${dtype}-${ops}`, await ort.InferenceSession.create(path));
    }
  }
});

afterAll(async () => {
  for (const s of sessions.values()) await s.release();
  await rm(root, { recursive: true, force: true });
});

describe('tiny CLIP text graph', () => {
  // EOS at 6, 21 and 76 (a full 75-token prompt); padding after it is EOS too, so "first" matters.
  const batch = [prompt(1, 5), prompt(2, 20), prompt(3, 75)];

  it('has the I/O contract: int64 input_ids [batch, 77] → float32 pooled and hidden', () => {
    const s = session('float32', 'fused');
    expect(s.inputNames).toEqual([CLIP_IO.inputIds]);
    expect([...s.outputNames].sort()).toEqual([CLIP_IO.hidden, CLIP_IO.pooled].sort());
    expect(c.eosTokenId).toBe(EOS); // legacy eos_token_id 2 pools at 49407
  });

  it.each(['fused', 'plain'] as const)('fp32 %s matches the float64 reference within 1e-4', async (ops) => {
    const expected = clipReference(c, lookup, batch, EOS);
    expect(expected.eosIndex).toEqual([6, 21, 76]);
    const got = await run(session('float32', ops), batch);
    expect(relativeError(got.hidden, expected.hidden)).toBeLessThan(1e-4);
    expect(relativeError(got.pooled, expected.pooled)).toBeLessThan(1e-4);
  });

  it.each(['fused', 'plain'] as const)(
    `fp16 %s stays within ${FP16_TOLERANCE} of the float64 reference`,
    async (ops) => {
      const expected = clipReference(c, lookup, batch, EOS);
      const got = await run(session('float16', ops), batch);
      const errHidden = relativeError(got.hidden, expected.hidden);
      const errPooled = relativeError(got.pooled, expected.pooled);
      expect(errHidden).toBeLessThan(FP16_TOLERANCE);
      expect(errPooled).toBeLessThan(FP16_TOLERANCE);
      expect(errHidden).toBeGreaterThan(1e-5); // it really ran in half precision
    },
  );

  it('pools the first EOS, and position 0 for a row without any EOS', async () => {
    const noEos = prompt(4, 10, 320).map((id) => (id === EOS ? 320 : id));
    const expected = clipReference(c, lookup, [noEos, prompt(5, 0)], EOS);
    expect(expected.eosIndex).toEqual([0, 1]);
    const got = await run(session('float32', 'fused'), [noEos, prompt(5, 0)]);
    expect(relativeError(got.pooled, expected.pooled)).toBeLessThan(1e-4);
  });

  describe.each(['float32', 'float16'] as const)('%s causal mask', (dtype) => {
    it.each(['fused', 'plain'] as const)(
      '%s: later tokens change neither earlier states nor pooled',
      async (ops) => {
        const s = session(dtype, ops);
        const p = 12; // EOS of prompt(6, 11) sits at 12
        const a = prompt(6, 11);
        const b = a.map((id, i) => (i > p ? (i * 37) % BOS : id)); // new padding ids after the EOS
        const c2 = a.map((id, i) => (i === 4 ? (id + 1000) % BOS : id)); // a change before p
        const [ra, rb, rc] = [await run(s, [a]), await run(s, [b]), await run(s, [c2])];
        expect(relativeError(prefix(rb.hidden, 1, p + 1), prefix(ra.hidden, 1, p + 1))).toBeLessThan(1e-6);
        expect(relativeError(rb.pooled, ra.pooled)).toBeLessThan(1e-6);
        expect(relativeError(rb.hidden, ra.hidden)).toBeGreaterThan(1e-2); // the later rows did change
        // A token before p changes everything from there on, including the pooled state.
        expect(relativeError(prefix(rc.hidden, 1, 4), prefix(ra.hidden, 1, 4))).toBeLessThan(1e-6);
        expect(relativeError(rc.pooled, ra.pooled)).toBeGreaterThan(1e-2);
      },
    );
  });
});

describe('CLIP layer table and config', () => {
  it('real CLIP-L has 196 tensors and 123,060,480 parameters (flux.md §2.1: 123.06 M)', () => {
    const clipL = parseClipTextConfig({});
    const tensors = clipTensors(clipL);
    expect(tensors).toHaveLength(196);
    expect(parameterCount(tensors)).toBe(123_060_480);
    expect(clipLinears(clipL)).toHaveLength(72);
    const shapes = new Map(tensors.map((t) => [t.name, t.shape]));
    expect(shapes.get('text_model.embeddings.token_embedding.weight')).toEqual([49408, 768]);
    expect(shapes.get('text_model.embeddings.position_embedding.weight')).toEqual([77, 768]);
    expect(shapes.get('text_model.encoder.layers.11.self_attn.out_proj.weight')).toEqual([768, 768]);
    expect(shapes.get('text_model.encoder.layers.0.mlp.fc1.weight')).toEqual([3072, 768]);
    expect(shapes.get('text_model.encoder.layers.0.mlp.fc2.weight')).toEqual([768, 3072]);
    expect(shapes.get('text_model.encoder.layers.5.layer_norm2.bias')).toEqual([768]);
    expect(shapes.get('text_model.final_layer_norm.weight')).toEqual([768]);
  });

  it('builds the full-size CLIP-L graph lazily: 196 weights, 246,120,960 bytes in fp16', () => {
    const clipL = parseClipTextConfig({ eos_token_id: 2 });
    const table = new Map(clipTensors(clipL).map((t) => [t.name, t.shape]));
    const shapeOf = (name: string) => {
      const shape = table.get(name);
      if (!shape) throw new Error(`no tensor ${name}`);
      return shape;
    };
    const headerOnly: WeightSource = {
      names: () => [...table.keys()].sort(),
      has: (name) => table.has(name),
      info: (name) => ({ dtype: 'BF16', shape: shapeOf(name) }),
      readF32: () => Promise.reject(new Error('building must not read weights')),
      readF16: () => Promise.reject(new Error('building must not read weights')),
      close: async () => {},
    };
    for (const ops of ['fused', 'plain'] as const) {
      const g = buildClipText(clipL, headerOnly, { dtype: 'float16', ops });
      const w = g.initializers.filter((t) => !t.constant);
      expect(w).toHaveLength(196);
      expect(w.reduce((n, t) => n + t.byteLength, 0)).toBe(2 * 123_060_480);
      expect(g.inputs).toEqual([{ name: CLIP_IO.inputIds, dtype: 'int64', dims: ['batch', 77] }]);
      expect(g.outputs.map((o) => [o.name, o.dtype, o.dims])).toEqual([
        [CLIP_IO.pooled, 'float32', ['batch', 768]],
        [CLIP_IO.hidden, 'float32', ['batch', 77, 768]],
      ]);
    }
  });

  it('defaults are CLIP-L; FLUX text_encoder/config.json values parse', () => {
    expect(parseClipTextConfig({})).toEqual({
      vocabSize: 49408,
      hiddenSize: 768,
      intermediateSize: 3072,
      numLayers: 12,
      numHeads: 12,
      headDim: 64,
      maxPositions: 77,
      layerNormEps: 1e-5,
      eosTokenId: 49407,
    });
    expect(
      parseClipTextConfig({ eos_token_id: 2, projection_dim: 768, torch_dtype: 'bfloat16' }).eosTokenId,
    ).toBe(49407);
    expect(parseClipTextConfig({ eos_token_id: 49407 }).eosTokenId).toBe(49407);
  });

  it('rejects what the graph cannot honour', () => {
    expect(() => parseClipTextConfig({ hidden_act: 'gelu' })).toThrow(/hidden_act "gelu"/);
    expect(() => parseClipTextConfig({ hidden_size: 100 })).toThrow(/not a multiple of num_attention_heads/);
    expect(() => parseClipTextConfig({ num_hidden_layers: 0 })).toThrow(/num_hidden_layers/);
    expect(() => parseClipTextConfig({ eos_token_id: 50000 })).toThrow(/outside the vocabulary/);
    expect(() => parseClipTextConfig({ layer_norm_eps: -1 })).toThrow(/layer_norm_eps/);
    expect(() => parseClipTextConfig([])).toThrow(/not a JSON object/);
  });

  it('checks the checkpoint first, naming missing and mis-shaped tensors; ignores position_ids', () => {
    const broken = new Map(weights);
    broken.delete('text_model.encoder.layers.1.mlp.fc2.bias');
    broken.set('text_model.final_layer_norm.weight', { shape: [7], data: new Float32Array(7) });
    const build = () => buildClipText(c, inMemoryWeights(broken), { dtype: 'float32', ops: 'fused' });
    expect(build).toThrow(/missing text_model\.encoder\.layers\.1\.mlp\.fc2\.bias \[32\]/);
    expect(build).toThrow(/text_model\.final_layer_norm\.weight has shape \[7\], expected \[32\]/);
    const extra = new Map(weights);
    extra.set('text_model.embeddings.position_ids', { shape: [1, 77], data: new Float32Array(77) });
    expect(() => buildClipText(c, inMemoryWeights(extra), { dtype: 'float32', ops: 'plain' })).not.toThrow();
    extra.set('text_projection.weight', { shape: [32, 32], data: new Float32Array(32 * 32) });
    expect(() => buildClipText(c, inMemoryWeights(extra), { dtype: 'float32', ops: 'plain' })).toThrow(
      /unexpected tensor.*text_projection\.weight/,
    );
  });
});
