/**
 * @module arch/vae-config
 * The FLUX autoencoder's hyper-parameters, read from a diffusers `vae/config.json` (AutoencoderKL),
 * validated once and frozen (flux.md §7.1). Every field defaults to the FLUX AE, so `{}` is the real
 * model and a tiny test model is a few overrides.
 */
import { errors } from '../errors.js';
import { type ConfigJson, configJson } from './config-json.js';

export interface VaeConfig {
  /** Image channels in (encoder) and out (decoder): 3. */
  readonly inChannels: number;
  readonly outChannels: number;
  /** z channels: 16 (the encoder's conv_out has twice as many: mean and logvar). */
  readonly latentChannels: number;
  /** Channels per resolution level, highest resolution first: [128, 256, 512, 512]. */
  readonly blockOutChannels: readonly number[];
  /** ResBlocks per encoder level (the decoder has one more per level): 2. */
  readonly layersPerBlock: number;
  /** GroupNorm groups: 32; every channel count must be divisible by it. */
  readonly normNumGroups: number;
  /** GroupNorm epsilon: 1e-6 in BFL's AE and diffusers' AutoencoderKL. */
  readonly normEps: number;
  /** Transformer latent = (z - shift) * scale; decode inverts it. */
  readonly scalingFactor: number;
  readonly shiftFactor: number;
  /** Whether the mid blocks have their single-head attention (true for FLUX). */
  readonly midBlockAddAttention: boolean;
}

function integer(json: ConfigJson, key: string, fallback: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw errors.CONFIG(`vae ${key} must be a positive integer, got ${JSON.stringify(json[key])}`);
  }
  return v;
}

function finite(json: ConfigJson, key: string, fallback: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw errors.CONFIG(`vae ${key} must be a finite number, got ${JSON.stringify(json[key])}`);
  }
  return v;
}

function blockTypes(json: ConfigJson, key: string, expected: string, levels: number): void {
  const v = json[key];
  if (v === undefined) return;
  if (!Array.isArray(v) || v.length !== levels || v.some((t) => t !== expected)) {
    throw errors.CONFIG(`vae ${key} must be ${levels} x ${expected}, got ${JSON.stringify(v)}`);
  }
}

/**
 * Parses a diffusers AutoencoderKL config; missing fields take the FLUX AE's values.
 * @example const vae = parseVaeConfig(JSON.parse(await readFile('vae/config.json', 'utf8')));
 */
export function parseVaeConfig(input: unknown = {}): VaeConfig {
  const json = configJson(input, 'vae');
  const blocks = json.block_out_channels ?? [128, 256, 512, 512];
  if (
    !Array.isArray(blocks) ||
    blocks.length === 0 ||
    !blocks.every((c) => typeof c === 'number' && Number.isInteger(c) && c > 0)
  ) {
    throw errors.CONFIG(
      `vae block_out_channels must be positive integers, got ${JSON.stringify(json.block_out_channels)}`,
    );
  }
  const blockOutChannels = blocks as number[];
  const normNumGroups = integer(json, 'norm_num_groups', 32);
  const bad = blockOutChannels.find((c) => c % normNumGroups !== 0);
  if (bad !== undefined) {
    throw errors.CONFIG(
      `vae block_out_channels entry ${bad} is not divisible by norm_num_groups ${normNumGroups}`,
    );
  }
  blockTypes(json, 'down_block_types', 'DownEncoderBlock2D', blockOutChannels.length);
  blockTypes(json, 'up_block_types', 'UpDecoderBlock2D', blockOutChannels.length);
  const act = json.act_fn ?? 'silu';
  if (act !== 'silu')
    throw errors.CONFIG(`vae act_fn ${JSON.stringify(act)} is not supported (FLUX uses silu)`);
  for (const key of ['use_quant_conv', 'use_post_quant_conv'] as const) {
    if ((json[key] ?? false) !== false) {
      throw errors.CONFIG(`vae ${key} is not supported (the FLUX AE has no quant convs)`);
    }
  }
  for (const key of ['latents_mean', 'latents_std'] as const) {
    if ((json[key] ?? null) !== null) throw errors.CONFIG(`vae ${key} is not supported (FLUX sets it null)`);
  }
  const attn = json.mid_block_add_attention ?? true;
  if (typeof attn !== 'boolean') throw errors.CONFIG('vae mid_block_add_attention must be a boolean');
  const scalingFactor = finite(json, 'scaling_factor', 0.3611);
  if (scalingFactor === 0) throw errors.CONFIG('vae scaling_factor must not be 0');
  return Object.freeze({
    inChannels: integer(json, 'in_channels', 3),
    outChannels: integer(json, 'out_channels', 3),
    latentChannels: integer(json, 'latent_channels', 16),
    blockOutChannels: Object.freeze([...blockOutChannels]),
    layersPerBlock: integer(json, 'layers_per_block', 2),
    normNumGroups,
    normEps: 1e-6,
    scalingFactor,
    // An explicit null (diffusers' "no shift") is 0; a missing key is the FLUX AE's 0.1159.
    shiftFactor: json.shift_factor === null ? 0 : finite(json, 'shift_factor', 0.1159),
    midBlockAddAttention: attn,
  });
}

/** The spatial factor between image and latent: 2^(levels - 1) = 8 for FLUX. */
export function vaeDownscale(c: VaeConfig): number {
  return 2 ** (c.blockOutChannels.length - 1);
}
