/**
 * @module arch/norm
 * FLUX's two normalizations: the affine-free LayerNorm of the residual streams and the per-head
 * QK RMSNorm with a learned scale (flux.md §3.2).
 */

import { float } from '../onnx/attributes.js';
import type { Scope } from '../onnx/scope.js';
import type { BuildContext } from './build-context.js';
import { weightBytes } from './linear.js';
import { int64s, scalar } from './primitives.js';

const EPS = 1e-6;

/** (x - mean) / sqrt(var + 1e-6) over the last axis of width `dim`; statistics in fp32. */
export function layerNormNoAffine(b: BuildContext, s: Scope, x: string, dim: number): string {
  const ones = b.g.constant(b.dtype, [dim], new Array(dim).fill(1));
  const zeros = b.g.constant(b.dtype, [dim], new Array(dim).fill(0));
  return b.g.node(s.node('LayerNormalization'), 'LayerNormalization', [x, ones, zeros], {
    axis: -1,
    epsilon: float(EPS),
    stash_type: 1,
  });
}

/**
 * x [B, S, heads*headDim] ─► per-head RMSNorm with scale `<scope>.scale` [headDim] ─► [B, S, heads*headDim]
 */
export function qkRmsNorm(b: BuildContext, s: Scope, x: string, heads: number, headDim: number): string {
  const { g } = b;
  const key = s.key('scale');
  const scale = g.initializer(key, b.dtype, [headDim], async () =>
    weightBytes(await b.weights.readF32(key), b.dtype),
  );
  const perHead = g.node(s.node('Reshape_heads'), 'Reshape', [x, int64s(b, [0, 0, heads, headDim])]); // [B, S, H, D]
  let normed: string;
  if (b.ops === 'fused') {
    normed = g.node(
      s.node('SimplifiedLayerNormalization'),
      'SimplifiedLayerNormalization',
      [perHead, scale],
      {
        axis: -1,
        epsilon: float(EPS),
        stash_type: 1,
      },
    );
  } else {
    // Statistics in fp32 whatever the compute dtype, as BFL's RMSNorm does.
    const x32 = b.dtype === 'float32' ? perHead : g.node(s.node('Cast_f32'), 'Cast', [perHead], { to: 1 });
    const sq = g.node(s.node('Mul_square'), 'Mul', [x32, x32]);
    const ms = g.node(s.node('ReduceMean'), 'ReduceMean', [sq, int64s(b, [-1])], { keepdims: 1 });
    const eps = g.constant('float32', [], [EPS]);
    const rms = g.node(s.node('Sqrt'), 'Sqrt', [g.node(s.node('Add_eps'), 'Add', [ms, eps])]);
    const n32 = g.node(s.node('Div'), 'Div', [x32, rms]);
    const n = b.dtype === 'float32' ? n32 : g.node(s.node('Cast_back'), 'Cast', [n32], { to: 10 });
    normed = g.node(s.node('Mul_scale'), 'Mul', [n, scale]);
  }
  return g.node(s.node('Reshape_back'), 'Reshape', [normed, int64s(b, [0, 0, heads * headDim])]);
}

/** LN(x) * (1 + scale) + shift, with scale/shift [B, 1, dim] from a modulation. */
export function modulate(
  b: BuildContext,
  s: Scope,
  x: string,
  dim: number,
  shift: string,
  scale: string,
): string {
  const { g } = b;
  const n = layerNormNoAffine(b, s, x, dim);
  const onePlus = g.node(s.node('Add_one'), 'Add', [scale, scalar(b, 1)]);
  return g.node(s.node('Add_shift'), 'Add', [g.node(s.node('Mul_scale'), 'Mul', [n, onePlus]), shift]);
}
