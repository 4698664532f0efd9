/**
 * @module arch/t5
 * The T5 v1.1 encoder (FLUX's `text_encoder_2`, google/t5-v1_1-xxl) as an ONNX graph:
 * `(config, weights, options) → Graph`, ported from flux.md §2.2. The same code builds the 4.76 B
 * XXL encoder and the tiny test encoders.
 *
 * ```
 * input_ids ─► Gather(shared) ─► h (fp32 residual stream)
 *   position bias [1, heads, S, S] from block 0's table, computed once, added in every block
 *   N × block:  h += o(Attn(RMS(h)·w))            no 1/√d scaling, no attention mask
 *               h += wo(gelu_tanh(wi_0 f) · wi_1 f), f = RMS(h)·w
 * ─► RMS(h)·final_layer_norm ─► hidden
 * ```
 *
 * I/O contract ({@link T5_IO}):
 * - `input_ids` int64 [batch, seq]: token ids, any seq ≥ 1 (FLUX pads to 256 for schnell, 512 for
 *   dev; ids must be < vocab_size). int64 is what tokenizers emit; Gather would take int32 as well,
 *   but the graph declares int64 only.
 * - `hidden` float32 [batch, seq, d_model]: `last_hidden_state`, every row (pad rows included).
 * There is no attention-mask input: FLUX calls T5 without one (flux.md §2.2).
 *
 * Relative position bias: bucket(j − i) is exact for every sequence length without computing a log
 * in the graph. Every |rel| ≥ relative_attention_max_distance falls in its direction's last
 * bucket, so the graph builds rel = j − i [S, S] from Range, clamps it to ±max_distance and
 * gathers the bucket from a build-time int64 table of 2·max_distance + 1 entries (257 for XXL,
 * `t5BucketTable`), then gathers the [buckets, heads] weight and transposes to [1, heads, S, S].
 * `fused` feeds it to com.microsoft MultiHeadAttention as `attention_bias` with `scale` = 1.0;
 * `plain` adds it to QKᵀ before a float32 Softmax.
 *
 * Precision plan. The residual stream `h` and every RMSNorm (statistics and weight) are float32
 * in both dtypes, and the graph output is float32.
 * - `float32`: everything in float32.
 * - `float16`: the matmuls of q, k, v, o, wi_0, wi_1, the attention and the GELU run in float16 on
 *   float16 weights (the embedding table too, gathered rows cast up). T5 v1.1 overflows float16
 *   (flux.md §10): its residual stream and the FFN output projection `wo` exceed 65504 in deep
 *   blocks. Hence (a) the residual adds are float32, so the stream itself never overflows, and each
 *   RMSNorm's output (O(1)) is cast to float16 for the next matmuls; (b) with `ffnFp32` (default),
 *   the gated product gelu(wi_0 f)·(wi_1 f) is formed in float32 and `wo` runs in float32 with a
 *   float32 weight, as HF's `_keep_in_fp32_modules = ["wo"]` (the model grows by
 *   num_layers · d_ff · d_model · 2 bytes, 2 GB for XXL: ≈ 11.5 GB instead of 9.5 GB); (c) the
 *   remaining float16 branch outputs entering the stream (`o`, and `wo` when `ffnFp32` is false) are
 *   clipped to ±65504 before the cast, HF's clamp, so an overflow saturates instead of turning into
 *   inf/NaN. The plain variant also adds the position bias and runs Softmax in float32.
 * float32 remains the reference choice (flux.md §10); float16 is measured against it in
 * test/arch/t5-graph.test.ts.
 */
