/**
 * @module arch/attention
 * Unmasked scaled-dot-product attention over [B, S, heads*headDim] q, k, v (flux.md §3.2).
 */
import type { Scope } from '../onnx/scope.js';
import type { BuildContext } from './build-context.js';
import { int64s, scalar } from './primitives.js';

export function attention(
  b: BuildContext,
  s: Scope,
  q: string,
  k: string,
  v: string,
  heads: number,
  headDim: number,
): string {
  const { g } = b;
  if (b.ops === 'fused') {
    return g.node(
      s.node('MultiHeadAttention'),
      'MultiHeadAttention',
      [q, k, v],
      { num_heads: heads },
      {
        domain: 'com.microsoft',
      },
    );
  }
  const perHead = int64s(b, [0, 0, heads, headDim]);
  const bnsh = (x: string, n: string, perm: number[]) =>
    g.node(s.node(`Transpose_${n}`), 'Transpose', [g.node(s.node(`Reshape_${n}`), 'Reshape', [x, perHead])], {
      perm,
    });
  // Scaling q before the product keeps fp16 scores in range and costs S*D rather than S*S multiplies.
  const qScaled = g.node(s.node('Mul_scale'), 'Mul', [q, scalar(b, 1 / Math.sqrt(headDim))]);
  const qh = bnsh(qScaled, 'q', [0, 2, 1, 3]); // [B, H, S, D]
  const kt = bnsh(k, 'k', [0, 2, 3, 1]); // [B, H, D, S]
  const vh = bnsh(v, 'v', [0, 2, 1, 3]); // [B, H, S, D]
  const scores = g.node(s.node('MatMul_qk'), 'MatMul', [qh, kt]); // [B, H, S, S]
  const probs = g.node(s.node('Softmax'), 'Softmax', [scores], { axis: -1 });
  const out = g.node(s.node('MatMul_pv'), 'MatMul', [probs, vh]); // [B, H, S, D]
  const bshd = g.node(s.node('Transpose_out'), 'Transpose', [out], { perm: [0, 2, 1, 3] });
  return g.node(s.node('Reshape_out'), 'Reshape', [bshd, int64s(b, [0, 0, heads * headDim])]);
}
