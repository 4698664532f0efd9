/**
 * @module lora/lora-keys
 * The key grammar of lora.md §3: `<namespace prefix><module path><parameter suffix>`, normalised
 * per key (real files mix conventions). A key either names a parameter of a transformer module, or
 * is set aside with the reason it cannot be used.
 */
import type { Target, TargetTable } from './lora-targets.js';

/** What a key's suffix says the tensor is (§3.2). */
export type Param =
  | 'down'
  | 'up'
  | 'up_bias'
  | 'alpha'
  | 'dora'
  | 'hada_w1_a'
  | 'hada_w1_b'
  | 'hada_w2_a'
  | 'hada_w2_b'
  | 'hada_t'
  | 'lokr_w1'
  | 'lokr_w1_a'
  | 'lokr_w1_b'
  | 'lokr_w2'
  | 'lokr_w2_a'
  | 'lokr_w2_b'
  | 'lokr_t2'
  | 'diff'
  | 'diff_b'
  | 'other';

/** Suffix patterns, most specific first; `other` marks adapters we recognise but cannot express. */
const SUFFIXES: readonly (readonly [RegExp, Param])[] = [
  [/\.lora_down\.weight$/, 'down'],
  [/\.lora_up\.weight$/, 'up'],
  // PEFT, with or without an adapter name left in (`lora_A.default.weight`).
  [/\.lora_A(?:\.[^.]+)?\.weight$/, 'down'],
  [/\.lora_B(?:\.[^.]+)?\.weight$/, 'up'],
  [/\.lora_B(?:\.[^.]+)?\.bias$/, 'up_bias'],
  // XLabs' `processor.qkv_lora1.down.weight` (the `_lora` belongs to the module), then older diffusers spellings.
  [/(?<=\.processor\.\w+)\.down\.weight$/, 'down'],
  [/(?<=\.processor\.\w+)\.up\.weight$/, 'up'],
  [/(?:\.lora|_lora|\.lora_linear_layer)\.down\.weight$/, 'down'],
  [/(?:\.lora|_lora|\.lora_linear_layer)\.up\.weight$/, 'up'],
  [/\.alpha$/, 'alpha'],
  [/\.dora_scale$/, 'dora'],
  [/\.lora_magnitude_vector(?:\.[^.]+)?(?:\.weight)?$/, 'dora'],
  [/\.hada_w1_a$/, 'hada_w1_a'],
  [/\.hada_w1_b$/, 'hada_w1_b'],
  [/\.hada_w2_a$/, 'hada_w2_a'],
  [/\.hada_w2_b$/, 'hada_w2_b'],
  [/\.hada_t[12]$/, 'hada_t'],
  [/\.lokr_w1$/, 'lokr_w1'],
  [/\.lokr_w1_a$/, 'lokr_w1_a'],
  [/\.lokr_w1_b$/, 'lokr_w1_b'],
  [/\.lokr_w2$/, 'lokr_w2'],
  [/\.lokr_w2_a$/, 'lokr_w2_a'],
  [/\.lokr_w2_b$/, 'lokr_w2_b'],
  [/\.lokr_t2$/, 'lokr_t2'],
  [/\.diff$/, 'diff'],
  [/\.diff_b$/, 'diff_b'],
  [/\.(?:set_weight|w_norm|b_norm|on_input|reshape_weight|lora_mid\.weight)$/, 'other'],
];

const TEXT_ENCODER = /^(?:lora_te[123]?_|text_encoders?(?:_2)?\.|clip_l\.|t5(?:xxl)?\.)/;
const UNDERSCORED = /^(lora_unet_|lora_transformer_|lycoris_)/;
const DOTTED = /^(?:base_model\.model\.)?(transformer\.|model\.diffusion_model\.|diffusion_model\.)?/;

/** Why a key is not applied (lora.md §11's grouping). */
export type IgnoreReason =
  | 'text-encoder'
  | 'unknown-key'
  | 'target-absent'
  | 'bias-delta'
  | 'unsupported-algorithm'
  | 'not-lora';

export type KeyClass =
  | {
      readonly kind: 'module';
      readonly param: Param;
      /** The key without its suffix: keys sharing it belong to one adapter module. */
      readonly module: string;
      /** Namespace prefix as written (`lora_unet_`, `transformer.`, '' …), for the format report. */
      readonly namespace: string;
      readonly target: Target;
    }
  | { readonly kind: 'ignored'; readonly reason: IgnoreReason };

function splitSuffix(key: string): { module: string; param: Param } | undefined {
  for (const [re, param] of SUFFIXES) {
    const m = re.exec(key);
    if (m) return { module: key.slice(0, m.index), param };
  }
  return undefined;
}

/**
 * Classifies one key of a LoRA file against the config's target table.
 *
 * @example
 * classifyKey('lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight', table);
 * // { kind: 'module', param: 'down', namespace: 'lora_unet_', target: { layer: double_blocks.0.img_attn.qkv, … } }
 */
export function classifyKey(key: string, table: TargetTable): KeyClass {
  if (TEXT_ENCODER.test(key)) return { kind: 'ignored', reason: 'text-encoder' };
  if (key.startsWith('bundle_emb.')) return { kind: 'ignored', reason: 'not-lora' };
  const split = splitSuffix(key);
  if (!split) return { kind: 'ignored', reason: 'unknown-key' };
  const { module, param } = split;
  const under = UNDERSCORED.exec(module);
  let namespace: string;
  let path: string;
  let lookup: ReadonlyMap<string, Target>;
  if (under) {
    namespace = under[1] as string;
    // Files seen in the wild end in `…_attn_to_k_.lora_down.weight` (ComfyUI #4347).
    path = module.slice(namespace.length).replace(/_$/, '');
    lookup = table.underscored;
  } else {
    namespace = (DOTTED.exec(module) as RegExpExecArray)[0];
    path = module.slice(namespace.length);
    lookup = table.dotted;
  }
  const target = lookup.get(path);
  if (!target) return { kind: 'ignored', reason: table.absent.has(path) ? 'target-absent' : 'unknown-key' };
  return { kind: 'module', param, module, namespace, target };
}
