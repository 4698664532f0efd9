/**
 * T5 config parsing, the tensor table (real XXL parameter count), the relative-position bucket
 * function against flux.md §2.2's magnitude table, and the checkpoint check.
 */
import { describe, expect, it } from 'vitest';
import { parameterCount } from '../../src/arch/param-tensor.js';
import { parseT5Config, T5_XXL_DEFAULTS } from '../../src/arch/t5-config.js';
import { t5BucketTable, t5RelativeBucket, t5Tensors } from '../../src/arch/t5-layers.js';
import { checkT5Weights } from '../../src/arch/t5-weights.js';
import { inMemoryWeights } from '../../src/weights/checkpoint.js';
import { referenceBucket } from '../reference/t5-reference.js';

/** FLUX.1-schnell `text_encoder_2/config.json` (google/t5-v1_1-xxl). */
const XXL_JSON = {
  _name_or_path: 'google/t5-v1_1-xxl',
  architectures: ['T5EncoderModel'],
  classifier_dropout: 0.0,
  d_ff: 10240,
  d_kv: 64,
  d_model: 4096,
  decoder_start_token_id: 0,
  dense_act_fn: 'gelu_new',
  dropout_rate: 0.1,
  eos_token_id: 1,
  feed_forward_proj: 'gated-gelu',
  initializer_factor: 1.0,
  is_encoder_decoder: true,
  is_gated_act: true,
  layer_norm_epsilon: 1e-6,
  model_type: 't5',
  num_decoder_layers: 24,
  num_heads: 64,
  num_layers: 24,
  output_past: true,
  pad_token_id: 0,
  relative_attention_max_distance: 128,
  relative_attention_num_buckets: 32,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.3',
  use_cache: true,
  vocab_size: 32128,
};

const TINY = parseT5Config({
  vocab_size: 40,
  d_model: 8,
  d_kv: 4,
  num_heads: 2,
  d_ff: 12,
  num_layers: 2,
  relative_attention_num_buckets: 8,
  relative_attention_max_distance: 16,
});

describe('parseT5Config', () => {
  it('reads the real text_encoder_2 config', () => {
    expect(parseT5Config(XXL_JSON)).toEqual({
      vocabSize: 32128,
      dModel: 4096,
      dKv: 64,
      dFf: 10240,
      numLayers: 24,
      numHeads: 64,
      innerDim: 4096,
      numBuckets: 32,
      maxDistance: 128,
      layerNormEps: 1e-6,
    });
  });

  it('defaults every field to t5-v1_1-xxl', () => {
    expect(parseT5Config({})).toEqual(parseT5Config(XXL_JSON));
    expect(T5_XXL_DEFAULTS.feed_forward_proj).toBe('gated-gelu');
  });

  it('rejects what is not a T5 v1.1 encoder', () => {
    expect(() => parseT5Config({ feed_forward_proj: 'relu' })).toThrow(/gated-gelu/);
    expect(() => parseT5Config({ feed_forward_proj: 'gated-silu' })).toThrow(/gated-gelu/);
    expect(() => parseT5Config({ dense_act_fn: 'gelu' })).toThrow(/dense_act_fn/);
    expect(() => parseT5Config({ d_model: 0 })).toThrow(/d_model/);
    expect(() => parseT5Config({ num_heads: 2.5 })).toThrow(/num_heads/);
    expect(() => parseT5Config({ relative_attention_num_buckets: 31 })).toThrow(/even/);
    expect(() => parseT5Config({ relative_attention_max_distance: 8 })).toThrow(/exceed/);
    expect(() => parseT5Config({ layer_norm_epsilon: -1 })).toThrow(/layer_norm_epsilon/);
    expect(() => parseT5Config([])).toThrow(/JSON object/);
  });
});

