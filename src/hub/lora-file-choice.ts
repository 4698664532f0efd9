/**
 * @module hub/lora-file-choice
 * Which file of a Hugging Face repo is "the LoRA" when a request names only `owner/repo`
 * (lora.md §9.3, which refines diffusers' `_best_guess_weight_name`): never a pickle, never a
 * sample, optimizer or base-model file, `pytorch_lora_weights.safetensors` first, intermediate
 * training checkpoints only when nothing else is left, and an error listing the candidates rather
 * than a silent guess when several remain.
 */

/** One file of a repo listing. */
export interface RepoFile {
  readonly path: string;
  /** Bytes, when the listing says. */
  readonly size?: number | undefined;
}

export type FileChoice =
  | { readonly file: RepoFile }
  | { readonly candidates: readonly RepoFile[]; readonly why: 'none' | 'ambiguous' };

/** Above this a `.safetensors` is a base model or an encoder, not a LoRA (a rank-128 FLUX LoRA is ~1.3 GB). */
export const MAX_LORA_GUESS_BYTES = 2 * 1024 ** 3;

const NOT_WEIGHTS = /scheduler|optimizer|checkpoint|state/i;
/** Base-model and encoder file names that share LoRA repos (lora.md §9.3, step 2). */
const BASE_MODEL = /^(flux1-|flux1_|t5xxl|clip_l|ae\.safetensors$)/i;
const PREFERRED = 'pytorch_lora_weights.safetensors';
/** ai-toolkit `_000000500`, kohya `-000004` and `-step00000500` intermediate saves. */
const INTERMEDIATE = /(_\d{9}|-\d{6}|-step\d{8})\.safetensors$/i;
const COMFY_COPY = /_comfy_converted\.safetensors$/i;

const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

function plausible(f: RepoFile): boolean {
  if (!/\.safetensors$/i.test(f.path)) return false;
  if (f.path.split('/').slice(0, -1).includes('samples')) return false;
  const name = baseName(f.path);
  if (NOT_WEIGHTS.test(name) || BASE_MODEL.test(name)) return false;
  return f.size === undefined || f.size <= MAX_LORA_GUESS_BYTES;
}

/**
 * Chooses the LoRA file among a repo's files (paths relative to the repo root).
 *
 * @example
 * chooseLoraFile([{ path: 'README.md' }, { path: 'lora.safetensors' }]); // { file: { path: 'lora.safetensors' } }
 * chooseLoraFile([{ path: 'a.safetensors' }, { path: 'b.safetensors' }]); // { candidates: [a, b], why: 'ambiguous' }
 */
export function chooseLoraFile(files: readonly RepoFile[]): FileChoice {
  const kept = files.filter(plausible).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (kept.length === 0) return { candidates: [], why: 'none' };
  // Shallowest wins among the diffusers default names (a root file over a copy in a sub-folder).
  const preferred = kept.filter((f) => baseName(f.path) === PREFERRED);
  preferred.sort((a, b) => a.path.split('/').length - b.path.split('/').length);
  if (preferred[0] !== undefined) return { file: preferred[0] };
  if (kept.length === 1 && kept[0] !== undefined) return { file: kept[0] };
  const finals = kept.filter((f) => !INTERMEDIATE.test(f.path));
  // `X.safetensors` and `X_comfy_converted.safetensors` hold the same weights: keep X.
  const distinct = finals.filter(
    (f) =>
      !COMFY_COPY.test(f.path) || !finals.some((g) => g.path === f.path.replace(COMFY_COPY, '.safetensors')),
  );
  if (distinct.length === 1 && distinct[0] !== undefined) return { file: distinct[0] };
  return { candidates: distinct.length > 0 ? distinct : kept, why: 'ambiguous' };
}
