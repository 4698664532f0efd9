/**
 * @module arch/t5-config
 * The T5 v1.1 encoder's hyper-parameters (FLUX's `text_encoder_2`), read from a Hugging Face
 * `text_encoder_2/config.json` (T5Config), validated once and frozen. A missing field takes the
 * `google/t5-v1_1-xxl` value (flux.md §2.2), not HF's T5Config default (which is t5-small with a
 * ReLU FFN), so `parseT5Config({})` is the FLUX T5-XXL encoder.
 */
import { errors } from '../errors.js';
import { type ConfigJson, configJson } from './config-json.js';

export interface T5Config {
  readonly vocabSize: number;
  /** Width of the residual stream (4096 for XXL). */
  readonly dModel: number;
  /** Per-head width of q, k and v (64 for XXL). */
  readonly dKv: number;
  /** Gated FFN hidden width (10240 for XXL). */
  readonly dFf: number;
  /** Encoder blocks (24 for XXL). */
  readonly numLayers: number;
  readonly numHeads: number;
  /** numHeads × dKv: the width of q, k, v and of `o`'s input (equals dModel for XXL). */
  readonly innerDim: number;
  /** Relative-position buckets, both directions together (32). */
  readonly numBuckets: number;
  /** Distances at or beyond this fall in the last bucket of their direction (128). */
  readonly maxDistance: number;
  /** RMSNorm epsilon (1e-6). */
  readonly layerNormEps: number;
}

/** google/t5-v1_1-xxl, the T5 of FLUX.1 (flux.md §2.2). */
export const T5_XXL_DEFAULTS = {
  vocab_size: 32128,
  d_model: 4096,
  d_kv: 64,
  d_ff: 10240,
  num_layers: 24,
  num_heads: 64,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  layer_norm_epsilon: 1e-6,
  feed_forward_proj: 'gated-gelu',
} as const;

type IntKey = Exclude<keyof typeof T5_XXL_DEFAULTS, 'layer_norm_epsilon' | 'feed_forward_proj'>;

function integer(json: ConfigJson, key: IntKey): number {
  const v = json[key] ?? T5_XXL_DEFAULTS[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw errors.CONFIG(`${key} must be a positive integer, got ${JSON.stringify(json[key])}`);
  }
  return v;
}

/** Activations HF maps to the tanh-approximated GELU that "gated-gelu" means. */
const TANH_GELU = new Set(['gelu_new', 'gelu_pytorch_tanh']);

/**
 * Parses a HF T5Config (`text_encoder_2/config.json`); only the encoder's fields are read.
 *
 * @throws FluxServeError FLUX_ERR_CONFIG for a non-gated-GELU FFN, a non-positive size or an
 *   unusable bucket configuration
 *
 * @example
 * const c = parseT5Config(JSON.parse(await readFile('text_encoder_2/config.json', 'utf8')));
 */
export function parseT5Config(input: unknown): T5Config {
  const json = configJson(input, 'T5');
  const proj = json.feed_forward_proj ?? T5_XXL_DEFAULTS.feed_forward_proj;
  if (proj !== 'gated-gelu') {
    throw errors.CONFIG(
      `feed_forward_proj must be "gated-gelu" (T5 v1.1), got ${JSON.stringify(json.feed_forward_proj)}`,
    );
  }
  // HF overrides dense_act_fn to gelu_new for "gated-gelu"; a config that says otherwise is not T5 v1.1.
  if (json.dense_act_fn !== undefined && !TANH_GELU.has(json.dense_act_fn as string)) {
    throw errors.CONFIG(
      `dense_act_fn must be gelu_new (tanh GELU), got ${JSON.stringify(json.dense_act_fn)}`,
    );
  }
  if (json.is_gated_act !== undefined && json.is_gated_act !== true) {
    throw errors.CONFIG('is_gated_act must be true for feed_forward_proj "gated-gelu"');
  }
  const eps = json.layer_norm_epsilon ?? T5_XXL_DEFAULTS.layer_norm_epsilon;
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) {
    throw errors.CONFIG(`layer_norm_epsilon must be a positive number, got ${JSON.stringify(eps)}`);
  }
  const numBuckets = integer(json, 'relative_attention_num_buckets');
  const maxDistance = integer(json, 'relative_attention_max_distance');
  // Bidirectional: half the buckets per direction, the first half of those exact (flux.md §2.2).
  if (numBuckets % 2 !== 0 || numBuckets < 4) {
    throw errors.CONFIG(`relative_attention_num_buckets must be even and >= 4, got ${numBuckets}`);
  }
  const maxExact = Math.floor(numBuckets / 4);
  if (maxDistance <= maxExact) {
    throw errors.CONFIG(
      `relative_attention_max_distance ${maxDistance} must exceed the exact range ${maxExact} (buckets / 4)`,
    );
  }
  const dKv = integer(json, 'd_kv');
  const numHeads = integer(json, 'num_heads');
  return Object.freeze({
    vocabSize: integer(json, 'vocab_size'),
    dModel: integer(json, 'd_model'),
    dKv,
    dFf: integer(json, 'd_ff'),
    numLayers: integer(json, 'num_layers'),
    numHeads,
    innerDim: dKv * numHeads,
    numBuckets,
    maxDistance,
    layerNormEps: eps,
  });
}
