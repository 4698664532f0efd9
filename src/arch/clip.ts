/**
 * @module arch/clip
 * The CLIP ViT-L/14 text tower (HF CLIPTextModel, flux.md §2.1) as an ONNX graph:
 * `(config, weights, options) → Graph`. FLUX uses its pooled output (768-d, no projection).
 *
 * ```
 * input_ids ─► Gather(token_embedding) + position_embedding
 *           ─► N × [h += out_proj(causal MHA(LN1 h)) ; h += fc2(quick_gelu(fc1(LN2 h)))]
 *           ─► final_layer_norm ─► hidden [B, 77, D]
 *                               └─► row at ArgMax(input_ids == eos) ─► pooled [B, D]
 * ```
 * fp16 graphs keep LayerNorm statistics and the attention softmax in fp32 and return float32.
 */
import { float } from '../onnx/attributes.js';
import { Graph, MS_DOMAIN } from '../onnx/graph.js';
import { Scope } from '../onnx/scope.js';
import type { WeightSource } from '../weights/checkpoint.js';
import type { BuildContext, ComputeDType, OpsVariant } from './build-context.js';
import type { ClipTextConfig } from './clip-config.js';
import { CLIP_IO, clipInputs, clipOutputs } from './clip-io.js';
import { CLIP_ROOT, clipLinears } from './clip-layers.js';
import { checkClipWeights } from './clip-weights.js';
import { linear, weightBytes } from './linear.js';
import type { LinearLayer } from './param-tensor.js';
import { int64s, scalar, toFloat32 } from './primitives.js';

export { CLIP_IO } from './clip-io.js';

export interface ClipBuildOptions {
  readonly dtype: ComputeDType;
  readonly ops: OpsVariant;
}

/** QuickGELU's sigmoid slope: x · sigmoid(1.702 x). */
const QUICK_GELU_ALPHA = 1.702;
/** Added to the scores of future positions (in fp32, before the softmax): exp underflows to 0. */
const MASKED = -1e9;

interface ClipContext extends BuildContext {
  readonly c: ClipTextConfig;
  readonly layers: ReadonlyMap<string, LinearLayer>;
}

function weight(b: BuildContext, key: string, dims: readonly number[]): string {
  return b.g.initializer(key, b.dtype, dims, async () => weightBytes(await b.weights.readF32(key), b.dtype));
}

function dense(f: ClipContext, s: Scope, x: string): string {
  const layer = f.layers.get(s.name);
  if (!layer) throw new Error(`no linear layer ${s.name} in the CLIP layer table`);
  return linear(f, s, x, layer, { lora: false });
}

/** Affine LayerNorm over the last axis, `<scope>.weight` / `<scope>.bias`; statistics in fp32. */
function layerNorm(f: ClipContext, s: Scope, x: string): string {
  const d = f.c.hiddenSize;
  return f.g.node(
    s.node('LayerNormalization'),
    'LayerNormalization',
    [x, weight(f, s.key('weight'), [d]), weight(f, s.key('bias'), [d])],
    { axis: -1, epsilon: float(f.c.layerNormEps), stash_type: 1 },
  );
}

/** x · sigmoid(1.702 x): the contrib QuickGelu when fused, Sigmoid·Mul otherwise. */
function quickGelu(f: ClipContext, s: Scope, x: string): string {
  const { g } = f;
  if (f.ops === 'fused') {
    return g.node(
      s.node('QuickGelu'),
      'QuickGelu',
      [x],
      { alpha: float(QUICK_GELU_ALPHA) },
      { domain: MS_DOMAIN },
    );
  }
  const sig = g.node(s.node('Sigmoid'), 'Sigmoid', [
    g.node(s.node('Mul_alpha'), 'Mul', [x, scalar(f, QUICK_GELU_ALPHA)]),
  ]);
  return g.node(s.node('Mul'), 'Mul', [x, sig]);
}

/** [S, S] float32: 0 where key j <= query i, MASKED above the diagonal. */
function causalMask(f: ClipContext): string {
  const n = f.c.maxPositions;
  const values = Array.from({ length: n * n }, (_, k) => (k % n > Math.floor(k / n) ? MASKED : 0));
  return f.g.constant('float32', [n, n], values);
}

/**
 * Causal scaled-dot-product attention over [B, S, heads·headDim] q, k, v (token i attends to j <= i).
 * fused: MultiHeadAttention with `unidirectional = 1`; plain: explicit scores with an fp32 mask and
 * an fp32 softmax.
 */
