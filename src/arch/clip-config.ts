/**
 * @module arch/clip-config
 * The CLIP text tower's hyper-parameters, read from a Hugging Face `text_encoder/config.json`
 * (CLIPTextModel / CLIPTextConfig), validated once and frozen. Missing fields take the real
 * CLIP ViT-L/14 values (flux.md §2.1), so `parseClipTextConfig({})` is CLIP-L.
 */
import { errors } from '../errors.js';
import { type ConfigJson, configJson } from './config-json.js';

export interface ClipTextConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  /** MLP hidden width (fc1 out / fc2 in). */
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** hiddenSize / numHeads. */
  readonly headDim: number;
  /** Sequence length of the graph input: the tokenizer pads and truncates to exactly this (77). */
  readonly maxPositions: number;
  readonly layerNormEps: number;
  /**
   * The token whose first occurrence is pooled: `<|endoftext|>` = 49407 for CLIP-L. A config with
   * HF's legacy `eos_token_id: 2` (openai/clip-vit-large-patch14, FLUX's text_encoder) pools at
   * argmax(ids), which is the first occurrence of the largest id, i.e. `vocab_size - 1` = 49407.
   */
  readonly eosTokenId: number;
}

/** The real CLIP-L values (openai/clip-vit-large-patch14 text tower). */
export const CLIP_L_DEFAULTS = {
  vocab_size: 49408,
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  max_position_embeddings: 77,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
  eos_token_id: 49407,
} as const;

/** HF configs written before transformers PR #24773 carry eos_token_id 2 and pool at argmax(ids). */
const LEGACY_EOS_TOKEN_ID = 2;

function integer(json: ConfigJson, key: keyof typeof CLIP_L_DEFAULTS, min = 1): number {
  const v = json[key] ?? CLIP_L_DEFAULTS[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw errors.CONFIG(`text_encoder ${key} must be an integer >= ${min}, got ${JSON.stringify(json[key])}`);
  }
  return v;
}

/**
 * @throws FluxServeError FLUX_ERR_CONFIG for a config the graph builder cannot honour
 * @example const c = parseClipTextConfig(JSON.parse(await readFile('text_encoder/config.json', 'utf8')));
 */
export function parseClipTextConfig(input: unknown): ClipTextConfig {
  const json = configJson(input, 'text_encoder');
  const act = json.hidden_act ?? CLIP_L_DEFAULTS.hidden_act;
  if (act !== 'quick_gelu') {
    throw errors.CONFIG(
      `text_encoder hidden_act ${JSON.stringify(act)} is not supported (CLIP-L uses quick_gelu)`,
    );
  }
  const vocabSize = integer(json, 'vocab_size');
  const hiddenSize = integer(json, 'hidden_size');
  const numHeads = integer(json, 'num_attention_heads');
  if (hiddenSize % numHeads !== 0) {
    throw errors.CONFIG(
      `text_encoder hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads}`,
    );
  }
  const eps = json.layer_norm_eps ?? CLIP_L_DEFAULTS.layer_norm_eps;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) {
    throw errors.CONFIG(`text_encoder layer_norm_eps must be a positive number, got ${JSON.stringify(eps)}`);
  }
  const rawEos = integer(json, 'eos_token_id', 0);
  const eosTokenId = rawEos === LEGACY_EOS_TOKEN_ID ? vocabSize - 1 : rawEos;
  if (eosTokenId >= vocabSize) {
    throw errors.CONFIG(`text_encoder eos_token_id ${eosTokenId} is outside the vocabulary (${vocabSize})`);
  }
  return Object.freeze({
    vocabSize,
    hiddenSize,
    intermediateSize: integer(json, 'intermediate_size'),
    numLayers: integer(json, 'num_hidden_layers'),
    numHeads,
    headDim: hiddenSize / numHeads,
    maxPositions: integer(json, 'max_position_embeddings'),
    layerNormEps: eps,
    eosTokenId,
  });
}
