/**
 * Independent float64 reference of the FLUX.1 transformer forward pass, written only from
 * `shared/specs/flux.md` §3 (3.1-3.9) and `shared/specs/lora.md` §1.1 (list of Linear layers).
 *
 * Purpose: a slow, obviously-correct oracle for tests (tiny configs: hidden <= 64, tokens <= 64).
 * Everything is naive loops over Float64Array with bounds-checked reads and writes; each batch item
 * is computed on its own (FLUX has no cross-batch interaction). Nothing from `src/` is used except
 * the config type.
 */
import type { FluxConfig } from '../../src/arch/flux-config.js';

export interface RefTensor {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export interface RefInputs {
  readonly batch: number;
  readonly imgTokens: number;
  readonly txtTokens: number;
  /** [B, L, inChannels] packed latents. */
  readonly img: Float64Array;
  /** [B, L, 3] image position ids. */
  readonly imgIds: Float64Array;
  /** [B, T, jointAttentionDim] T5 hidden states. */
  readonly txt: Float64Array;
  /** [B, T, 3] text position ids. */
  readonly txtIds: Float64Array;
  /** [B] sigma in 0..1 (embedded as 1000*sigma). */
  readonly timesteps: Float64Array;
  /** [B, pooledProjectionDim] CLIP pooled vector. */
  readonly y: Float64Array;
  /** [B], required when guidanceEmbeds (embedded as 1000*g); ignored otherwise (as BFL does). */
  readonly guidance?: Float64Array;
}

/** Low-rank deltas per BFL layer name (e.g. 'double_blocks.0.img_attn.qkv'): y = x W^T + b + (x A) B, A [in, r], B [r, out]. */
export type RefLora = ReadonlyMap<
  string,
  { readonly a: Float64Array; readonly b: Float64Array; readonly rank: number }
>;

// ---------------------------------------------------------------------------------------------
// Bounds-checked element access (a wrong index formula throws instead of reading undefined/NaN).
// ---------------------------------------------------------------------------------------------

function get(a: Float64Array, i: number): number {
  const v = a[i];
  if (v === undefined || !Number.isInteger(i)) {
    throw new Error(`reference: read index ${i} out of range [0, ${a.length})`);
  }
  return v;
}

function set(a: Float64Array, i: number, v: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= a.length) {
    throw new Error(`reference: write index ${i} out of range [0, ${a.length})`);
  }
  a[i] = v;
}

/** A row-major matrix [rows, cols] (one batch item's token sequence, or a single vector as 1 row). */
interface Mat {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

function mat(rows: number, cols: number): Mat {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

function at(m: Mat, r: number, c: number): number {
  if (r < 0 || r >= m.rows || c < 0 || c >= m.cols) throw new Error(`reference: (${r},${c}) outside matrix`);
  return get(m.data, r * m.cols + c);
}

function put(m: Mat, r: number, c: number, v: number): void {
  if (r < 0 || r >= m.rows || c < 0 || c >= m.cols) throw new Error(`reference: (${r},${c}) outside matrix`);
  set(m.data, r * m.cols + c, v);
}

/** A vector as a 1-row matrix. */
function rowVector(v: Float64Array): Mat {
  return { rows: 1, cols: v.length, data: v };
}

/** Batch item `b` of a flat [B, n, d] array, as an [n, d] copy. */
function sliceBatch(flat: Float64Array, b: number, n: number, d: number, what: string, batch: number): Mat {
  if (flat.length !== batch * n * d) {
    throw new Error(`reference: ${what} has ${flat.length} values, expected ${batch}x${n}x${d}`);
  }
  const m = mat(n, d);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < d; c++) put(m, r, c, get(flat, (b * n + r) * d + c));
  }
  return m;
}

/** Rows [start, start + count) of m. */
function rowsOf(m: Mat, start: number, count: number): Mat {
  const out = mat(count, m.cols);
  for (let r = 0; r < count; r++) {
    for (let c = 0; c < m.cols; c++) put(out, r, c, at(m, start + r, c));
  }
  return out;
}