import { float } from '../onnx/attributes.js';
import { type Dim, Graph } from '../onnx/graph.js';
import { Scope } from '../onnx/scope.js';
import type { WeightQuant } from '../weights/quantize.js';
import type { WeightSource } from '../weights/weight-source.js';
import type { BuildContext, ComputeDType, OpsVariant } from './build-context.js';
import { linear, weightBytes } from './linear.js';
import type { LinearLayer } from './param-tensor.js';
import { clampFp16, geluTanh, int64s, toCompute, toFloat32 } from './primitives.js';
import type { T5Config } from './t5-config.js';
import { T5_FINAL_NORM, T5_RELATIVE_BIAS, t5BucketTable, t5Linears } from './t5-layers.js';
import { checkT5Weights } from './t5-weights.js';

/** Graph input and output names. */
export const T5_IO = {
  inputIds: 'input_ids',
  hidden: 'hidden',
} as const;

export interface T5IoSpec {
  readonly name: string;
  readonly dtype: 'int64' | 'float32';
  readonly dims: readonly Dim[];
}

export function t5Inputs(_c: T5Config): T5IoSpec[] {
  return [{ name: T5_IO.inputIds, dtype: 'int64', dims: ['batch', 'seq'] }];
}

export function t5Outputs(c: T5Config): T5IoSpec[] {
  return [{ name: T5_IO.hidden, dtype: 'float32', dims: ['batch', 'seq', c.dModel] }];
}

export interface T5BuildOptions {
  readonly dtype: ComputeDType;
  readonly ops: OpsVariant;
  /** Block-quantized linear weights for MatMulNBits (arch/linear-nbits.ts); absent: float weights. */
  readonly quant?: WeightQuant;
  /**
   * float16 builds only (ignored for float32): form the gated product and run the FFN output
   * projection `wo` in float32 with a float32 weight (default true). false keeps `wo` in float16
   * (2 GB smaller for XXL), its output clipped to ±65504: finite, but wrong where T5 overflows.
   */
  readonly ffnFp32?: boolean;
}

interface T5Context extends BuildContext {
  readonly c: T5Config;
  readonly layers: ReadonlyMap<string, LinearLayer>;
  readonly ffnFp32: boolean;
  /** [1, heads, S, S]: compute dtype for MultiHeadAttention, float32 for the plain Softmax. */
  readonly positionBias: string;
}

/** A bias-free linear; `dtype` overrides the compute dtype (float32 `wo` in float16 builds). */
function dense(t: T5Context, s: Scope, x: string, dtype: ComputeDType = t.dtype): string {
  const layer = t.layers.get(s.name);
  if (!layer) throw new Error(`no linear layer ${s.name} in the T5 layer table`);
  return linear({ ...t, dtype }, s, x, layer, { lora: false, bias: false });
}

/** T5LayerNorm over float32 `x`: x / sqrt(mean(x²) + eps) · weight, all float32, output float32. */
function rmsNorm(t: T5Context, s: Scope, x: string): string {
  const { g } = t;
  const key = s.key('weight');
  const w = g.initializer(key, 'float32', [t.c.dModel], async () =>
    weightBytes(await t.weights.readF32(key), 'float32'),
  );
  const eps = t.c.layerNormEps;
  if (t.ops === 'fused') {
    return g.node(s.node('SimplifiedLayerNormalization'), 'SimplifiedLayerNormalization', [x, w], {
      axis: -1,
      epsilon: float(eps),
      stash_type: 1,
    });
  }
  const sq = g.node(s.node('Mul_square'), 'Mul', [x, x]);
  const ms = g.node(s.node('ReduceMean'), 'ReduceMean', [sq, int64s(t, [-1])], { keepdims: 1 });
  const rms = g.node(s.node('Sqrt'), 'Sqrt', [
    g.node(s.node('Add_eps'), 'Add', [ms, g.constant('float32', [], [eps])]),
  ]);
  return g.node(s.node('Mul_weight'), 'Mul', [g.node(s.node('Div'), 'Div', [x, rms]), w]);
}

