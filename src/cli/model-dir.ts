/**
 * @module cli/model-dir
 * `--model` for the commands that run a model: a built model dir, a name under the model home's
 * models/, or a known model / hub repo (`flux.1-schnell`, `owner/name`) that is built there on first
 * use from its pulled checkpoint in the Hugging Face cache. Without `--model`: FLUX.1 [schnell] when
 * built or pulled, else the tiny random model.
 */
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { buildModel } from '../build/build-model.js';
import { prepareDefaultModel } from '../build/prepare-model.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { interruptedBuildError, modelDirState } from '../runtime/manifest.js';
import { DEFAULT_MODEL, type ModelSource, modelSource, pulledCheckpoint } from './model-source.js';

const built = async (dir: string) => (await modelDirState(dir)) === 'built';

/** Builds `source` into the model home from its pulled checkpoint; undefined when it is not pulled. */
async function buildPulled(
  config: Readonly<Config>,
  log: Logger,
  source: ModelSource,
): Promise<string | undefined> {
  const checkpoint = await pulledCheckpoint(config, source);
  if (checkpoint === undefined) return undefined;
  const out = join(config.home, 'models', source.name);
  log.warn({ checkpoint, out }, `${source.name} is pulled but not built: building it now (once)`);
  await buildModel(checkpoint, out, { dtype: 'float16', ops: 'fused', log });
  return out;
}

export async function resolveModelDir(
  config: Readonly<Config>,
  log: Logger,
  model: string | undefined,
): Promise<string> {
  const modelsDir = join(config.home, 'models');
  if (!model) {
    const real = join(modelsDir, DEFAULT_MODEL);
    const source = await modelSource(DEFAULT_MODEL);
    if (!(await built(real)) && source) {
      const dir = await buildPulled(config, log, source);
      if (dir) return dir;
    }
    return prepareDefaultModel(modelsDir, log);
  }
  const candidates = [model, join(modelsDir, model)];
  for (const dir of candidates) if (await built(dir)) return dir;
  const source = await modelSource(model);
  if (source) {
    const dir = join(modelsDir, source.name);
    if (await built(dir)) return dir;
    // Also finishes a build of it that was interrupted.
    const fresh = await buildPulled(config, log, source);
    if (fresh) return fresh;
    candidates.push(dir);
  }
  for (const dir of candidates) {
    if ((await modelDirState(dir)) === 'interrupted')
      throw new InvalidArgumentError(`--model ${model}: ${interruptedBuildError(dir).message}`);
  }
  if (source) {
    throw new InvalidArgumentError(
      `--model ${model}: not built in ${modelsDir} and not pulled into ${config.hub.cacheDir}; run \`flux-serve pull ${model}\` first`,
    );
  }
  throw new InvalidArgumentError(`--model ${model}: no built model there or in ${modelsDir}`);
}
