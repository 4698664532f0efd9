/**
 * @module cli/model-dir
 * `--model` for the commands that run a model: a built model dir, or a name under the model
 * home's models/; without it, the served default (the tiny model when no real one is built).
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { prepareDefaultModel } from '../build/prepare-model.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';

export async function resolveModelDir(
  config: Config,
  log: Logger,
  model: string | undefined,
): Promise<string> {
  const modelsDir = join(config.home, 'models');
  if (!model) return prepareDefaultModel(modelsDir, log);
  for (const dir of [model, join(modelsDir, model)]) {
    if (
      await access(join(dir, 'manifest.json')).then(
        () => true,
        () => false,
      )
    )
      return dir;
  }
  throw new InvalidArgumentError(`--model ${model}: no built model there or in ${modelsDir}`);
}
