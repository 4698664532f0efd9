/**
 * @module build/prepare-model
 * What `npm start` relies on: a built model in the model home. A real FLUX.1 [schnell] build is
 * used when present; otherwise the tiny random model is generated and built, and the logs say
 * loudly that its images are noise.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { modelDirState } from '../runtime/manifest.js';
import { buildModel } from './build-model.js';
import { loadModelSpec } from './model-spec.js';
import { writeTinyCheckpoint } from './tiny-checkpoint.js';

const REAL_MODEL = 'flux.1-schnell';
const TINY_MODEL = 'tiny';

/** Returns the model dir to serve. @example const dir = await prepareDefaultModel(`${home}/models`, log); */
export async function prepareDefaultModel(modelsDir: string, log: Logger): Promise<string> {
  const real = join(modelsDir, REAL_MODEL);
  const realState = await modelDirState(real);
  if (realState === 'built') {
    log.info({ model: real }, 'using the built FLUX.1 [schnell] model');
    return real;
  }
  if (realState === 'interrupted') {
    log.warn(
      { model: real },
      `the build of ${real} was interrupted: run \`flux-serve build\` again to use it`,
    );
  }
  const tiny = join(modelsDir, TINY_MODEL);
  log.warn(
    { expected: real, using: tiny },
    '!!! NO REAL MODEL: no built FLUX.1 [schnell] in the model home; using the TINY RANDOM model — its images are noise !!!',
  );
  // An interrupted tiny build is simply built again: it takes seconds.
  if ((await modelDirState(tiny)) === 'built') return tiny;
  const checkpoint = join(modelsDir, `${TINY_MODEL}-checkpoint`);
  await rm(checkpoint, { recursive: true, force: true });
  await writeTinyCheckpoint(checkpoint, await loadModelSpec(TINY_MODEL), { seed: 1 });
  await buildModel(checkpoint, tiny, { dtype: 'float32', ops: 'fused', log });
  return tiny;
}
