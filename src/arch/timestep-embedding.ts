/**
 * @module arch/timestep-embedding
 * The sinusoidal embedding of sigma and guidance (flux.md §3.3): E(s) = [cos(1000 s f), sin(1000 s f)],
 * f_i = exp(-ln(10000) i / half). Always computed in fp32 (CUDA has no bf16 Sin/Cos, and fp16
 * loses the phase of 1000 s f), then cast to the compute dtype.
 */
import type { Scope } from '../onnx/scope.js';
import type { BuildContext } from './build-context.js';
import { int64s, toCompute } from './primitives.js';

const TIME_FACTOR = 1000;
const MAX_PERIOD = 10_000;

export function sinusoidFrequencies(dim: number): Float32Array {
  const half = dim / 2;
  return Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(MAX_PERIOD) * i) / half));
}

/** s [B] float32 ─► [B, dim] in the compute dtype. */
export function timestepEmbedding(b: BuildContext, s: Scope, x: string, dim: number): string {
  const { g } = b;
  const freqs = g.constant('float32', [1, dim / 2], Array.from(sinusoidFrequencies(dim)));
  const t = g.node(s.node('Mul_time_factor'), 'Mul', [x, g.constant('float32', [], [TIME_FACTOR])]);
  const col = g.node(s.node('Unsqueeze'), 'Unsqueeze', [t, int64s(b, [1])]); // [B, 1]
  const args = g.node(s.node('Mul_freqs'), 'Mul', [col, freqs]); // [B, half]
  const emb = g.node(
    s.node('Concat'),
    'Concat',
    [g.node(s.node('Cos'), 'Cos', [args]), g.node(s.node('Sin'), 'Sin', [args])],
    {
      axis: 1,
    },
  );
  return toCompute(b, s, emb);
}
