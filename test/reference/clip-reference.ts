/**
 * Independent float64 reference of the CLIP text tower (HF CLIPTextModel) forward pass, written only
 * from `shared/specs/flux.md` §2.1.
 *
 * Purpose: a slow, obviously-correct oracle for tests (tiny widths). Naive loops over Float64Array
 * with bounds-checked reads; each batch item is computed on its own. Nothing from `src/` is used
 * except the config type.
 */
import type { ClipTextConfig } from '../../src/arch/clip-config.js';

export interface ClipRefTensor {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export interface ClipRefOutput {
  /** [B, S, D] final-LayerNorm hidden states. */
  readonly hidden: Float64Array;
  /** [B, D] the hidden state at each row's first EOS. */
  readonly pooled: Float64Array;
  /** Per batch item, the position pooled. */
  readonly eosIndex: readonly number[];
}

function get(a: Float64Array, i: number): number {
  const v = a[i];
  if (v === undefined || !Number.isInteger(i))
    throw new Error(`clip reference: index ${i} outside [0, ${a.length})`);
  return v;
}

function set(a: Float64Array, i: number, v: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= a.length) {
    throw new Error(`clip reference: write ${i} outside [0, ${a.length})`);
  }
  a[i] = v;
}

/** Row-major [rows, cols]. */
interface Mat {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

function mat(rows: number, cols: number): Mat {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

function at(m: Mat, r: number, c: number): number {
  if (r < 0 || r >= m.rows || c < 0 || c >= m.cols)
    throw new Error(`clip reference: (${r},${c}) outside matrix`);
  return get(m.data, r * m.cols + c);
}

function put(m: Mat, r: number, c: number, v: number): void {
  if (r < 0 || r >= m.rows || c < 0 || c >= m.cols)
    throw new Error(`clip reference: (${r},${c}) outside matrix`);
  set(m.data, r * m.cols + c, v);
}

type Lookup = (name: string) => ClipRefTensor;

function tensor(w: Lookup, name: string, shape: readonly number[]): Float64Array {
  const t = w(name);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`clip reference: ${name} has shape [${t.shape}], expected [${shape}]`);
  }
  return t.data;
}

/** PyTorch Linear: y = x W^T + b, W [out, in] as stored in the checkpoint. */
function linear(w: Lookup, name: string, x: Mat, out: number): Mat {
  const weight = tensor(w, `${name}.weight`, [out, x.cols]);
  const bias = tensor(w, `${name}.bias`, [out]);
  const y = mat(x.rows, out);
  for (let r = 0; r < x.rows; r++) {
    for (let o = 0; o < out; o++) {
      let acc = get(bias, o);
      for (let i = 0; i < x.cols; i++) acc += at(x, r, i) * get(weight, o * x.cols + i);
      put(y, r, o, acc);
    }
  }
  return y;
}

/** LayerNorm over each row: biased variance, eps from the config, affine weight and bias. */
function layerNorm(w: Lookup, name: string, x: Mat, eps: number): Mat {
  const gamma = tensor(w, `${name}.weight`, [x.cols]);
  const beta = tensor(w, `${name}.bias`, [x.cols]);
  const y = mat(x.rows, x.cols);
  for (let r = 0; r < x.rows; r++) {
    let mean = 0;
    for (let c = 0; c < x.cols; c++) mean += at(x, r, c);
    mean /= x.cols;
    let variance = 0;
    for (let c = 0; c < x.cols; c++) variance += (at(x, r, c) - mean) ** 2;
    variance /= x.cols;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < x.cols; c++) put(y, r, c, (at(x, r, c) - mean) * inv * get(gamma, c) + get(beta, c));
  }
  return y;
}

function add(a: Mat, b: Mat): Mat {
  const y = mat(a.rows, a.cols);
  for (let r = 0; r < a.rows; r++) for (let c = 0; c < a.cols; c++) put(y, r, c, at(a, r, c) + at(b, r, c));
  return y;
}

/** quick_gelu(x) = x * sigmoid(1.702 x). */
function quickGelu(x: number): number {
  return x / (1 + Math.exp(-1.702 * x));
}