/** Columns [start, start + count) of m. */
function colsOf(m: Mat, start: number, count: number): Mat {
  const out = mat(m.rows, count);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < count; c++) put(out, r, c, at(m, r, start + c));
  }
  return out;
}

/** Stack a on top of b (token concat). */
function concatRows(a: Mat, b: Mat): Mat {
  if (a.cols !== b.cols) throw new Error('reference: concatRows width mismatch');
  const out = mat(a.rows + b.rows, a.cols);
  for (let r = 0; r < a.rows; r++) for (let c = 0; c < a.cols; c++) put(out, r, c, at(a, r, c));
  for (let r = 0; r < b.rows; r++) for (let c = 0; c < b.cols; c++) put(out, a.rows + r, c, at(b, r, c));
  return out;
}

/** a then b along channels. */
function concatCols(a: Mat, b: Mat): Mat {
  if (a.rows !== b.rows) throw new Error('reference: concatCols height mismatch');
  const out = mat(a.rows, a.cols + b.cols);
  for (let r = 0; r < a.rows; r++) {
    for (let c = 0; c < a.cols; c++) put(out, r, c, at(a, r, c));
    for (let c = 0; c < b.cols; c++) put(out, r, a.cols + c, at(b, r, c));
  }
  return out;
}

function addMat(a: Mat, b: Mat): Mat {
  if (a.rows !== b.rows || a.cols !== b.cols) throw new Error('reference: addMat shape mismatch');
  const out = mat(a.rows, a.cols);
  for (let r = 0; r < a.rows; r++) for (let c = 0; c < a.cols; c++) put(out, r, c, at(a, r, c) + at(b, r, c));
  return out;
}

function mapMat(a: Mat, f: (x: number) => number): Mat {
  const out = mat(a.rows, a.cols);
  for (let r = 0; r < a.rows; r++) for (let c = 0; c < a.cols; c++) put(out, r, c, f(at(a, r, c)));
  return out;
}

/** Entries [start, start + count) of a 1-row matrix, as a plain vector. */
function chunk(vec: Mat, index: number, size: number): Float64Array {
  if (vec.rows !== 1) throw new Error('reference: chunk of a non-vector');
  const out = new Float64Array(size);
  for (let c = 0; c < size; c++) set(out, c, at(vec, 0, index * size + c));
  return out;
}

// ---------------------------------------------------------------------------------------------
// §3.2 Primitives
// ---------------------------------------------------------------------------------------------

const LN_EPS = 1e-6;
const RMS_EPS = 1e-6;

/** §3.2 SiLU = x * sigmoid(x). */
function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** §3.2 GELU, tanh approximation. */
function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** §3.2 LayerNorm without affine params, eps 1e-6, biased variance, over each row. */
function layerNorm(x: Mat): Mat {
  const out = mat(x.rows, x.cols);
  for (let r = 0; r < x.rows; r++) {
    let mean = 0;
    for (let c = 0; c < x.cols; c++) mean += at(x, r, c);
    mean /= x.cols;
    let variance = 0;
    for (let c = 0; c < x.cols; c++) variance += (at(x, r, c) - mean) ** 2;
    variance /= x.cols;
    const inv = 1 / Math.sqrt(variance + LN_EPS);
    for (let c = 0; c < x.cols; c++) put(out, r, c, (at(x, r, c) - mean) * inv);
  }
  return out;
}

/** §3.5 step 2 / §3.6 step 2 / §3.7: LN(x) * (1 + scale) + shift, shift/scale broadcast over tokens. */
function modulate(x: Mat, shift: Float64Array, scale: Float64Array): Mat {
  const n = layerNorm(x);
  const out = mat(x.rows, x.cols);
  for (let r = 0; r < x.rows; r++) {
    for (let c = 0; c < x.cols; c++) put(out, r, c, at(n, r, c) * (1 + get(scale, c)) + get(shift, c));
  }
  return out;
}

