/**
 * Independent float64 reference of the T5 v1.1 encoder forward pass (FLUX's text_encoder_2),
 * written only from `shared/specs/flux.md` §2.2:
 * - h = shared[ids], no scaling;
 * - bias[head, i, j] = relative_attention_bias[bucket(j - i), head] from block 0's table, for all blocks;
 * - per block: a = RMS(h)·w; scores = q kᵀ + bias (no 1/√d, no mask); h += concat_heads(P v) Woᵀ;
 *   f = RMS(h)·w; h += Wo_ff(gelu_tanh(f Wi0ᵀ) · f Wi1ᵀ);
 * - out = RMS(h)·final_layer_norm.weight; RMS(x) = x / sqrt(mean(x²) + eps).
 *
 * A slow, obviously-correct oracle for tiny configs: naive loops over Float64Array, one batch item
 * at a time (T5 has no cross-batch interaction). Nothing from `src/` is used except the config type.
 */
import type { T5Config } from '../../src/arch/t5-config.js';

export interface T5RefTensor {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export interface T5RefResult {
  /** [batch, seq, dModel] last_hidden_state. */
  readonly hidden: Float64Array;
  /** max |h| over the residual stream after the embedding and after every residual add. */
  readonly maxAbsResidual: number;
}

/** The bucket of rel = key position - query position, exactly as the §2.2 recipe states it. */
export function referenceBucket(rel: number, numBuckets: number, maxDistance: number): number {
  const perDirection = numBuckets / 2; // 16 for XXL
  const exact = perDirection / 2; // 8 for XXL
  let b = rel > 0 ? perDirection : 0;
  const n = Math.abs(rel);
  if (n < exact) b += n;
  else {
    b += Math.min(
      perDirection - 1,
      exact + Math.floor((Math.log(n / exact) / Math.log(maxDistance / exact)) * (perDirection - exact)),
    );
  }
  return b;
}

function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

function tensor(
  weights: ReadonlyMap<string, T5RefTensor>,
  name: string,
  shape: readonly number[],
): Float64Array {
  const t = weights.get(name);
  if (!t) throw new Error(`reference: no weight ${name}`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`reference: ${name} has shape [${t.shape}], expected [${shape}]`);
  }
  return t.data;
}

/** x [rows, inDim] times Wᵀ with W [outDim, inDim] (PyTorch Linear layout, no bias). */
function linear(x: Float64Array, rows: number, inDim: number, w: Float64Array, outDim: number): Float64Array {
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let acc = 0;
      for (let i = 0; i < inDim; i++) acc += (x[r * inDim + i] as number) * (w[o * inDim + i] as number);
      y[r * outDim + o] = acc;
    }
  }
  return y;
}

/** T5LayerNorm: x / sqrt(mean(x²) + eps) · weight, per row. */
function rms(x: Float64Array, rows: number, dim: number, weight: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ms = 0;
    for (let d = 0; d < dim; d++) ms += (x[r * dim + d] as number) ** 2;
    const inv = 1 / Math.sqrt(ms / dim + eps);
    for (let d = 0; d < dim; d++) y[r * dim + d] = (x[r * dim + d] as number) * inv * (weight[d] as number);
  }
  return y;
}

function maxAbs(x: Float64Array): number {
  let m = 0;
  for (const v of x) m = Math.max(m, Math.abs(v));
  return m;
}

/**
 * @param ids [batch, seq] token ids, row-major
 * @param weights HF T5EncoderModel names; the embedding as `shared.weight` or `encoder.embed_tokens.weight`
 */
