/**
 * What bench/gpu measures, in one place: the GPU run's sizes and the dry run's toy sizes. The dry
 * run goes through the same code with these swapped, so everything but the sizes and the provider
 * is rehearsed on a machine without a GPU.
 */
import type { Provider } from '../../src/runtime/provider.js';

export type Mode = 'gpu' | 'dry';

/** A transformer depth built from the one random checkpoint: double and single blocks. */
export interface Depth {
  readonly double: number;
  readonly single: number;
}

export interface Profile {
  readonly mode: Mode;
  readonly provider: Provider;
  /** diffusers FluxTransformer2DModel config of the "full width" checkpoint (its block counts are the largest depth's). */
  readonly widthConfig: Readonly<Record<string, unknown>>;
  /** Label of the width ("hidden 3072, 24 heads" or the toy one). */
  readonly widthLabel: string;
  /** Square image sizes in pixels, the first being the headline one (1024²). */
  readonly sizes: readonly number[];
  readonly txtTokens: number;
  /**
   * The depths built: the first is the full 2 + 2; the per-block times are its differences with the
   * two others (one double block fewer, one single block fewer).
   */
  readonly depths: readonly [Depth, Depth, Depth];
  readonly warmup: number;
  readonly runs: number;
  /** How many LoRAs, each of rank `loraRank` on every linear. */
  readonly loraCounts: readonly number[];
  readonly loraRank: number;
  /** The tiny graphs' symbolic dims. */
  readonly tinyDims: Readonly<Record<string, number>>;
}

/** The 12B model's depth, for the extrapolated step. */
export const SCHNELL_DEPTH: Depth = { double: 19, single: 38 };

const DEPTHS: [Depth, Depth, Depth] = [
  { double: 2, single: 2 },
  { double: 1, single: 2 },
  { double: 2, single: 1 },
];

const TINY_DIMS = {
  batch: 1,
  seq: 32,
  img_tokens: 64,
  txt_tokens: 32,
  latent_height: 16,
  latent_width: 16,
  image_height: 128,
  image_width: 128,
};

/** What both modes measure alike: the depths, the LoRA sets and the tiny graphs' sizes. */
const SHARED = { depths: DEPTHS, loraCounts: [0, 1, 5], loraRank: 16, tinyDims: TINY_DIMS } as const;

export function profile(mode: Mode): Profile {
  if (mode === 'gpu') {
    return {
      ...SHARED,
      mode,
      provider: 'cuda',
      // Every field left out takes FLUX.1's value (parseFluxConfig's defaults are schnell's).
      widthConfig: { num_layers: 2, num_single_layers: 2, guidance_embeds: false },
      widthLabel: 'hidden 3072, 24 heads × 128',
      sizes: [1024, 512],
      txtTokens: 512,
      warmup: 3,
      runs: 10,
    };
  }
  return {
    ...SHARED,
    mode,
    provider: 'cpu',
    widthConfig: {
      num_layers: 2,
      num_single_layers: 2,
      attention_head_dim: 16,
      num_attention_heads: 2,
      joint_attention_dim: 32,
      pooled_projection_dim: 32,
      guidance_embeds: false,
      axes_dims_rope: [4, 6, 6],
    },
    widthLabel: 'toy width: hidden 32, 2 heads × 16 (dry run)',
    sizes: [128, 64],
    txtTokens: 32,
    warmup: 1,
    runs: 3,
  };
}

/** Image tokens of a square image: the 16×16-pixel patches of its latent. */
export function imageTokens(size: number): number {
  return (size / 16) ** 2;
}
