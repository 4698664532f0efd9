/**
 * @module arch/rope
 * FLUX's multi-axis rotary embedding (flux.md §3.4): angles from the 3 position ids per token,
 * rotation of adjacent pairs (x[2k], x[2k+1]) — ONNX Runtime's `interleaved=1`.
 */
import type { Scope } from '../onnx/scope.js';
import type { BuildContext } from './build-context.js';
import { int64s } from './primitives.js';

/**
 * The [3, headDim/2] matrix Ω with Ω[axis(k), k] = theta^(-2j/dim_axis), so that
 * angles = ids · Ω. Each product meets only zeros besides its own term, so it is exact.
 */
export function ropeFrequencies(axesDims: readonly number[], theta: number): Float32Array {
  const pairs = axesDims.reduce((n, d) => n + d, 0) / 2;
  const omega = new Float32Array(axesDims.length * pairs);
  let k = 0;
  for (const [axis, dim] of axesDims.entries()) {
    for (let j = 0; j < dim / 2; j++, k++) omega[axis * pairs + k] = theta ** ((-2 * j) / dim);
  }
  return omega;
}

export interface RopeTables {
  /** [B, S, headDim/2] in the compute dtype. */
  readonly cos: string;
  readonly sin: string;
  /** Fused variant only: cos/sin flattened to [B*S, headDim/2] caches and positions [B, S] into them. */
  readonly cosCache?: string;
  readonly sinCache?: string;
  readonly positions?: string;
}

/** ids [B, S, 3] (float32) ─► MatMul Ω ─► angles [B, S, P] ─► cos, sin */
export function ropeTables(
  b: BuildContext,
  s: Scope,
  ids: string,
  axesDims: readonly number[],
  theta: number,
): RopeTables {
  const { g } = b;
  const pairs = axesDims.reduce((n, d) => n + d, 0) / 2;
  const omega = g.constant('float32', [axesDims.length, pairs], Array.from(ropeFrequencies(axesDims, theta)));
  const angles = g.node(s.node('MatMul_angles'), 'MatMul', [ids, omega]); // [B, S, P]
  const cast = (x: string, n: string) =>
    b.dtype === 'float32' ? x : g.node(s.node(`Cast_${n}`), 'Cast', [x], { to: 10 });
  const cos = cast(g.node(s.node('Cos'), 'Cos', [angles]), 'cos');
  const sin = cast(g.node(s.node('Sin'), 'Sin', [angles]), 'sin');
  if (b.ops === 'plain') return { cos, sin };
  // The contrib RotaryEmbedding looks angles up in a cache by position; give every (b, s) its own row.
  const cosCache = g.node(s.node('Reshape_cos_cache'), 'Reshape', [cos, int64s(b, [-1, pairs])]);
  const sinCache = g.node(s.node('Reshape_sin_cache'), 'Reshape', [sin, int64s(b, [-1, pairs])]);
  const rows = g.node(s.node('Div_rows'), 'Div', [
    g.node(s.node('Size'), 'Size', [angles]),
    g.constant('int64', [], [pairs]),
  ]);
  const range = g.node(s.node('Range'), 'Range', [
    g.constant('int64', [], [0]),
    rows,
    g.constant('int64', [], [1]),
  ]);
  const bs = g.node(s.node('Shape_bs'), 'Shape', [angles], { start: 0, end: 2 });
  const positions = g.node(s.node('Reshape_positions'), 'Reshape', [range, bs]); // [B, S]
  return { cos, sin, cosCache, sinCache, positions };
}

/** Rotates q or k [B, S, heads*headDim] by the tables. */
export function applyRope(
  b: BuildContext,
  s: Scope,
  x: string,
  t: RopeTables,
  heads: number,
  headDim: number,
): string {
  const { g } = b;
  if (b.ops === 'fused' && t.cosCache && t.sinCache && t.positions) {
    return g.node(
      s.node('RotaryEmbedding'),
      'RotaryEmbedding',
      [x, t.positions, t.cosCache, t.sinCache],
      { interleaved: 1 },
      {
        domain: 'com.microsoft',
      },
    );
  }
  const pairs = headDim / 2;
  const xp = g.node(s.node('Reshape_pairs'), 'Reshape', [x, int64s(b, [0, 0, heads, pairs, 2])]); // [B, S, H, P, 2]
  const [x0, x1] = g.nodeN(
    s.node('Split_pairs'),
    'Split',
    [xp, int64s(b, [1, 1])],
    { axis: -1 },
    { outputs: 2 },
  );
  const axes = int64s(b, [2, 4]);
  const cos = g.node(s.node('Unsqueeze_cos'), 'Unsqueeze', [t.cos, axes]); // [B, S, 1, P, 1]
  const sin = g.node(s.node('Unsqueeze_sin'), 'Unsqueeze', [t.sin, axes]);
  const mul = (n: string, p: string, q: string) => g.node(s.node(`Mul_${n}`), 'Mul', [p, q]);
  const r0 = g.node(s.node('Sub_r0'), 'Sub', [mul('x0c', x0 as string, cos), mul('x1s', x1 as string, sin)]);
  const r1 = g.node(s.node('Add_r1'), 'Add', [mul('x0s', x0 as string, sin), mul('x1c', x1 as string, cos)]);
  const rotated = g.node(s.node('Concat_pairs'), 'Concat', [r0, r1], { axis: -1 });
  return g.node(s.node('Reshape_back'), 'Reshape', [rotated, int64s(b, [0, 0, heads * headDim])]);
}