/** §3.2 QK RMSNorm over each head's headDim slice: x * rsqrt(mean(x^2) + 1e-6) * scale. */
function rmsNormHeads(x: Mat, numHeads: number, headDim: number, scale: RefTensor, name: string): Mat {
  expectShape(scale, [headDim], name);
  const out = mat(x.rows, x.cols);
  for (let r = 0; r < x.rows; r++) {
    for (let h = 0; h < numHeads; h++) {
      let ms = 0;
      for (let d = 0; d < headDim; d++) ms += at(x, r, h * headDim + d) ** 2;
      ms /= headDim;
      const inv = 1 / Math.sqrt(ms + RMS_EPS);
      for (let d = 0; d < headDim; d++) {
        put(out, r, h * headDim + d, at(x, r, h * headDim + d) * inv * get(scale.data, d));
      }
    }
  }
  return out;
}

function expectShape(t: RefTensor, shape: readonly number[], name: string): void {
  const ok = t.shape.length === shape.length && t.shape.every((s, i) => s === shape[i]);
  if (!ok) throw new Error(`reference: ${name} has shape [${t.shape}], expected [${shape}]`);
  const count = shape.reduce((p, s) => p * s, 1);
  if (t.data.length !== count)
    throw new Error(`reference: ${name} has ${t.data.length} values, expected ${count}`);
}

/**
 * §3.2 Linear: y = x W^T + b with W stored [out, in] (PyTorch layout), plus the optional LoRA term
 * (x A) B with A [in, r], B [r, out].
 */
class Linears {
  readonly usedLora = new Set<string>();

  constructor(
    private readonly weights: (bflName: string) => RefTensor,
    private readonly lora: RefLora | undefined,
  ) {}

  /** A non-Linear parameter (RMSNorm scale). */
  raw(name: string): RefTensor {
    return this.weights(name);
  }

  apply(x: Mat, module: string, outDim: number): Mat {
    const inDim = x.cols;
    const w = this.weights(`${module}.weight`);
    const bias = this.weights(`${module}.bias`);
    expectShape(w, [outDim, inDim], `${module}.weight`);
    expectShape(bias, [outDim], `${module}.bias`);
    const out = mat(x.rows, outDim);
    for (let r = 0; r < x.rows; r++) {
      for (let o = 0; o < outDim; o++) {
        let acc = get(bias.data, o);
        for (let k = 0; k < inDim; k++) acc += at(x, r, k) * get(w.data, o * inDim + k);
        put(out, r, o, acc);
      }
    }
    const delta = this.lora?.get(module);
    if (delta === undefined) return out;
    this.usedLora.add(module);
    const rank = delta.rank;
    if (delta.a.length !== inDim * rank || delta.b.length !== rank * outDim) {
      throw new Error(`reference: LoRA for ${module} does not fit in=${inDim} out=${outDim} rank=${rank}`);
    }
    for (let r = 0; r < x.rows; r++) {
      // xa = x[r] A  -> [rank]
      const xa = new Float64Array(rank);
      for (let j = 0; j < rank; j++) {
        let acc = 0;
        for (let k = 0; k < inDim; k++) acc += at(x, r, k) * get(delta.a, k * rank + j);
        set(xa, j, acc);
      }
      // out[r] += xa B
      for (let o = 0; o < outDim; o++) {
        let acc = 0;
        for (let j = 0; j < rank; j++) acc += get(xa, j) * get(delta.b, j * outDim + o);
        put(out, r, o, at(out, r, o) + acc);
      }
    }
    return out;
  }

  /** §3.3 MLP(x) = W2 SiLU(W1 x + b1) + b2 (BFL MLPEmbedder: in_layer, out_layer). */
  embedder(x: Mat, module: string, hidden: number): Mat {
    const h = mapMat(this.apply(x, `${module}.in_layer`, hidden), silu);
    return this.apply(h, `${module}.out_layer`, hidden);
  }
}

// ---------------------------------------------------------------------------------------------
// §3.3 Sinusoidal timestep / guidance embedding
// ---------------------------------------------------------------------------------------------

const MAX_PERIOD = 10_000;

/**
 * §3.3 E(t) for an ALREADY SCALED value t (= 1000 * sigma, or 1000 * guidance):
 * f_i = exp(-ln(10000) * i / half), half = dim / 2; E = [cos(t f_0..f_{half-1}), sin(t f_0..f_{half-1})]
 * (cos half first).
 */
