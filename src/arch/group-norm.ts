/**
 * @module arch/group-norm
 * GroupNorm(groups, eps, affine) over NCHW activations as standard ONNX operators that every
 * execution provider runs, CPU included (onnx-runtime.md §3, §6):
 *
 * ```
 * x [B, C, H, W] ─► Cast f32 ─► Reshape [B, G, C/G·H·W] ─► InstanceNormalization(ones, zeros, eps)
 *   ─► Reshape [B, C, H, W] ─► ·γ[C,1,1] + β[C,1,1] ─► (SiLU) ─► Cast back ─► y
 * ```
 * Each (batch item, group) row is one InstanceNormalization "channel", so its mean and biased
 * variance are exactly GroupNorm's. Statistics, affine and the optional SiLU run in fp32 whatever
 * the compute dtype (one rounding back to fp16 at the end).
 *
 * Why not the alternatives: com.microsoft `GroupNorm` has no CPU kernel (session creation fails);
 * opset-18/21 `GroupNormalization` is function-expanded into Reshape/ReduceMean/… on every EP
 * anyway. CUDA-friendly form: InstanceNormalization has CUDA f32/f16 kernels, so this graph runs on
 * CUDA as is. The faster fused kernel is com.microsoft `GroupNorm` (inputs NHWC, attributes
 * `groups`, `epsilon`, `activation` 1 = fused SiLU, `channels_last` 1; T ∈ f32/f16; γ/β f32): it
 * needs a Transpose to NHWC and back around each norm, or an NHWC VAE, and is CUDA-only.
 */
import { float } from '../onnx/attributes.js';
import type { Scope } from '../onnx/scope.js';
import type { BuildContext } from './build-context.js';
import { weightBytes } from './linear.js';
import { int64s } from './primitives.js';

export interface GroupNormOptions {
  readonly groups: number;
  /** 1e-6 in the FLUX AE. */
  readonly eps: number;
  /** Applies SiLU after the affine, in fp32 (every VAE GroupNorm but the attention's is followed by one). */
  readonly silu?: boolean;
}

/**
 * x [B, channels, H, W] in the compute dtype, weights `<scope>.weight` / `<scope>.bias` [channels].
 * @example const h = groupNorm(b, s.at('norm1'), x, 128, { groups: 32, eps: 1e-6, silu: true });
 */
export function groupNorm(
  b: BuildContext,
  s: Scope,
  x: string,
  channels: number,
  options: GroupNormOptions,
): string {
  const { g, weights } = b;
  const G = options.groups;
  if (channels % G !== 0) throw new Error(`group norm ${s.name}: ${channels} channels in ${G} groups`);
  const affine = (leaf: string) => {
    const key = s.key(leaf);
    // [C, 1, 1] broadcasts over H and W; always fp32 (a few hundred floats).
    return g.initializer(key, 'float32', [channels, 1, 1], async () =>
      weightBytes(await weights.readF32(key), 'float32'),
    );
  };
  const gamma = affine('weight');
  const beta = affine('bias');
  const x32 = b.dtype === 'float32' ? x : g.node(s.node('Cast_f32'), 'Cast', [x], { to: 1 });
  const grouped = g.node(s.node('Reshape_groups'), 'Reshape', [x32, int64s(b, [0, G, -1])]);
  const ones = g.constant('float32', [G], new Array(G).fill(1));
  const zeros = g.constant('float32', [G], new Array(G).fill(0));
  const normed = g.node(s.node('InstanceNormalization'), 'InstanceNormalization', [grouped, ones, zeros], {
    epsilon: float(options.eps),
  });
  const shape = g.node(s.node('Shape'), 'Shape', [x]);
  const back = g.node(s.node('Reshape_back'), 'Reshape', [normed, shape]);
  let y = g.node(s.node('Add_bias'), 'Add', [g.node(s.node('Mul_weight'), 'Mul', [back, gamma]), beta]);
  if (options.silu) y = g.node(s.node('Mul_silu'), 'Mul', [y, g.node(s.node('Sigmoid'), 'Sigmoid', [y])]);
  return b.dtype === 'float32' ? y : g.node(s.node('Cast_back'), 'Cast', [y], { to: 10 });
}