function causalAttention(f: ClipContext, s: Scope, q: string, k: string, v: string): string {
  const { g } = f;
  const { numHeads: heads, headDim } = f.c;
  if (f.ops === 'fused') {
    return g.node(
      s.node('MultiHeadAttention'),
      'MultiHeadAttention',
      [q, k, v],
      { num_heads: heads, unidirectional: 1 },
      { domain: MS_DOMAIN },
    );
  }
  const perHead = int64s(f, [0, 0, heads, headDim]);
  const bnsh = (x: string, n: string, perm: number[]) =>
    g.node(s.node(`Transpose_${n}`), 'Transpose', [g.node(s.node(`Reshape_${n}`), 'Reshape', [x, perHead])], {
      perm,
    });
  const qScaled = g.node(s.node('Mul_scale'), 'Mul', [q, scalar(f, 1 / Math.sqrt(headDim))]);
  const qh = bnsh(qScaled, 'q', [0, 2, 1, 3]); // [B, H, S, D]
  const kt = bnsh(k, 'k', [0, 2, 3, 1]); // [B, H, D, S]
  const vh = bnsh(v, 'v', [0, 2, 1, 3]); // [B, H, S, D]
  const scores = g.node(s.node('MatMul_qk'), 'MatMul', [qh, kt]); // [B, H, S, S]
  const scores32 =
    f.dtype === 'float32' ? scores : g.node(s.node('Cast_scores'), 'Cast', [scores], { to: 1 });
  const masked = g.node(s.node('Add_mask'), 'Add', [scores32, causalMask(f)]);
  const probs32 = g.node(s.node('Softmax'), 'Softmax', [masked], { axis: -1 });
  const probs = f.dtype === 'float32' ? probs32 : g.node(s.node('Cast_probs'), 'Cast', [probs32], { to: 10 });
  const out = g.node(s.node('MatMul_pv'), 'MatMul', [probs, vh]); // [B, H, S, D]
  const bshd = g.node(s.node('Transpose_out'), 'Transpose', [out], { perm: [0, 2, 1, 3] });
  return g.node(s.node('Reshape_out'), 'Reshape', [bshd, int64s(f, [0, 0, heads * headDim])]);
}

/** HF CLIPEncoderLayer: pre-LN attention and MLP, each added to the residual stream. */
function encoderLayer(f: ClipContext, s: Scope, h: string): string {
  const { g } = f;
  const attn = s.at('self_attn');
  const y = layerNorm(f, s.at('layer_norm1'), h);
  const a = causalAttention(
    f,
    attn.at('attention'),
    dense(f, attn.at('q_proj'), y),
    dense(f, attn.at('k_proj'), y),
    dense(f, attn.at('v_proj'), y),
  );
  const h1 = g.node(s.node('Add_attn'), 'Add', [h, dense(f, attn.at('out_proj'), a)]);
  const mlp = s.at('mlp');
  const m = dense(
    f,
    mlp.at('fc2'),
    quickGelu(f, mlp.at('act'), dense(f, mlp.at('fc1'), layerNorm(f, s.at('layer_norm2'), h1))),
  );
  return g.node(s.node('Add_mlp'), 'Add', [h1, m]);
}

/**
 * @throws FluxServeError FLUX_ERR_WEIGHTS when the checkpoint does not fit the config
 * @example
 * const graph = buildClipText(parseClipTextConfig(json), await openCheckpoint([file]), { dtype: 'float16', ops: 'fused' });
 * await writeModel(graph, 'model/text_encoder.onnx');
 */
export function buildClipText(c: ClipTextConfig, weights: WeightSource, options: ClipBuildOptions): Graph {
  checkClipWeights(c, weights);
  const g = new Graph('clip_text_encoder');
  const f: ClipContext = {
    g,
    weights,
    dtype: options.dtype,
    ops: options.ops,
    c,
    layers: new Map(clipLinears(c).map((l) => [l.name, l])),
  };
  for (const io of clipInputs(c)) g.input(io.name, io.dtype, io.dims);
  const root = new Scope([CLIP_ROOT]);

  const emb = root.at('embeddings');
  const tokenKey = emb.at('token_embedding').key('weight');
  const posKey = emb.at('position_embedding').key('weight');
  const tokens = g.node(
    emb.node('Gather'),
    'Gather',
    [weight(f, tokenKey, [c.vocabSize, c.hiddenSize]), CLIP_IO.inputIds],
    {
      axis: 0,
    },
  ); // [B, S, D]
  // The input length is the position table's, so the whole table broadcasts over the batch.
  let h = g.node(emb.node('Add_position'), 'Add', [
    tokens,
    weight(f, posKey, [c.maxPositions, c.hiddenSize]),
  ]);

  const layers = root.at('encoder').at('layers');
  for (let i = 0; i < c.numLayers; i++) h = encoderLayer(f, layers.at(i), h);
  const hidden = toFloat32(f, root.at('final_layer_norm'), layerNorm(f, root.at('final_layer_norm'), h));

  // The first position holding the EOS id (ArgMax returns the first maximum); 0 if a row has none.
  const pool = root.at('pooler');
  const isEos = g.node(pool.node('Equal'), 'Equal', [
    CLIP_IO.inputIds,
    g.constant('int64', [], [c.eosTokenId]),
  ]);
  const eosInt = g.node(pool.node('Cast'), 'Cast', [isEos], { to: 6 }); // int32: ArgMax has no bool kernel
  const index = g.node(pool.node('ArgMax'), 'ArgMax', [eosInt], { axis: 1, keepdims: 1 }); // [B, 1] int64
  const pooled = g.node(pool.node('GatherND'), 'GatherND', [hidden, index], { batch_dims: 1 }); // [B, D]

  const [pooledSpec, hiddenSpec] = clipOutputs(c);
  if (!pooledSpec || !hiddenSpec) throw new Error('unreachable');
  g.output(pooled, pooledSpec.name, pooledSpec.dtype, pooledSpec.dims);
  g.output(hidden, hiddenSpec.name, hiddenSpec.dtype, hiddenSpec.dims);
  return g;
}