export function timestepEmbedding(t: number, dim: number): Float64Array {
  if (dim % 2 !== 0) throw new Error('reference: timestep embedding dim must be even');
  const half = dim / 2;
  const out = new Float64Array(dim);
  for (let i = 0; i < half; i++) {
    const f = Math.exp((-Math.log(MAX_PERIOD) * i) / half);
    set(out, i, Math.cos(t * f));
    set(out, half + i, Math.sin(t * f));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// §3.4 Positional ids and RoPE
// ---------------------------------------------------------------------------------------------

/**
 * §3.4 RoPE angles for ids [n, 3] (row-major, n = ids.length / 3) -> [n, sum(axesDims) / 2].
 * Pair k belongs to axis a (axes laid out in order, axesDims[a] / 2 pairs each); its j-th pair within
 * the axis has omega = theta^(-2j / axesDims[a]); angle[p, k] = ids[p, a] * omega. Float64 throughout.
 */
export function ropeAngles(ids: Float64Array, axesDims: readonly number[], theta: number): Float64Array {
  if (ids.length % axesDims.length !== 0) throw new Error('reference: ids length not a multiple of axes');
  const n = ids.length / axesDims.length;
  const pairs = axesDims.reduce((s, d) => s + d, 0) / 2;
  const out = new Float64Array(n * pairs);
  for (let p = 0; p < n; p++) {
    let k = 0;
    for (let a = 0; a < axesDims.length; a++) {
      const dimA = axesDims[a] as number;
      for (let j = 0; j < dimA / 2; j++) {
        const omega = theta ** ((-2 * j) / dimA);
        set(out, p * pairs + k, get(ids, p * axesDims.length + a) * omega);
        k++;
      }
    }
  }
  return out;
}

/**
 * §3.4 Interleaved (adjacent-pair) rotation of one head vector x [2 * pairs] by angles [pairs]:
 * out[2k] = x[2k] cos a - x[2k+1] sin a ; out[2k+1] = x[2k] sin a + x[2k+1] cos a.
 */
export function applyRope(x: Float64Array, angles: Float64Array): Float64Array {
  if (x.length !== 2 * angles.length) throw new Error('reference: rope vector/angle size mismatch');
  const out = new Float64Array(x.length);
  for (let k = 0; k < angles.length; k++) {
    const a = get(angles, k);
    const x0 = get(x, 2 * k);
    const x1 = get(x, 2 * k + 1);
    set(out, 2 * k, x0 * Math.cos(a) - x1 * Math.sin(a));
    set(out, 2 * k + 1, x0 * Math.sin(a) + x1 * Math.cos(a));
  }
  return out;
}

/** §3.4 RoPE applied to every head of every token of x [n, numHeads * headDim]; angles [n, headDim/2]. */
function ropeHeads(x: Mat, angles: Float64Array, numHeads: number, headDim: number): Mat {
  const pairs = headDim / 2;
  if (angles.length !== x.rows * pairs) throw new Error('reference: rope angles do not match token count');
  const out = mat(x.rows, x.cols);
  for (let r = 0; r < x.rows; r++) {
    const ang = new Float64Array(pairs);
    for (let k = 0; k < pairs; k++) set(ang, k, get(angles, r * pairs + k));
    for (let h = 0; h < numHeads; h++) {
      const head = new Float64Array(headDim);
      for (let d = 0; d < headDim; d++) set(head, d, at(x, r, h * headDim + d));
      const rotated = applyRope(head, ang);
      for (let d = 0; d < headDim; d++) put(out, r, h * headDim + d, get(rotated, d));
    }
  }
  return out;
}

/**
 * §3.2 / §3.5 attention: per head, softmax(Q K^T / sqrt(headDim)) V, no mask; heads concatenated
 * h-major. q, k, v: [n, numHeads * headDim] (RoPE already applied to q and k).
 */
function attention(q: Mat, k: Mat, v: Mat, numHeads: number, headDim: number): Mat {
  const n = q.rows;
  const out = mat(n, numHeads * headDim);
  const scale = 1 / Math.sqrt(headDim);
  for (let h = 0; h < numHeads; h++) {
    for (let i = 0; i < n; i++) {
      const scores = new Float64Array(n);
      let max = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let d = 0; d < headDim; d++) s += at(q, i, h * headDim + d) * at(k, j, h * headDim + d);
        s *= scale;
        set(scores, j, s);
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        const e = Math.exp(get(scores, j) - max);
        set(scores, j, e);
        sum += e;
      }
      for (let d = 0; d < headDim; d++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += (get(scores, j) / sum) * at(v, j, h * headDim + d);
        put(out, i, h * headDim + d, acc);
      }
    }
  }
  return out;
}