/** bias[0, h, i, j] = table[bucket(j − i), h], for the runtime sequence length (see module doc). */
function positionBias(b: BuildContext, c: T5Config, dtype: ComputeDType): string {
  const { g } = b;
  const s = new Scope(['position_bias']);
  const n = (op: string, type: string, inputs: string[], attrs = {}) =>
    g.node(s.node(op), type, inputs, attrs);
  const scalar = (v: number) => g.constant('int64', [], [v]);
  const seq = n('Squeeze', 'Squeeze', [
    n('Shape', 'Shape', [T5_IO.inputIds], { start: 1, end: 2 }),
    int64s(b, [0]),
  ]);
  const pos = n('Range', 'Range', [scalar(0), seq, scalar(1)]); // [S]
  const rel = n('Sub', 'Sub', [
    n('Unsqueeze_key', 'Unsqueeze', [pos, int64s(b, [0])]), // [1, S]: key position j
    n('Unsqueeze_query', 'Unsqueeze', [pos, int64s(b, [1])]), // [S, 1]: query position i
  ]); // [S, S] = j − i
  const md = c.maxDistance;
  const clamped = n('Max', 'Max', [n('Min', 'Min', [rel, scalar(md)]), scalar(-md)]);
  const buckets = n(
    'Gather_bucket',
    'Gather',
    [
      g.constant('int64', [2 * md + 1], t5BucketTable(c.numBuckets, md)),
      n('Add_offset', 'Add', [clamped, scalar(md)]),
    ],
    { axis: 0 },
  ); // [S, S]
  const table = g.initializer(T5_RELATIVE_BIAS, dtype, [c.numBuckets, c.numHeads], async () =>
    weightBytes(await b.weights.readF32(T5_RELATIVE_BIAS), dtype),
  );
  const perPair = n('Gather_bias', 'Gather', [table, buckets], { axis: 0 }); // [S, S, H]
  return n('Unsqueeze_batch', 'Unsqueeze', [
    n('Transpose', 'Transpose', [perPair], { perm: [2, 0, 1] }),
    int64s(b, [0]),
  ]);
}

/** Unscaled, unmasked multi-head attention with the position bias; q, k, v [B, S, heads·d_kv]. */
function selfAttention(t: T5Context, s: Scope, q: string, k: string, v: string): string {
  const { g, c } = t;
  if (t.ops === 'fused') {
    // Inputs: query, key, value, bias, key_padding_mask, attention_bias.
    return g.node(
      s.node('MultiHeadAttention'),
      'MultiHeadAttention',
      [q, k, v, '', '', t.positionBias],
      { num_heads: c.numHeads, scale: float(1.0) },
      { domain: 'com.microsoft' },
    );
  }
  const perHead = int64s(t, [0, 0, c.numHeads, c.dKv]);
  const heads = (x: string, n: string, perm: number[]) =>
    g.node(s.node(`Transpose_${n}`), 'Transpose', [g.node(s.node(`Reshape_${n}`), 'Reshape', [x, perHead])], {
      perm,
    });
  const scores = g.node(s.node('MatMul_qk'), 'MatMul', [
    heads(q, 'q', [0, 2, 1, 3]), // [B, H, S, D]
    heads(k, 'k', [0, 2, 3, 1]), // [B, H, D, S]
  ]); // [B, H, S, S], no 1/√d
  const logits = g.node(s.node('Add_bias'), 'Add', [toFloat32(t, s.at('scores'), scores), t.positionBias]);
  const probs = g.node(s.node('Softmax'), 'Softmax', [logits], { axis: -1 });
  const out = g.node(s.node('MatMul_pv'), 'MatMul', [
    toCompute(t, s.at('probs'), probs),
    heads(v, 'v', [0, 2, 1, 3]),
  ]); // [B, H, S, D]
  const bshd = g.node(s.node('Transpose_out'), 'Transpose', [out], { perm: [0, 2, 1, 3] });
  return g.node(s.node('Reshape_out'), 'Reshape', [bshd, int64s(t, [0, 0, c.innerDim])]);
}

