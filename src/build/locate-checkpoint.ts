/**
 * @module build/locate-checkpoint
 * Finds the transformer of a FLUX checkpoint laid out like the Hugging Face repo (flux.md §11):
 * the BFL single file at the root (`flux1-*.safetensors`) is preferred, then diffusers'
 * `transformer/diffusion_pytorch_model*.safetensors` (sharded through its index, or single).
 */
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type FluxConfig, parseFluxConfig } from '../arch/flux-config.js';
import { errors } from '../errors.js';

export interface LocatedTransformer {
  readonly configJson: Readonly<Record<string, unknown>>;
  readonly config: FluxConfig;
  /** Files to hand to openCheckpoint: safetensors files or one shard index. */
  readonly files: readonly string[];
  readonly layout: 'bfl' | 'diffusers';
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export async function readTransformerConfig(dir: string): Promise<Record<string, unknown>> {
  const path = join(dir, 'transformer', 'config.json');
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw errors.USAGE(`${dir} is not a FLUX checkpoint: cannot read ${path} (${(cause as Error).message})`);
  }
}

/** @example const t = await locateTransformer('~/.cache/flux-serve/FLUX.1-schnell'); */
export async function locateTransformer(dir: string): Promise<LocatedTransformer> {
  const configJson = await readTransformerConfig(dir);
  const config = parseFluxConfig(configJson);
  const root = (await readdir(dir)).filter((f) => /^flux1-.*\.safetensors$/.test(f)).sort();
  if (root.length > 1)
    throw errors.USAGE(`${dir} has several BFL transformer files (${root.join(', ')}); keep one`);
  if (root[0]) return { configJson, config, files: [join(dir, root[0])], layout: 'bfl' };
  const t = join(dir, 'transformer');
  for (const name of [
    'diffusion_pytorch_model.safetensors.index.json',
    'diffusion_pytorch_model.safetensors',
  ]) {
    if (await exists(join(t, name)))
      return { configJson, config, files: [join(t, name)], layout: 'diffusers' };
  }
  throw errors.USAGE(
    `${dir} has no transformer weights: expected flux1-*.safetensors at its root or transformer/diffusion_pytorch_model*.safetensors`,
  );
}