export function t5Reference(
  c: T5Config,
  weights: ReadonlyMap<string, T5RefTensor>,
  ids: ArrayLike<number>,
  batch: number,
  seq: number,
): T5RefResult {
  if (ids.length !== batch * seq) throw new Error(`reference: ${ids.length} ids is not ${batch}x${seq}`);
  const D = c.dModel;
  const H = c.numHeads;
  const dk = c.dKv;
  const inner = H * dk;
  const embName = weights.has('shared.weight') ? 'shared.weight' : 'encoder.embed_tokens.weight';
  const emb = tensor(weights, embName, [c.vocabSize, D]);
  const relTable = tensor(weights, 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', [
    c.numBuckets,
    H,
  ]);

  // §2.2 step 2: bias[head, i, j], computed once.
  const bias = new Float64Array(H * seq * seq);
  for (let i = 0; i < seq; i++) {
    for (let j = 0; j < seq; j++) {
      const bucket = referenceBucket(j - i, c.numBuckets, c.maxDistance);
      for (let hd = 0; hd < H; hd++) bias[(hd * seq + i) * seq + j] = relTable[bucket * H + hd] as number;
    }
  }

  const out = new Float64Array(batch * seq * D);
  let peak = 0;
  for (let b = 0; b < batch; b++) {
    // §2.2 step 1.
    let h = new Float64Array(seq * D);
    for (let s = 0; s < seq; s++) {
      const id = ids[b * seq + s] as number;
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new Error(`reference: bad id ${id}`);
      for (let d = 0; d < D; d++) h[s * D + d] = emb[id * D + d] as number;
    }
    peak = Math.max(peak, maxAbs(h));

    // §2.2 step 3.
    for (let l = 0; l < c.numLayers; l++) {
      const p0 = `encoder.block.${l}.layer.0`;
      const p1 = `encoder.block.${l}.layer.1`;
      const a = rms(h, seq, D, tensor(weights, `${p0}.layer_norm.weight`, [D]), c.layerNormEps);
      const proj = (n: string) =>
        linear(a, seq, D, tensor(weights, `${p0}.SelfAttention.${n}.weight`, [inner, D]), inner);
      const q = proj('q');
      const k = proj('k');
      const v = proj('v');
      const attn = new Float64Array(seq * inner);
      const row = new Float64Array(seq);
      for (let hd = 0; hd < H; hd++) {
        for (let i = 0; i < seq; i++) {
          let mx = -Infinity;
          for (let j = 0; j < seq; j++) {
            let dot = 0;
            for (let d = 0; d < dk; d++)
              dot += (q[i * inner + hd * dk + d] as number) * (k[j * inner + hd * dk + d] as number);
            row[j] = dot + (bias[(hd * seq + i) * seq + j] as number);
            mx = Math.max(mx, row[j] as number);
          }
          let sum = 0;
          for (let j = 0; j < seq; j++) {
            row[j] = Math.exp((row[j] as number) - mx);
            sum += row[j] as number;
          }
          for (let d = 0; d < dk; d++) {
            let acc = 0;
            for (let j = 0; j < seq; j++)
              acc += ((row[j] as number) / sum) * (v[j * inner + hd * dk + d] as number);
            attn[i * inner + hd * dk + d] = acc;
          }
        }
      }
      const o = linear(attn, seq, inner, tensor(weights, `${p0}.SelfAttention.o.weight`, [D, inner]), D);
      h = h.map((x, i) => x + (o[i] as number));
      peak = Math.max(peak, maxAbs(h));

      const f = rms(h, seq, D, tensor(weights, `${p1}.layer_norm.weight`, [D]), c.layerNormEps);
      const ff = `${p1}.DenseReluDense`;
      const g0 = linear(f, seq, D, tensor(weights, `${ff}.wi_0.weight`, [c.dFf, D]), c.dFf);
      const g1 = linear(f, seq, D, tensor(weights, `${ff}.wi_1.weight`, [c.dFf, D]), c.dFf);
      const gated = g0.map((x, i) => gelu(x) * (g1[i] as number));
      const y = linear(gated, seq, c.dFf, tensor(weights, `${ff}.wo.weight`, [D, c.dFf]), D);
      h = h.map((x, i) => x + (y[i] as number));
      peak = Math.max(peak, maxAbs(h));
    }

    // §2.2 step 4.
    const final = rms(h, seq, D, tensor(weights, 'encoder.final_layer_norm.weight', [D]), c.layerNormEps);
    out.set(final, b * seq * D);
  }
  return { hidden: out, maxAbsResidual: peak };
}
