/**
 * Test support: a built tiny model dir (random checkpoint → five fp32 graphs) and the worker init
 * that serves it with network fetches refused.
 */
import { join } from 'node:path';
import { buildModel } from '../../src/build/build-model.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { writeTinyCheckpoint } from '../../src/build/tiny-checkpoint.js';
import { createLogger } from '../../src/log.js';
import type { GenerationRequest } from '../../src/pipeline/generation-request.js';
import type { ThreadInit } from '../../src/worker/generation-protocol.js';

/** Writes `<root>/ckpt` and builds `<root>/model`; returns the model dir. */
export async function buildTinyModel(
  root: string,
  variant: 'tiny' | 'tiny-dev',
  seed: number,
): Promise<string> {
  await writeTinyCheckpoint(join(root, 'ckpt'), await loadModelSpec(variant), { seed });
  const model = join(root, 'model');
  await buildModel(join(root, 'ckpt'), model, {
    dtype: 'float32',
    ops: 'fused',
    log: createLogger('silent'),
  });
  return model;
}

export function tinyWorkerInit(modelDir: string): ThreadInit {
  return {
    modelDir,
    provider: 'cpu',
    logLevel: 'silent',
    maxImageBytes: 1 << 20,
    fetchTimeoutMs: 1000,
    fetchPolicy: { allowLoopback: false, allowPrivate: false },
  };
}

/** A 512² three-step request the worker tests render (seed 11, WebP). */
export const TINY_REQUEST: GenerationRequest = {
  prompt: 'a lighthouse',
  width: 512,
  height: 512,
  steps: 3,
  seed: 11,
  numImages: 1,
  guidanceScale: 3.5,
  strength: 0.8,
  outputFormat: 'webp',
};