/** Multi-head causal attention: query i sees keys j <= i; scale 1/sqrt(headDim). */
function causalSelfAttention(c: ClipTextConfig, q: Mat, k: Mat, v: Mat): Mat {
  const n = q.rows;
  const dh = c.hiddenSize / c.numHeads;
  const out = mat(n, c.hiddenSize);
  for (let h = 0; h < c.numHeads; h++) {
    for (let i = 0; i < n; i++) {
      const scores = new Float64Array(i + 1);
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let d = 0; d < dh; d++) dot += at(q, i, h * dh + d) * at(k, j, h * dh + d);
        const sc = dot / Math.sqrt(dh);
        set(scores, j, sc);
        max = Math.max(max, sc);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) {
        const e = Math.exp(get(scores, j) - max);
        set(scores, j, e);
        sum += e;
      }
      for (let d = 0; d < dh; d++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += (get(scores, j) / sum) * at(v, j, h * dh + d);
        put(out, i, h * dh + d, acc);
      }
    }
  }
  return out;
}

/** One sequence of exactly maxPositions ids → final-LN hidden states [S, D]. */
function encode(c: ClipTextConfig, w: Lookup, ids: readonly number[]): Mat {
  const s = c.maxPositions;
  const d = c.hiddenSize;
  if (ids.length !== s) throw new Error(`clip reference: ${ids.length} ids, expected ${s}`);
  const tok = tensor(w, 'text_model.embeddings.token_embedding.weight', [c.vocabSize, d]);
  const pos = tensor(w, 'text_model.embeddings.position_embedding.weight', [s, d]);
  // 1. token embedding + position embedding, no scaling.
  let h = mat(s, d);
  for (let i = 0; i < s; i++) {
    const id = ids[i] as number;
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new Error(`clip reference: bad id ${id}`);
    for (let x = 0; x < d; x++) put(h, i, x, get(tok, id * d + x) + get(pos, i * d + x));
  }
  // 2. pre-LN encoder layers.
  for (let l = 0; l < c.numLayers; l++) {
    const p = `text_model.encoder.layers.${l}`;
    const y = layerNorm(w, `${p}.layer_norm1`, h, c.layerNormEps);
    const q = linear(w, `${p}.self_attn.q_proj`, y, d);
    const k = linear(w, `${p}.self_attn.k_proj`, y, d);
    const v = linear(w, `${p}.self_attn.v_proj`, y, d);
    h = add(h, linear(w, `${p}.self_attn.out_proj`, causalSelfAttention(c, q, k, v), d));
    const fc1 = linear(
      w,
      `${p}.mlp.fc1`,
      layerNorm(w, `${p}.layer_norm2`, h, c.layerNormEps),
      c.intermediateSize,
    );
    const act = mat(fc1.rows, fc1.cols);
    for (let r = 0; r < fc1.rows; r++)
      for (let x = 0; x < fc1.cols; x++) put(act, r, x, quickGelu(at(fc1, r, x)));
    h = add(h, linear(w, `${p}.mlp.fc2`, act, d));
  }
  // 3. final LayerNorm.
  return layerNorm(w, 'text_model.final_layer_norm', h, c.layerNormEps);
}

/**
 * @param ids one array of maxPositions token ids per batch item
 * @param eosId the EOS token whose FIRST occurrence is pooled (49407 for CLIP-L); a row without it
 *   pools position 0 (what argmax over an all-false comparison gives)
 */
export function clipReference(
  c: ClipTextConfig,
  w: Lookup,
  ids: readonly (readonly number[])[],
  eosId = 49407,
): ClipRefOutput {
  const s = c.maxPositions;
  const d = c.hiddenSize;
  const hidden = new Float64Array(ids.length * s * d);
  const pooled = new Float64Array(ids.length * d);
  const eosIndex: number[] = [];
  ids.forEach((row, b) => {
    const h = encode(c, w, row);
    for (let i = 0; i < s; i++) for (let x = 0; x < d; x++) set(hidden, (b * s + i) * d + x, at(h, i, x));
    // 4. pooled = h[first position whose id is EOS]; no projection.
    const first = row.indexOf(eosId);
    const e = first === -1 ? 0 : first;
    eosIndex.push(e);
    for (let x = 0; x < d; x++) set(pooled, b * d + x, at(h, e, x));
  });
  return { hidden, pooled, eosIndex };
}
