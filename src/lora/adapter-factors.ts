/**
 * @module lora/adapter-factors
 * Each adapter algorithm of lora.md §6 as an exact low-rank product `ΔW = up · down` over the rows
 * a module patches (`up [rows, k]`, `down [k, in]`), before alpha scaling:
 * - LoRA: `up · down` as stored (§6.1).
 * - LoHa: `(w1a w1b) ⊙ (w2a w2b)` has rank ≤ r1·r2; the row-wise Khatri–Rao (face-splitting)
 *   products `up[o, (p,q)] = w1a[o,p]·w2a[o,q]`, `down[(p,q), i] = w1b[p,i]·w2b[q,i]` give it
 *   exactly (§6.3).
 * - LoKr: `kron(U1 V1, U2 V2) = kron(U1, U2) · kron(V1, V2)`, a full factor taking the identity on
 *   its shorter side, so the rank is k1·k2 (§6.4).
 * - Full `diff`: the delta itself, rank min(rows, in) through an identity factor (§6.6).
 * Shapes are validated against the target here (§5.3) and a mismatch names the key and the shape
 * it should have.
 */
import { errors } from '../errors.js';
import type { Param } from './lora-keys.js';
import type { Target } from './lora-targets.js';
import { identity, kron, type Matrix, matmul, matrix } from './matrix.js';

/** One tensor of an adapter module, read on demand. */
export interface ModuleTensor {
  readonly key: string;
  readonly shape: readonly number[];
  read(): Float32Array;
}

/** The tensors of one source module, by what their suffix says they are. */
export type ModuleTensors = ReadonlyMap<Param, ModuleTensor>;

export type Algorithm = 'lora' | 'loha' | 'lokr' | 'full';

export interface Factored {
  readonly algorithm: Algorithm;
  /** The rank of the exact product `up · down`. */
  readonly rank: number;
  /** The `r` of `α / r`; undefined where the algorithm has no alpha scaling (LoKr with full factors, diff). */
  readonly alphaRank: number | undefined;
  /** `up [rows, rank]` and `down [rank, in]`. */
  factors(): { up: Matrix; down: Matrix };
  /** The dense `[rows, in]` delta, cheaper than the factors when the rank exceeds min(rows, in). */
  dense(): Matrix;
}

interface Context {
  readonly lora: string;
  readonly target: Target;
}

/** The tensor as a matrix of `expected` shape (trailing 1×1 conv dims dropped); -1 matches any size. */
function read2d(ctx: Context, t: ModuleTensor, expected: readonly [number, number], what: string): Matrix {
  const dims = [...t.shape];
  while (dims.length > 2 && dims[dims.length - 1] === 1) dims.pop();
  const ok = dims.length === 2 && dims.every((d, k) => expected[k] === -1 || d === expected[k]);
  if (!ok) {
    const want = expected.map((d) => (d === -1 ? '*' : String(d))).join(', ');
    throw errors.LORA(
      ctx.lora,
      `tensor ${t.key} has shape [${t.shape.join(', ')}], expected [${want}] (${what} of ${ctx.target.layer.name}` +
        ` rows ${ctx.target.rowOffset}..${ctx.target.rowOffset + ctx.target.rows}; a LoRA for another model?)`,
    );
  }
  return matrix(dims[0] as number, dims[1] as number, t.read());
}

function need(ctx: Context, m: ModuleTensors, p: Param, module: string): ModuleTensor {
  const t = m.get(p);
  if (!t) throw errors.LORA(ctx.lora, `module ${module} has no ${p} tensor`);
  return t;
}

function plainLora(ctx: Context, m: ModuleTensors, module: string): Factored {
  const { rows, layer } = ctx.target;
  const downT = need(ctx, m, 'down', module);
  const r = downT.shape[0] ?? 0;
  const down = read2d(ctx, downT, [r, layer.in], 'down/A factor [rank, in]');
  const up = read2d(ctx, need(ctx, m, 'up', module), [rows, r], 'up/B factor [rows, rank]');
  return {
    algorithm: 'lora',
    rank: r,
    alphaRank: r,
    factors: () => ({ up, down }),
    dense: () => matmul(up, down),
  };
}

