/**
 * @module cli/models-command
 * `flux-serve models`: the known models (`models/*.json`), what of them is pulled into the Hugging
 * Face cache and built in the model home, plus any other built model dir and pulled FLUX repo.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config.js';
import { listCachedRepos } from '../hub/hf-cache.js';
import { MANIFEST_FILE, modelDirState, parseManifestFile } from '../runtime/manifest.js';
import { knownModels, modelSource, pulledCheckpoint } from './model-source.js';

export interface ModelListing {
  readonly known: readonly {
    readonly name: string;
    readonly repo: string;
    readonly revision: string;
    readonly defaultSteps: number;
    readonly maxSequenceLength: number;
    /** The pulled snapshot dir, when every file the build needs is in the cache. */
    readonly pulled: string | null;
    readonly built: boolean;
  }[];
  /** Built model dirs under `<home>/models`. */
  readonly built: readonly {
    readonly name: string;
    readonly dir: string;
    readonly dtype: string;
    readonly source: string;
  }[];
  /** Model dirs whose build was cut off (`flux-serve build` again finishes them). */
  readonly interrupted: readonly string[];
  /** Repos in the hub cache with a FLUX checkpoint that no manifest names. */
  readonly otherPulled: readonly string[];
}

/** @example const listing = await listModels(config); */
export async function listModels(config: Readonly<Config>): Promise<ModelListing> {
  const modelsDir = join(config.home, 'models');
  const built: { name: string; dir: string; dtype: string; source: string }[] = [];
  const interrupted: string[] = [];
  for (const name of (await readdir(modelsDir).catch(() => [])).sort()) {
    const dir = join(modelsDir, name);
    const state = await modelDirState(dir);
    if (state === 'interrupted') interrupted.push(dir);
    if (state !== 'built') continue;
    const manifest = await parseManifestFile(dir, MANIFEST_FILE).catch(() => undefined);
    if (!manifest) continue;
    const t = manifest.components.transformer;
    built.push({ name, dir, dtype: t ? t.dtype : '?', source: manifest.source });
  }
  const specs = await knownModels();
  const known = [];
  for (const spec of specs) {
    const source = await modelSource(spec.name);
    known.push({
      name: spec.name,
      repo: spec.repo ?? '',
      revision: spec.revision,
      defaultSteps: spec.defaultSteps,
      maxSequenceLength: spec.t5MaxLength,
      pulled: (source && (await pulledCheckpoint(config, source))) ?? null,
      built: built.some((b) => b.name === spec.name),
    });
  }
  const otherPulled: string[] = [];
  for (const cached of await listCachedRepos(config.hub.cacheDir)) {
    if (specs.some((s) => s.repo === cached.repo)) continue;
    const source = await modelSource(cached.repo);
    if (source && (await pulledCheckpoint(config, source))) otherPulled.push(cached.repo);
  }
  return { known, built, interrupted, otherPulled };
}

export function formatModels(l: ModelListing): string[] {
  const lines = ['known models:'];
  for (const k of l.known) {
    const state = [k.pulled ? `pulled (${k.pulled})` : 'not pulled', k.built ? 'built' : 'not built'].join(
      ', ',
    );
    lines.push(
      `  ${k.name}  ${k.repo}@${k.revision}  ${k.defaultSteps} steps, ${k.maxSequenceLength} tokens  — ${state}`,
    );
  }
  lines.push('built in the model home:');
  if (l.built.length === 0) lines.push('  (none)');
  for (const b of l.built) lines.push(`  ${b.name}  ${b.dtype}  ${b.dir}  from ${b.source}`);
  if (l.interrupted.length > 0)
    lines.push('builds cut off (run flux-serve build again):', ...l.interrupted.map((d) => `  ${d}`));
  if (l.otherPulled.length > 0) lines.push('other pulled FLUX repos:', ...l.otherPulled.map((r) => `  ${r}`));
  return lines;
}

export function registerModels(program: Command, config: Readonly<Config>): void {
  program
    .command('models')
    .description('list the known models, what is pulled (Hugging Face cache) and what is built (model home)')
    .option('--json', 'print the listing as JSON')
    .action(async (flags: { json?: boolean }) => {
      const listing = await listModels(config);
      process.stdout.write(
        flags.json ? `${JSON.stringify(listing, null, 2)}\n` : `${formatModels(listing).join('\n')}\n`,
      );
    });
}