/** One T5Block on the float32 residual stream `h`; returns the new float32 stream. */
function block(t: T5Context, s: Scope, h: string): string {
  const { g } = t;
  const attnLayer = s.at('layer').at(0);
  const sa = attnLayer.at('SelfAttention');
  const a = toCompute(t, attnLayer.at('layer_norm'), rmsNorm(t, attnLayer.at('layer_norm'), h));
  const attn = selfAttention(
    t,
    sa,
    dense(t, sa.at('q'), a),
    dense(t, sa.at('k'), a),
    dense(t, sa.at('v'), a),
  );
  const o = toFloat32(t, sa.at('o'), clampFp16(t, sa.at('o'), dense(t, sa.at('o'), attn)));
  const h1 = g.node(s.node('Add_attn'), 'Add', [h, o]);

  const ffnLayer = s.at('layer').at(1);
  const ff = ffnLayer.at('DenseReluDense');
  const f = toCompute(t, ffnLayer.at('layer_norm'), rmsNorm(t, ffnLayer.at('layer_norm'), h1));
  const gate = geluTanh(t, ff.at('gelu'), dense(t, ff.at('wi_0'), f));
  const up = dense(t, ff.at('wi_1'), f);
  let y: string;
  if (t.dtype === 'float16' && t.ffnFp32) {
    const prod = g.node(ff.node('Mul_gate'), 'Mul', [
      toFloat32(t, ff.at('gelu'), gate),
      toFloat32(t, ff.at('wi_1'), up),
    ]);
    y = dense(t, ff.at('wo'), prod, 'float32');
  } else {
    const prod = g.node(ff.node('Mul_gate'), 'Mul', [gate, up]);
    y = toFloat32(t, ff.at('wo'), clampFp16(t, ff.at('wo'), dense(t, ff.at('wo'), prod)));
  }
  return g.node(s.node('Add_ffn'), 'Add', [h1, y]);
}

/**
 * @throws FluxServeError FLUX_ERR_WEIGHTS if the checkpoint does not fit the config
 * @example
 * const weights = await openCheckpoint(['text_encoder_2/model.safetensors.index.json']);
 * const graph = buildT5Encoder(parseT5Config(json), weights, { dtype: 'float32', ops: 'fused' });
 * await writeModel(graph, 'model/text_encoder_2.onnx');
 */
export function buildT5Encoder(c: T5Config, weights: WeightSource, options: T5BuildOptions): Graph {
  const embeddingKey = checkT5Weights(c, weights);
  const g = new Graph('t5_encoder');
  const base: BuildContext = { g, weights, dtype: options.dtype, ops: options.ops, quant: options.quant };
  for (const io of t5Inputs(c)) g.input(io.name, io.dtype, io.dims);
  const root = new Scope();

  const table = g.initializer(embeddingKey, base.dtype, [c.vocabSize, c.dModel], async () =>
    weightBytes(await weights.readF32(embeddingKey), base.dtype),
  );
  const embedded = g.node('/embed_tokens/Gather', 'Gather', [table, T5_IO.inputIds], { axis: 0 }); // [B, S, D]
  let h = toFloat32(base, root.at('embed_tokens'), embedded); // no √d scaling in T5

  const t: T5Context = {
    ...base,
    c,
    layers: new Map(t5Linears(c).map((l) => [l.name, l])),
    ffnFp32: options.ffnFp32 ?? true,
    positionBias: positionBias(base, c, options.ops === 'fused' ? base.dtype : 'float32'),
  };
  const blocks = root.at('encoder').at('block');
  for (let i = 0; i < c.numLayers; i++) h = block(t, blocks.at(i), h);
  const out = rmsNorm(t, new Scope(T5_FINAL_NORM.split('.')), h);
  const [spec] = t5Outputs(c);
  if (!spec) throw new Error('unreachable');
  g.output(out, spec.name, spec.dtype, spec.dims);
  return g;
}