function loha(ctx: Context, m: ModuleTensors, module: string): Factored {
  const { rows, layer } = ctx.target;
  const w1bT = need(ctx, m, 'hada_w1_b', module);
  const w2bT = need(ctx, m, 'hada_w2_b', module);
  const r1 = w1bT.shape[0] ?? 0;
  const r2 = w2bT.shape[0] ?? 0;
  const w1a = read2d(ctx, need(ctx, m, 'hada_w1_a', module), [rows, r1], 'hada_w1_a [rows, rank]');
  const w1b = read2d(ctx, w1bT, [r1, layer.in], 'hada_w1_b [rank, in]');
  const w2a = read2d(ctx, need(ctx, m, 'hada_w2_a', module), [rows, r2], 'hada_w2_a [rows, rank]');
  const w2b = read2d(ctx, w2bT, [r2, layer.in], 'hada_w2_b [rank, in]');
  return {
    algorithm: 'loha',
    rank: r1 * r2,
    alphaRank: r1,
    factors() {
      const up = matrix(rows, r1 * r2);
      const down = matrix(r1 * r2, layer.in);
      for (let p = 0; p < r1; p++) {
        for (let q = 0; q < r2; q++) {
          const k = p * r2 + q;
          for (let o = 0; o < rows; o++) {
            up.data[o * r1 * r2 + k] = (w1a.data[o * r1 + p] as number) * (w2a.data[o * r2 + q] as number);
          }
          for (let i = 0; i < layer.in; i++) {
            down.data[k * layer.in + i] =
              (w1b.data[p * layer.in + i] as number) * (w2b.data[q * layer.in + i] as number);
          }
        }
      }
      return { up, down };
    },
    dense() {
      const x = matmul(w1a, w1b);
      const y = matmul(w2a, w2b);
      for (let i = 0; i < x.data.length; i++) x.data[i] = (x.data[i] as number) * (y.data[i] as number);
      return x;
    },
  };
}

/** A LoKr factor `W = U · V`: stored decomposed (`_a`, `_b`) or full (identity on the shorter side). */
function lokrFactor(
  ctx: Context,
  m: ModuleTensors,
  n: 1 | 2,
  module: string,
): { u: Matrix; v: Matrix; r?: number } {
  const full = m.get(`lokr_w${n}`);
  if (full) {
    const w = read2d(ctx, full, [-1, -1], `lokr_w${n}`);
    return w.rows <= w.cols ? { u: identity(w.rows), v: w } : { u: w, v: identity(w.cols) };
  }
  const b = need(ctx, m, `lokr_w${n}_b`, module);
  const r = b.shape[0] ?? 0;
  const u = read2d(ctx, need(ctx, m, `lokr_w${n}_a`, module), [-1, r], `lokr_w${n}_a [*, rank]`);
  return { u, v: read2d(ctx, b, [r, -1], `lokr_w${n}_b [rank, *]`), r };
}

function lokr(ctx: Context, m: ModuleTensors, module: string): Factored {
  const { rows, layer } = ctx.target;
  const f1 = lokrFactor(ctx, m, 1, module);
  const f2 = lokrFactor(ctx, m, 2, module);
  const outRows = f1.u.rows * f2.u.rows;
  const inCols = f1.v.cols * f2.v.cols;
  if (outRows !== rows || inCols !== layer.in) {
    throw errors.LORA(
      ctx.lora,
      `LoKr module ${module} makes a [${outRows}, ${inCols}] delta, expected [${rows}, ${layer.in}] for ${layer.name}`,
    );
  }
  return {
    algorithm: 'lokr',
    rank: f1.u.cols * f2.u.cols,
    // ComfyUI/LyCORIS: α / r of the last decomposed factor; no alpha scaling when both are full.
    alphaRank: f2.r ?? f1.r,
    factors: () => ({ up: kron(f1.u, f2.u), down: kron(f1.v, f2.v) }),
    dense: () => kron(matmul(f1.u, f1.v), matmul(f2.u, f2.v)),
  };
}

function full(ctx: Context, m: ModuleTensors, module: string): Factored {
  const { rows, layer } = ctx.target;
  const delta = read2d(ctx, need(ctx, m, 'diff', module), [rows, layer.in], 'diff [rows, in]');
  const rank = Math.min(rows, layer.in);
  return {
    algorithm: 'full',
    rank,
    alphaRank: undefined,
    factors: () =>
      rows <= layer.in ? { up: identity(rows), down: delta } : { up: delta, down: identity(layer.in) },
    dense: () => delta,
  };
}

/**
 * The algorithm a module's suffix set implies (lora.md §4.7 order), or undefined when it has no
 * weight factors at all (a lone alpha or bias delta). DoRA is refused by the caller beforehand.
 */
export function moduleFactors(
  lora: string,
  target: Target,
  module: string,
  m: ModuleTensors,
): Factored | undefined {
  const ctx = { lora, target };
  if (m.has('up') || m.has('down')) return plainLora(ctx, m, module);
  if (m.has('hada_w1_a') || m.has('hada_w1_b')) return loha(ctx, m, module);
  if (m.has('lokr_w1') || m.has('lokr_w1_a') || m.has('lokr_w2') || m.has('lokr_w2_a'))
    return lokr(ctx, m, module);
  if (m.has('diff')) return full(ctx, m, module);
  return undefined;
}
