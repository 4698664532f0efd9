/**
 * @module lora/lora-report
 * What loading a LoRA did (lora.md §11): the format it was read as, the layers it touches, its
 * ranks and alpha sources, and every key it did not use with the reason. A LoRA that silently
 * matches nothing looks exactly like no LoRA, so partial matches become task warnings.
 */
import type { Algorithm } from './adapter-factors.js';
import type { AlphaSource } from './lora-alpha.js';
import type { IgnoreReason } from './lora-keys.js';
import type { Naming } from './lora-targets.js';

/** The producer family recognised from a key's namespace and naming (§3.1, §4). */
export type LoraFormat =
  | 'diffusers'
  | 'peft'
  | 'kohya'
  | 'kohya-diffusers'
  | 'comfyui'
  | 'bfl'
  | 'bfl-peft'
  | 'xlabs'
  | 'onetrainer'
  | 'onetrainer-split'
  | 'lycoris'
  | 'diffsynth';

export interface IgnoredKey {
  readonly key: string;
  readonly reason: IgnoreReason;
}

export interface LoraReport {
  readonly name: string;
  /** The format most of the applied keys were written in. */
  readonly format: LoraFormat;
  /** Every format seen among the applied keys (mixed files exist). */
  readonly formats: readonly LoraFormat[];
  /** Source modules applied, per algorithm. */
  readonly algorithms: Readonly<Record<Algorithm, number>>;
  /** BFL layers the LoRA touches, and how many the model has. */
  readonly layers: readonly string[];
  readonly modelLayers: number;
  /** Runtime rank per applied module (the exact rank of its delta). */
  readonly rank: { readonly min: number; readonly max: number };
  readonly alpha: {
    readonly sources: readonly AlphaSource[];
    readonly min: number | undefined;
    readonly max: number | undefined;
  };
  readonly keys: { readonly total: number; readonly used: number };
  readonly ignored: readonly IgnoredKey[];
  /** `modelspec.architecture` (kohya) when the file says what it was trained on. */
  readonly baseModel: string | undefined;
}

/** The family of one applied key. */
export function keyFormat(namespace: string, naming: Naming): LoraFormat {
  if (naming === 'xlabs') return 'xlabs';
  const bfl = naming !== 'diffusers';
  if (namespace === 'lora_unet_') return bfl ? 'kohya' : 'kohya-diffusers';
  if (namespace === 'lora_transformer_') return 'onetrainer';
  if (namespace === 'lycoris_') return 'lycoris';
  if (namespace.startsWith('base_model.')) return bfl ? 'bfl-peft' : 'peft';
  if (namespace.endsWith('transformer.')) return bfl ? 'onetrainer-split' : 'diffusers';
  if (namespace.endsWith('diffusion_model.')) return 'comfyui';
  return bfl ? 'bfl' : 'diffsynth';
}

const REASONS: Readonly<Record<IgnoreReason, string>> = {
  'text-encoder': 'text-encoder keys ignored (only the transformer takes LoRAs)',
  'unknown-key': 'keys matching no FLUX.1 transformer layer',
  'target-absent': 'keys for layers this model lacks (guidance_in on schnell)',
  'bias-delta': 'non-zero bias deltas ignored (the runtime LoRA inputs cannot add a bias)',
  'unsupported-algorithm': 'keys of an adapter type that cannot be applied (set_weight, norm, IA3)',
  'not-lora': 'non-LoRA keys (embeddings)',
};

/**
 * One warning per group of ignored keys, naming a few of them; empty when every key was used.
 *
 * @example
 * loraWarnings(parsed.report);
 * // ['LoRA style.safetensors: 24 text-encoder keys ignored (only the transformer takes LoRAs), e.g. lora_te1_…']
 */
export function loraWarnings(report: LoraReport): string[] {
  const byReason = new Map<IgnoreReason, string[]>();
  for (const { key, reason } of report.ignored) {
    const keys = byReason.get(reason) ?? [];
    keys.push(key);
    byReason.set(reason, keys);
  }
  return [...byReason].map(([reason, keys]) => {
    const shown = keys.slice(0, 3).join(', ');
    const more = keys.length > 3 ? `, … (${keys.length - 3} more)` : '';
    return `LoRA ${report.name}: ${keys.length} ${REASONS[reason]}, e.g. ${shown}${more}`;
  });
}
