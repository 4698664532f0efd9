/**
 * @module cli/model-source
 * What a model argument names: a known model of `models/*.json` (`flux.1-schnell`), a hub repo
 * (`owner/name`), or a folder. Known models and repos are looked up in the Hugging Face cache where
 * `flux-serve pull` (or Python's huggingface_hub) put them; their built model dirs live in the
 * model home under the model's name (`owner--name` for a repo).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelSpec, MODELS_DIR, type ModelSpec } from '../build/model-spec.js';
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import { findSnapshot } from '../hub/model-pull.js';

export const DEFAULT_MODEL = 'flux.1-schnell';

export interface ModelSource {
  /** The folder name of its built model dir under `<home>/models`. */
  readonly name: string;
  readonly repo: string;
  readonly revision: string;
  /** The manifest, for known models. */
  readonly spec: ModelSpec | undefined;
}

const REPO = /^[\w.-]+\/[\w.-]+$/;

/** The known models: `models/*.json` with a hub repo. */
export async function knownModels(): Promise<ModelSpec[]> {
  const files = (await readdir(MODELS_DIR)).filter((f) => f.endsWith('.json')).sort();
  const specs = await Promise.all(files.map((f) => loadModelSpec(f.slice(0, -'.json'.length))));
  return specs.filter((s) => s.repo !== null);
}

/** A known model name or `owner/name` → where it comes from; undefined for anything else. */
export async function modelSource(arg: string, revision?: string): Promise<ModelSource | undefined> {
  const spec = (await knownModels()).find((s) => s.name === arg || s.repo === arg);
  if (spec?.repo) return { name: spec.name, repo: spec.repo, revision: revision ?? spec.revision, spec };
  if (!REPO.test(arg)) return undefined;
  return { name: arg.replace('/', '--'), repo: arg, revision: revision ?? 'main', spec: undefined };
}

/** The pulled checkpoint of `source` in the hub cache, if every file the build needs is there. */
export async function pulledCheckpoint(
  config: Readonly<Config>,
  source: ModelSource,
): Promise<string | undefined> {
  const { cacheDir } = config.hub;
  const dir = await findSnapshot(cacheDir, source.repo, source.revision, source.spec?.files ?? []);
  if (dir === undefined) return undefined;
  // A repo without a manifest has no file list: its snapshot must at least hold the configs.
  const ok = await stat(join(dir, 'transformer', 'config.json')).then(
    () => true,
    () => false,
  );
  return ok ? dir : undefined;
}

/**
 * A checkpoint argument of `build`: a folder as it is; a known model or repo → its pulled snapshot,
 * built by default into `<home>/models/<name>` (where serve and generate look for it).
 */
export async function buildSource(
  config: Readonly<Config>,
  arg: string,
): Promise<{ checkpoint: string; defaultOut: string | undefined }> {
  if (
    await stat(arg).then(
      (s) => s.isDirectory(),
      () => false,
    )
  )
    return { checkpoint: arg, defaultOut: undefined };
  const source = await modelSource(arg);
  if (!source) return { checkpoint: arg, defaultOut: undefined }; // the build names what is missing
  const dir = await pulledCheckpoint(config, source);
  if (!dir)
    throw errors.USAGE(
      `${arg} is not pulled into ${config.hub.cacheDir}: run \`flux-serve pull ${arg}\` first`,
    );
  return { checkpoint: dir, defaultOut: join(config.home, 'models', source.name) };
}
