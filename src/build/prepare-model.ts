/**
 * @module build/prepare-model
 * What `npm start` relies on: a built model in the model home. A real FLUX.1 [schnell] build is
 * used when present; otherwise the tiny random model is generated and built, and the logs say
 * loudly that its images are noise.
 */
import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { MANIFEST_FILE } from '../runtime/manifest.js';
import { buildModel } from './build-model.js';
import { loadModelSpec } from './model-spec.js';
import { writeTinyCheckpoint } from './tiny-checkpoint.js';

const REAL_MODEL = 'flux.1-schnell';
const TINY_MODEL = 'tiny';

async function built(dir: string): Promise<boolean> {
  return access(join(dir, MANIFEST_FILE)).then(
    () => true,
    () => false,
  );
}

/** Returns the model dir to serve. @example const dir = await prepareDefaultModel(`${home}/models`, log); */
export async function prepareDefaultModel(modelsDir: string, log: Logger): Promise<string> {
  const real = join(modelsDir, REAL_MODEL);
  if (await built(real)) {
    log.info({ model: real }, 'using the built FLUX.1 [schnell] model');
    return real;
  }
  const tiny = join(modelsDir, TINY_MODEL);
  log.warn(
    { expected: real, using: tiny },
    '!!! NO REAL MODEL: no built FLUX.1 [schnell] in the model home; using the TINY RANDOM model — its images are noise !!!',
  );
  if (await built(tiny)) return tiny;
  const checkpoint = join(modelsDir, `${TINY_MODEL}-checkpoint`);
  await rm(checkpoint, { recursive: true, force: true });
  await writeTinyCheckpoint(checkpoint, await loadModelSpec(TINY_MODEL), { seed: 1 });
  await buildModel(checkpoint, tiny, { dtype: 'float32', ops: 'fused', log });
  return tiny;
}
