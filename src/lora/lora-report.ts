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

/** A LoRA's load report as a few log fields (lora.md §11): what the worker logs per task. */
export interface LoraSummary {
  /** The request's `loras[i].path`. */
  readonly path: string;
  /** The main format, then any other seen among the applied keys: `kohya`, `kohya+xlabs`. */
  readonly format: string;
  /** BFL layers touched, of the model's: `38/494`. */
  readonly layers: string;
  /** Runtime rank: `16`, or `4-16` when modules differ. */
  readonly rank: string;
  /** Where alpha came from, with its values: `tensor 1-8`, `peft-metadata 2-8`, `none (α = rank)`. */
  readonly alpha: string;
  /** Keys not used, counted by reason; empty when every key was used. */
  readonly ignored: Readonly<Partial<Record<IgnoreReason, number>>>;
}

const span = (min: number, max: number) => (min === max ? `${min}` : `${min}-${max}`);

/**
 * The report of the LoRA a request named `path`, in a log line's worth of fields.
 *
 * @example
 * loraSummary('Octree/flux-schnell-lora', parsed.report);
 * // { path: 'Octree/flux-schnell-lora', format: 'diffusers', layers: '494/494', rank: '16', alpha: 'none (α = rank)', ignored: {} }
 */
export function loraSummary(path: string, report: LoraReport): LoraSummary {
  const formats = [report.format, ...report.formats.filter((f) => f !== report.format)];
  const { sources, min, max } = report.alpha;
  const values = min === undefined || max === undefined ? '' : ` ${span(min, max)}`;
  const alpha =
    sources.length === 1 && sources[0] === 'none' ? 'none (α = rank)' : `${sources.join('+')}${values}`;
  const ignored: Partial<Record<IgnoreReason, number>> = {};
  for (const { reason } of report.ignored) ignored[reason] = (ignored[reason] ?? 0) + 1;
  return {
    path,
    format: formats.join('+'),
    layers: `${report.layers.length}/${report.modelLayers}`,
    rank: span(report.rank.min, report.rank.max),
    alpha,
    ignored,
  };
}
