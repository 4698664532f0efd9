/**
 * @module build/model-spec
 * The model manifests in `models/*.json`: which hub repo and files make a model, its transformer
 * config (diffusers `transformer/config.json` fields) and its scheduler config.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type FluxConfig, parseFluxConfig } from '../arch/flux-config.js';
import { errors } from '../errors.js';

/** `models/` of this package, from src/build or dist/build alike. */
export const MODELS_DIR = fileURLToPath(new URL('../../models/', import.meta.url));
/** Tokenizer files shipped with the package (see models/tokenizers/*\/SOURCE.md), used by tiny models. */
export const TOKENIZERS_DIR = fileURLToPath(new URL('../../models/tokenizers/', import.meta.url));

export interface ModelSpec {
  readonly name: string;
  readonly description: string;
  /** Hugging Face repo id, or null for generated models. */
  readonly repo: string | null;
  /** Branch, tag or commit `flux-serve pull` takes (default `main`); the pull pins the commit it resolves to. */
  readonly revision: string;
  /** The repo files a build needs (what `pull` fetches from the repo as listed in flux.md §11); [] for generated models. */
  readonly files: readonly string[];
  /** Denoising steps when a request gives none: 4 for schnell (timestep-distilled), 50 for dev. */
  readonly defaultSteps: number;
  /** The BFL-format transformer file at the repo root. */
  readonly transformerFile: string;
  /** The BFL-format autoencoder file at the repo root. */
  readonly vaeFile: string;
  /** T5 sequence length: 256 for schnell, 512 for dev (flux.md §2.2). */
  readonly t5MaxLength: number;
  /** As written in the manifest, for `transformer/config.json`. */
  readonly transformerJson: Readonly<Record<string, unknown>>;
  readonly transformer: FluxConfig;
  readonly scheduler: Readonly<Record<string, unknown>>;
  /** HF `text_encoder/config.json` (CLIPTextModel). */
  readonly clipJson: Readonly<Record<string, unknown>>;
  /** HF `text_encoder_2/config.json` (T5EncoderModel). */
  readonly t5Json: Readonly<Record<string, unknown>>;
  /** diffusers `vae/config.json` (AutoencoderKL). */
  readonly vaeJson: Readonly<Record<string, unknown>>;
}

/** @example const spec = await loadModelSpec('tiny'); // models/tiny.json */
export async function loadModelSpec(nameOrPath: string): Promise<ModelSpec> {
  const path = nameOrPath.endsWith('.json') ? nameOrPath : `${MODELS_DIR}${nameOrPath}.json`;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw errors.CONFIG(`cannot read model manifest ${path}: ${(cause as Error).message}`);
  }
  const str = (k: string) => {
    if (typeof json[k] !== 'string') throw errors.CONFIG(`${path}: ${k} must be a string`);
    return json[k] as string;
  };
  const object = (k: string) => {
    const v = json[k];
    if (typeof v !== 'object' || v === null) throw errors.CONFIG(`${path}: ${k} must be an object`);
    return v as Record<string, unknown>;
  };
  const transformerJson = object('transformer');
  const files = json.files ?? [];
  if (!Array.isArray(files) || files.some((f) => typeof f !== 'string'))
    throw errors.CONFIG(`${path}: files must be a list of repo paths`);
  const defaultSteps = json.defaultSteps ?? 4;
  if (!Number.isSafeInteger(defaultSteps) || (defaultSteps as number) < 1)
    throw errors.CONFIG(`${path}: defaultSteps must be a positive integer`);
  const t5MaxLength = json.t5MaxLength;
  if (t5MaxLength !== 256 && t5MaxLength !== 512)
    throw errors.CONFIG(`${path}: t5MaxLength must be 256 or 512`);
  return Object.freeze({
    name: str('name'),
    description: str('description'),
    repo: json.repo === null ? null : str('repo'),
    revision: json.revision === undefined ? 'main' : str('revision'),
    files: Object.freeze([...(files as string[])]),
    defaultSteps: defaultSteps as number,
    transformerFile: str('transformerFile'),
    vaeFile: str('vaeFile'),
    t5MaxLength,
    transformerJson,
    transformer: parseFluxConfig(transformerJson),
    scheduler: object('scheduler'),
    clipJson: object('text_encoder'),
    t5Json: object('text_encoder_2'),
    vaeJson: object('vae'),
  });
}