describe('t5RelativeBucket', () => {
  // flux.md §2.2: n 0..7 -> 0..7; 8-11 -> 8; 12-15 -> 9; 16-22 -> 10; 23-31 -> 11; 32-45 -> 12;
  // 46-63 -> 13; 64-90 -> 14; >=91 -> 15.
  const magnitude = (n: number): number => {
    if (n < 8) return n;
    const edges: [number, number][] = [
      [11, 8],
      [15, 9],
      [22, 10],
      [31, 11],
      [45, 12],
      [63, 13],
      [90, 14],
    ];
    return edges.find(([last]) => n <= last)?.[1] ?? 15;
  };

  it('matches the spec magnitude table in both directions, up to |rel| = 5000', () => {
    const wrong: string[] = [];
    for (let n = 0; n <= 5000; n++) {
      if (t5RelativeBucket(-n, 32, 128) !== magnitude(n)) wrong.push(`-${n}`);
      if (n > 0 && t5RelativeBucket(n, 32, 128) !== 16 + magnitude(n)) wrong.push(`+${n}`);
    }
    expect(wrong).toEqual([]);
    expect(t5RelativeBucket(0, 32, 128)).toBe(0);
    expect([t5RelativeBucket(-20, 32, 128), t5RelativeBucket(20, 32, 128)]).toEqual([10, 26]);
  });

  it('agrees with the independent reference for other bucket configurations', () => {
    for (const [nb, md] of [
      [32, 128],
      [8, 16],
      [16, 64],
      [64, 256],
    ] as const) {
      const wrong: number[] = [];
      for (let rel = -1000; rel <= 1000; rel++)
        if (t5RelativeBucket(rel, nb, md) !== referenceBucket(rel, nb, md)) wrong.push(rel);
      expect(wrong, `${nb} buckets, max distance ${md}`).toEqual([]);
    }
  });

  it('the clamped ±maxDistance table the graph gathers from is exact for any distance', () => {
    for (const [nb, md] of [
      [32, 128],
      [8, 16],
      [64, 256],
    ] as const) {
      const table = t5BucketTable(nb, md);
      expect(table).toHaveLength(2 * md + 1);
      const wrong: number[] = [];
      for (let rel = -5000; rel <= 5000; rel++) {
        const clamped = Math.max(-md, Math.min(md, rel));
        if (table[clamped + md] !== t5RelativeBucket(rel, nb, md)) wrong.push(rel);
      }
      expect(wrong, `${nb} buckets, max distance ${md}`).toEqual([]);
    }
  });
});

describe('t5Tensors', () => {
  it('the real XXL encoder has 219 tensors and 4,762,310,656 parameters', () => {
    const tensors = t5Tensors(parseT5Config(XXL_JSON));
    expect(tensors).toHaveLength(1 + 24 * 9 + 1 + 1);
    expect(parameterCount(tensors)).toBe(4_762_310_656);
    // flux.md §2.2: 4.762 B params, 9.52 GB in bf16.
    expect(parameterCount(tensors) / 1e9).toBeCloseTo(4.762, 3);
    expect((parameterCount(tensors) * 2) / 1e9).toBeCloseTo(9.52, 2);
    const shapes = new Map(tensors.map((t) => [t.name, t.shape]));
    expect(shapes.get('shared.weight')).toEqual([32128, 4096]);
    expect(shapes.get('encoder.block.23.layer.0.SelfAttention.q.weight')).toEqual([4096, 4096]);
    expect(shapes.get('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight')).toEqual([
      32, 64,
    ]);
    expect(shapes.get('encoder.block.5.layer.1.DenseReluDense.wi_0.weight')).toEqual([10240, 4096]);
    expect(shapes.get('encoder.block.5.layer.1.DenseReluDense.wo.weight')).toEqual([4096, 10240]);
    expect(shapes.get('encoder.block.5.layer.1.layer_norm.weight')).toEqual([4096]);
    expect(shapes.get('encoder.final_layer_norm.weight')).toEqual([4096]);
    expect(shapes.has('encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight')).toBe(false);
  });
});

describe('checkT5Weights', () => {
  const source = (rename: Record<string, string | null> = {}, extra: Record<string, number[]> = {}) => {
    const m = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const t of t5Tensors(TINY)) {
      const name = rename[t.name] === undefined ? t.name : rename[t.name];
      if (name === null) continue;
      m.set(name as string, { shape: t.shape, data: new Float32Array(parameterCount([t])) });
    }
    for (const [name, shape] of Object.entries(extra))
      m.set(name, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    return inMemoryWeights(m);
  };

  it('accepts the embedding as shared.weight, encoder.embed_tokens.weight, or both', () => {
    expect(checkT5Weights(TINY, source())).toBe('shared.weight');
    expect(checkT5Weights(TINY, source({ 'shared.weight': 'encoder.embed_tokens.weight' }))).toBe(
      'encoder.embed_tokens.weight',
    );
    expect(checkT5Weights(TINY, source({}, { 'encoder.embed_tokens.weight': [40, 8] }))).toBe(
      'shared.weight',
    );
  });

  it('names missing, misshapen and unexpected tensors', () => {
    expect(() => checkT5Weights(TINY, source({ 'shared.weight': null }))).toThrow(
      /missing shared\.weight or encoder\.embed_tokens\.weight \[40,8\]/,
    );
    expect(() =>
      checkT5Weights(TINY, source({ 'encoder.block.1.layer.1.DenseReluDense.wo.weight': null })),
    ).toThrow(/missing encoder\.block\.1\.layer\.1\.DenseReluDense\.wo\.weight \[8,12\]/);
    expect(() => checkT5Weights(TINY, source({}, { 'encoder.embed_tokens.weight': [41, 8] }))).toThrow(
      /encoder\.embed_tokens\.weight has shape \[41,8\], expected \[40,8\]/,
    );
    expect(() => checkT5Weights(TINY, source({}, { 'decoder.final_layer_norm.weight': [8] }))).toThrow(
      /unexpected tensor.*decoder\.final_layer_norm/,
    );
  });
});
