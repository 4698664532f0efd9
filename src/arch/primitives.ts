/**
 * @module arch/primitives
 * Small subgraphs shared by every architecture: activations, casts, scalars and splits, each
 * named under the caller's scope.
 */
import type { Scope } from '../onnx/scope.js';
import type { BuildContext } from './build-context.js';

/** A scalar constant in the compute dtype. */
export function scalar(b: BuildContext, value: number): string {
  return b.g.constant(b.dtype, [], [value]);
}

export function int64s(b: BuildContext, values: readonly number[]): string {
  return b.g.constant('int64', [values.length], values);
}

/** Casts to the compute dtype; a no-op in float32 graphs. */
export function toCompute(b: BuildContext, s: Scope, x: string): string {
  return b.dtype === 'float32' ? x : b.g.node(s.node('Cast'), 'Cast', [x], { to: 10 });
}

/** Casts back to float32 for the graph boundary; a no-op in float32 graphs. */
export function toFloat32(b: BuildContext, s: Scope, x: string): string {
  return b.dtype === 'float32' ? x : b.g.node(s.node('Cast_f32'), 'Cast', [x], { to: 1 });
}

/** SiLU(x) = x * sigmoid(x). */
export function silu(b: BuildContext, s: Scope, x: string): string {
  const sig = b.g.node(s.node('Sigmoid'), 'Sigmoid', [x]);
  return b.g.node(s.node('Mul'), 'Mul', [x, sig]);
}

/** GELU with the tanh approximation, as every FLUX MLP uses. */
export function geluTanh(b: BuildContext, s: Scope, x: string): string {
  return b.g.node(s.node('Gelu'), 'Gelu', [x], { approximate: 'tanh' });
}

/** Splits `x` along `axis` into parts of the given sizes. */
export function split(
  b: BuildContext,
  s: Scope,
  x: string,
  axis: number,
  sizes: readonly number[],
): string[] {
  return b.g.nodeN(s.node('Split'), 'Split', [x, int64s(b, sizes)], { axis }, { outputs: sizes.length });
}

/**
 * fp16 only: clips a residual stream to the fp16 range; FLUX's text stream after a double block and
 * its residual after a single block exceed 65504 (diffusers PR #9097, flux.md §10).
 */
export function clampFp16(b: BuildContext, s: Scope, x: string): string {
  if (b.dtype === 'float32') return x;
  return b.g.node(s.node('Clip'), 'Clip', [x, scalar(b, -65504), scalar(b, 65504)]);
}
