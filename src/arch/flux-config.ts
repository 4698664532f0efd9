/**
 * @module arch/flux-config
 * The FLUX transformer's hyper-parameters, read from a diffusers `transformer/config.json`
 * (FluxTransformer2DModel), validated once and frozen. Variants (schnell, dev, tiny) are data.
 */
import { errors } from '../errors.js';
import { type ConfigJson, configJson } from './config-json.js';

export interface FluxConfig {
  /** Packed latent channels in and out (16 VAE channels x 2x2 patch = 64). */
  readonly inChannels: number;
  readonly numLayers: number;
  readonly numSingleLayers: number;
  readonly headDim: number;
  readonly numHeads: number;
  /** T5 hidden size fed to `txt_in`. */
  readonly jointAttentionDim: number;
  /** CLIP pooled size fed to `vector_in`. */
  readonly pooledProjectionDim: number;
  readonly guidanceEmbeds: boolean;
  /** RoPE dims per id axis; they sum to headDim. */
  readonly axesDimsRope: readonly number[];
  readonly hiddenSize: number;
  /** MLP hidden = 4 x hidden in every FLUX release (diffusers hard-codes the ratio). */
  readonly mlpHidden: number;
  readonly ropeTheta: number;
  /** Width of the sinusoidal timestep/guidance embedding. */
  readonly timestepEmbeddingDim: number;
}

function integer(json: ConfigJson, key: string, fallback?: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw errors.CONFIG(`${key} must be a positive integer, got ${JSON.stringify(json[key])}`);
  }
  return v;
}

/** Parses a diffusers FluxTransformer2DModel config; missing optional fields take diffusers' defaults. */
export function parseFluxConfig(input: unknown): FluxConfig {
  const json = configJson(input, 'transformer');
  const patchSize = integer(json, 'patch_size', 1);
  if (patchSize !== 1) throw errors.CONFIG(`patch_size ${patchSize} is not supported (FLUX.1 uses 1)`);
  const inChannels = integer(json, 'in_channels', 64);
  const outChannels = json.out_channels ?? null;
  if (outChannels !== null && outChannels !== inChannels) {
    throw errors.CONFIG(`out_channels ${String(outChannels)} must equal in_channels ${inChannels}`);
  }
  const headDim = integer(json, 'attention_head_dim', 128);
  const numHeads = integer(json, 'num_attention_heads', 24);
  const axes = json.axes_dims_rope ?? [16, 56, 56];
  if (
    !Array.isArray(axes) ||
    axes.length !== 3 ||
    !axes.every((a) => Number.isInteger(a) && a > 0 && a % 2 === 0)
  ) {
    throw errors.CONFIG(`axes_dims_rope must be three positive even integers, got ${JSON.stringify(axes)}`);
  }
  const axesSum = (axes as number[]).reduce((s, a) => s + a, 0);
  if (axesSum !== headDim) {
    throw errors.CONFIG(`axes_dims_rope ${JSON.stringify(axes)} must sum to attention_head_dim ${headDim}`);
  }
  const guidance = json.guidance_embeds ?? false;
  if (typeof guidance !== 'boolean') throw errors.CONFIG('guidance_embeds must be a boolean');
  const hiddenSize = headDim * numHeads;
  return Object.freeze({
    inChannels,
    numLayers: integer(json, 'num_layers', 19),
    numSingleLayers: integer(json, 'num_single_layers', 38),
    headDim,
    numHeads,
    jointAttentionDim: integer(json, 'joint_attention_dim', 4096),
    pooledProjectionDim: integer(json, 'pooled_projection_dim', 768),
    guidanceEmbeds: guidance,
    axesDimsRope: Object.freeze([...(axes as number[])]),
    hiddenSize,
    mlpHidden: hiddenSize * 4,
    ropeTheta: 10_000,
    timestepEmbeddingDim: 256,
  });
}