/** Flat-array wrapper of the attention above for tests: q, k, v [tokens, numHeads * headDim] -> same. */
export function scaledDotProductAttention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  tokens: number,
  numHeads: number,
  headDim: number,
): Float64Array {
  const cols = numHeads * headDim;
  for (const t of [q, k, v]) {
    if (t.length !== tokens * cols) throw new Error('reference: attention input size mismatch');
  }
  const m = (data: Float64Array): Mat => ({ rows: tokens, cols, data });
  return attention(m(q), m(k), m(v), numHeads, headDim).data;
}

/** x + gate * y, gate [cols] broadcast over tokens (§3.5 steps 5-6, §3.6 step 6). */
function gatedResidual(x: Mat, gate: Float64Array, y: Mat): Mat {
  const out = mat(x.rows, x.cols);
  for (let r = 0; r < x.rows; r++) {
    for (let c = 0; c < x.cols; c++) put(out, r, c, at(x, r, c) + get(gate, c) * at(y, r, c));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// §3.5 Double-stream block
// ---------------------------------------------------------------------------------------------

interface StreamPre {
  readonly q: Mat;
  readonly k: Mat;
  readonly v: Mat;
  readonly mod: Mat; // [1, 6 * hidden]: shift1, scale1, gate1, shift2, scale2, gate2
}

function doubleStreamPre(
  cfg: FluxConfig,
  lin: Linears,
  x: Mat,
  siluVec: Mat,
  prefix: string, // e.g. 'double_blocks.0.img'
): StreamPre {
  const H = cfg.hiddenSize;
  // §3.5 step 1: modulation from SiLU(vec), 6 chunks.
  const mod = lin.apply(siluVec, `${prefix}_mod.lin`, 6 * H);
  const shift1 = chunk(mod, 0, H);
  const scale1 = chunk(mod, 1, H);
  // §3.5 step 2
  const y = modulate(x, shift1, scale1);
  // §3.5 step 3: fused qkv, [q | k | v], head-major inside each.
  const qkv = lin.apply(y, `${prefix}_attn.qkv`, 3 * H);
  const q = colsOf(qkv, 0, H);
  const k = colsOf(qkv, H, H);
  const v = colsOf(qkv, 2 * H, H);
  // §3.5 step 4: per-head QK RMSNorm with stream-specific scales.
  const qn = rmsNormHeads(
    q,
    cfg.numHeads,
    cfg.headDim,
    lin.raw(`${prefix}_attn.norm.query_norm.scale`),
    `${prefix}_attn.norm.query_norm.scale`,
  );
  const kn = rmsNormHeads(
    k,
    cfg.numHeads,
    cfg.headDim,
    lin.raw(`${prefix}_attn.norm.key_norm.scale`),
    `${prefix}_attn.norm.key_norm.scale`,
  );
  return { q: qn, k: kn, v, mod };
}

function doubleStreamPost(cfg: FluxConfig, lin: Linears, x: Mat, a: Mat, mod: Mat, prefix: string): Mat {
  const H = cfg.hiddenSize;
  const gate1 = chunk(mod, 2, H);
  const shift2 = chunk(mod, 3, H);
  const scale2 = chunk(mod, 4, H);
  const gate2 = chunk(mod, 5, H);
  // §3.5 step 5: X = X + gate1 * (A Wproj^T + b)
  const x1 = gatedResidual(x, gate1, lin.apply(a, `${prefix}_attn.proj`, H));
  // §3.5 step 6: X = X + gate2 * MLP(LN(X) * (1 + scale2) + shift2)
  const hIn = modulate(x1, shift2, scale2);
  const hMid = mapMat(lin.apply(hIn, `${prefix}_mlp.0`, cfg.mlpHidden), geluTanh);
  const hOut = lin.apply(hMid, `${prefix}_mlp.2`, H);
  return gatedResidual(x1, gate2, hOut);
}

function doubleBlock(
  cfg: FluxConfig,
  lin: Linears,
  index: number,
  img: Mat,
  txt: Mat,
  siluVec: Mat,
  angles: Float64Array,
): { img: Mat; txt: Mat } {
  const base = `double_blocks.${index}`;
  const pImg = doubleStreamPre(cfg, lin, img, siluVec, `${base}.img`);
  const pTxt = doubleStreamPre(cfg, lin, txt, siluVec, `${base}.txt`);
  // §3.5 joint: concat txt FIRST, RoPE on Q and K, attention, split back.
  const q = ropeHeads(concatRows(pTxt.q, pImg.q), angles, cfg.numHeads, cfg.headDim);
  const k = ropeHeads(concatRows(pTxt.k, pImg.k), angles, cfg.numHeads, cfg.headDim);
  const v = concatRows(pTxt.v, pImg.v);
  const a = attention(q, k, v, cfg.numHeads, cfg.headDim);
  const aTxt = rowsOf(a, 0, txt.rows);
  const aImg = rowsOf(a, txt.rows, img.rows);
  return {
    img: doubleStreamPost(cfg, lin, img, aImg, pImg.mod, `${base}.img`),
    txt: doubleStreamPost(cfg, lin, txt, aTxt, pTxt.mod, `${base}.txt`),
  };
}

// ---------------------------------------------------------------------------------------------
// §3.6 Single-stream block
// ---------------------------------------------------------------------------------------------

function singleBlock(
  cfg: FluxConfig,
  lin: Linears,
  index: number,
  x: Mat,
  siluVec: Mat,
  angles: Float64Array,
): Mat {
  const H = cfg.hiddenSize;
  const base = `single_blocks.${index}`;
  // §3.6 step 1: shift, scale, gate.
  const mod = lin.apply(siluVec, `${base}.modulation.lin`, 3 * H);
  const shift = chunk(mod, 0, H);
  const scale = chunk(mod, 1, H);
  const gate = chunk(mod, 2, H);
  // §3.6 step 2
  const y = modulate(x, shift, scale);
  // §3.6 step 3: linear1 -> [q | k | v | mlp_in]
  const z = lin.apply(y, `${base}.linear1`, 3 * H + cfg.mlpHidden);
  const q = colsOf(z, 0, H);
  const k = colsOf(z, H, H);
  const v = colsOf(z, 2 * H, H);
  const mlpIn = colsOf(z, 3 * H, cfg.mlpHidden);
  // §3.6 step 4: QK RMSNorm, RoPE, attention.
  const qn = rmsNormHeads(
    q,
    cfg.numHeads,
    cfg.headDim,
    lin.raw(`${base}.norm.query_norm.scale`),
    `${base}.norm.query_norm.scale`,
  );
  const kn = rmsNormHeads(
    k,
    cfg.numHeads,
    cfg.headDim,
    lin.raw(`${base}.norm.key_norm.scale`),
    `${base}.norm.key_norm.scale`,
  );
  const a = attention(
    ropeHeads(qn, angles, cfg.numHeads, cfg.headDim),
    ropeHeads(kn, angles, cfg.numHeads, cfg.headDim),
    v,
    cfg.numHeads,
    cfg.headDim,
  );
  // §3.6 step 5: O = concat(A, GELU(mlp_in)) -> linear2
  const o = concatCols(a, mapMat(mlpIn, geluTanh));
  const out = lin.apply(o, `${base}.linear2`, H);
  // §3.6 step 6
  return gatedResidual(x, gate, out);
}

// ---------------------------------------------------------------------------------------------
// §3.9 Full forward
// ---------------------------------------------------------------------------------------------

/** Returns the predicted velocity [B, L, inChannels] (packed latent layout), row-major. */
export function fluxReference(
  config: FluxConfig,
  weights: (bflName: string) => RefTensor,
  inputs: RefInputs,
  lora?: RefLora,
): Float64Array {
  const cfg = config;
  const H = cfg.hiddenSize;
  const B = inputs.batch;
  const L = inputs.imgTokens;
  const T = inputs.txtTokens;
  if (cfg.numHeads * cfg.headDim !== H) throw new Error('reference: hiddenSize != numHeads * headDim');
  if (cfg.axesDimsRope.reduce((s, d) => s + d, 0) !== cfg.headDim) {
    throw new Error('reference: axesDimsRope must sum to headDim');
  }
  if (inputs.timesteps.length !== B) throw new Error('reference: timesteps must be [B]');
  if (cfg.guidanceEmbeds && inputs.guidance?.length !== B) {
    throw new Error('reference: guidance [B] is required when guidanceEmbeds');
  }
  const lin = new Linears(weights, lora);
  const out = new Float64Array(B * L * cfg.inChannels);

  for (let b = 0; b < B; b++) {
    // §3.3 vec = MLP_time(E(1000 sigma)) + [MLP_guid(E(1000 g))] + MLP_vec(pooled)
    const tVec = timestepEmbedding(1000 * get(inputs.timesteps, b), cfg.timestepEmbeddingDim);
    let vec = lin.embedder(rowVector(tVec), 'time_in', H);
    if (cfg.guidanceEmbeds) {
      const g = get(inputs.guidance as Float64Array, b);
      const gVec = timestepEmbedding(1000 * g, cfg.timestepEmbeddingDim);
      vec = addMat(vec, lin.embedder(rowVector(gVec), 'guidance_in', H));
    }
    const pooled = sliceBatch(inputs.y, b, 1, cfg.pooledProjectionDim, 'y', B);
    vec = addMat(vec, lin.embedder(pooled, 'vector_in', H));
    // vec itself is not activated; every consumer applies SiLU first (§3.3).
    const siluVec = mapMat(vec, silu);

    // §3.3 input projections
    let img = lin.apply(sliceBatch(inputs.img, b, L, cfg.inChannels, 'img', B), 'img_in', H);
    let txt = lin.apply(sliceBatch(inputs.txt, b, T, cfg.jointAttentionDim, 'txt', B), 'txt_in', H);

    // §3.4 ids = concat(txt_ids, img_ids) for this batch item, then RoPE angles [T + L, headDim/2].
    const ids = concatRows(
      sliceBatch(inputs.txtIds, b, T, 3, 'txtIds', B),
      sliceBatch(inputs.imgIds, b, L, 3, 'imgIds', B),
    );
    const angles = ropeAngles(ids.data, cfg.axesDimsRope, cfg.ropeTheta);

    // §3.5 double-stream blocks
    for (let i = 0; i < cfg.numLayers; i++) {
      const r = doubleBlock(cfg, lin, i, img, txt, siluVec, angles);
      img = r.img;
      txt = r.txt;
    }

    // §3.6 single-stream blocks on X = cat(txt, img)
    let x = concatRows(txt, img);
    for (let j = 0; j < cfg.numSingleLayers; j++) x = singleBlock(cfg, lin, j, x, siluVec, angles);

    // §3.7 final layer on image tokens X[L_txt:], BFL order [shift; scale].
    const xImg = rowsOf(x, T, L);
    const fMod = lin.apply(siluVec, 'final_layer.adaLN_modulation.1', 2 * H);
    const shift = chunk(fMod, 0, H);
    const scale = chunk(fMod, 1, H);
    const y = lin.apply(modulate(xImg, shift, scale), 'final_layer.linear', cfg.inChannels);

    for (let r = 0; r < L; r++) {
      for (let c = 0; c < cfg.inChannels; c++) set(out, (b * L + r) * cfg.inChannels + c, at(y, r, c));
    }
  }

  if (lora !== undefined) {
    for (const name of lora.keys()) {
      if (!lin.usedLora.has(name))
        throw new Error(`reference: LoRA layer ${name} matches no Linear in the model`);
    }
  }
  return out;
}
