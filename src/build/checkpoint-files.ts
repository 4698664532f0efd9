/**
 * @module build/checkpoint-files
 * Which files of a FLUX repo a build needs (flux.md §11), from the repo's file list: the tokenizer and
 * scheduler folders, every component's config.json, and for each component the first weight
 * candidate of build/components that the repo has — so the BFL single-file transformer and
 * autoencoder at the root when present, else the diffusers folders, never both (23.8 GB each).
 */
import { errors } from '../errors.js';
import { COMPONENTS } from './components.js';

/** Folders copied whole into a model dir (build-model's RUNTIME_FILES), plus the pipeline index. */
const ALWAYS = ['tokenizer/', 'tokenizer_2/', 'scheduler/'];

/** `a/model.safetensors.index.json` → its shards `a/model-00001-of-00002.safetensors`, … */
function shardsOf(index: string, paths: readonly string[]): string[] {
  const stem = index.slice(0, -'.safetensors.index.json'.length);
  const shard = new RegExp(`^${stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d{5}-of-\\d{5}\\.safetensors$`);
  return paths.filter((p) => shard.test(p));
}

/**
 * @throws FluxServeError FLUX_ERR_USAGE when a component has no weights in the list
 *
 * @example
 * checkpointFiles(['flux1-schnell.safetensors', 'transformer/config.json', 'transformer/diffusion_pytorch_model-00001-of-00003.safetensors', …]);
 * // ['flux1-schnell.safetensors', 'transformer/config.json', …] without the transformer shards
 */
export function checkpointFiles(paths: readonly string[]): string[] {
  const present = new Set(paths);
  const chosen = new Set<string>(paths.filter((p) => ALWAYS.some((dir) => p.startsWith(dir))));
  if (present.has('model_index.json')) chosen.add('model_index.json');
  const missing: string[] = [];
  for (const def of COMPONENTS) {
    const config = `${def.configDir}/config.json`;
    const weights = def.weightCandidates.find((c) => present.has(c));
    if (!present.has(config) || weights === undefined) {
      missing.push(`${def.name} (${present.has(config) ? def.weightCandidates.join(' or ') : config})`);
      continue;
    }
    const shards = weights.endsWith('.index.json') ? shardsOf(weights, paths) : [];
    const total = Number(/-of-(\d{5})\.safetensors$/.exec(shards[0] ?? '')?.[1] ?? 0);
    if (weights.endsWith('.index.json') && (total === 0 || shards.length !== total)) {
      missing.push(`${def.name} shards (${shards.length} of ${total || '?'} next to ${weights})`);
      continue;
    }
    chosen.add(config);
    chosen.add(weights);
    for (const s of shards) chosen.add(s);
  }
  if (missing.length > 0) throw errors.USAGE(`not a FLUX checkpoint repo: no ${missing.join(', ')}`);
  return [...chosen].sort();
}
