/**
 * The quantized tiny model end to end: every graph built with `--quant`, loaded by the runtime
 * and rendered through the real pipeline, against the same request on the float model.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeDType } from '../../src/arch/build-context.js';
import { buildModel } from '../../src/build/build-model.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { writeTinyCheckpoint } from '../../src/build/tiny-checkpoint.js';
import { createLogger } from '../../src/log.js';
import type { GenerationRequest } from '../../src/pipeline/generation-request.js';
import { PromptEncoder } from '../../src/pipeline/prompt-encoder.js';
import { render } from '../../src/pipeline/render.js';
import { loadFluxModel } from '../../src/runtime/flux-model.js';
import type { WeightQuant } from '../../src/weights/quantize.js';

const log = createLogger('silent');
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'quant-generate-'));
  await writeTinyCheckpoint(join(root, 'ckpt'), await loadModelSpec('tiny'), { seed: 5 });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const request: GenerationRequest = {
  prompt: 'a red fox in the snow',
  width: 128,
  height: 128,
  steps: 2,
  seed: 42,
  numImages: 1,
  guidanceScale: 3.5,
  strength: 0.8,
  outputFormat: 'png',
};

/** Builds the model dir for a variant, renders `request` with it and returns the RGB pixels. */
async function generate(dtype: ComputeDType, quant?: WeightQuant): Promise<Buffer> {
  const dir = join(root, `${dtype}-${quant ?? 'float'}`);
  await buildModel(join(root, 'ckpt'), dir, { dtype, ops: 'fused', log, ...(quant ? { quant } : {}) });
  const model = await loadFluxModel(dir, { provider: 'cpu', log });
  try {
    const ctx = {
      model,
      encoder: await PromptEncoder.load(model),
      fetchImage: async () => {
        throw new Error('no network in this test');
      },
    };
    const [png] = (await render(ctx, request)).outputs;
    if (!png) throw new Error('no image');
    return sharp(png).removeAlpha().raw().toBuffer();
  } finally {
    await model.release();
  }
}

/** Mean |a − b| over all channels, in 0–255 levels. */
function meanAbsDiff(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
  return sum / a.length;
}

describe('quantized tiny model through generate', () => {
  it('int8 and int4 builds render close to the float model', async () => {
    const float = await generate('float32');
    const int8 = await generate('float32', 'int8');
    const int4 = await generate('float16', 'int4');
    expect(int8.length).toBe(128 * 128 * 3);
    expect(int4.length).toBe(128 * 128 * 3);
    // Mean difference in 0–255 levels; measured 0.64–0.73 (int8) and 13–15 (int4, fp16 too).
    const d8 = meanAbsDiff(int8, float);
    const d4 = meanAbsDiff(int4, float);
    expect(d8).toBeGreaterThan(0.05); // the quantized weights were really used
    expect(d8).toBeLessThan(3);
    expect(d4).toBeGreaterThan(d8);
    expect(d4).toBeLessThan(40);
  });
});
