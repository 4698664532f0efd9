/**
 * Which runtime the transformer gets (FLUX_SERVE_NATIVE), and that a whole generation with LoRAs
 * through the native addon gives the same image bytes as through onnxruntime-node.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import type { GenerationRequest } from '../../src/pipeline/generation-request.js';
import { render } from '../../src/pipeline/render.js';
import { DeviceSession } from '../../src/runtime/device-session.js';
import { loadFluxModel } from '../../src/runtime/flux-model.js';
import type { NativeChoice } from '../../src/runtime/provider.js';
import { LoraFeeds } from '../../src/worker/lora-feeds.js';
import { fixtureBytes, localLora } from '../lora/lora-fixtures.js';
import { FORMATS } from '../lora/lora-formats.js';
import { offlineRenderContext } from '../support/render-context.js';
import { buildTinyModel } from '../support/tiny-model.js';
import { expectFluxError } from '../weights/fixtures.js';

const log = createLogger('silent');
let root: string;
let modelDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'model-session-'));
  modelDir = await buildTinyModel(root, 'tiny', 5);
});
afterAll(() => rm(root, { recursive: true, force: true }));

const request: GenerationRequest = {
  prompt: 'a lighthouse at dawn',
  width: 128,
  height: 128,
  steps: 3,
  seed: 7,
  numImages: 2,
  guidanceScale: 3.5,
  strength: 0.8,
  outputFormat: 'png',
};

/** The PNGs of `request` with two LoRAs, rendered twice (the second time with the set bound already). */
async function renderWith(native: NativeChoice): Promise<{ runtime: string; images: Buffer[] }> {
  const model = await loadFluxModel(modelDir, { provider: 'cpu', log, native });
  try {
    const c = model.transformerConfig;
    const feeds = new LoraFeeds(c, model.manifest.components.transformer?.layers ?? [], 1 << 30);
    const { tensors } = await feeds.prepare([
      await localLora(root, 'diffusers.safetensors', await fixtureBytes(FORMATS.diffusers(c)), 0.8),
      await localLora(root, 'kohya.safetensors', await fixtureBytes(FORMATS.kohya(c)), -0.5),
    ]);
    const ctx = await offlineRenderContext(model);
    const images: Buffer[] = [];
    for (let i = 0; i < 2; i++) images.push(...(await render(ctx, request, { lora: tensors })).outputs);
    return { runtime: model.transformerRuntime, images };
  } finally {
    await model.release();
  }
}

describe('the transformer runtime', () => {
  it('is onnxruntime-node on the CPU by default, the addon with FLUX_SERVE_NATIVE=on, and the images agree', async () => {
    const fallback = await renderWith('auto');
    const native = await renderWith('on');
    expect(fallback.runtime).toBe('onnxruntime-node');
    expect(native.runtime).toBe('native');
    expect(native.images).toHaveLength(4);
    for (const [i, png] of native.images.entries())
      expect(png.equals(fallback.images[i] as Buffer)).toBe(true);
    // The LoRAs change the image, so the equality above covers them.
    const model = await loadFluxModel(modelDir, { provider: 'cpu', log, native: 'off' });
    const [plain] = (await render(await offlineRenderContext(model), request)).outputs;
    await model.release();
    expect(plain?.equals(fallback.images[0] as Buffer)).toBe(false);
  }, 60_000);

  it('comes from FLUX_SERVE_NATIVE', () => {
    expect(loadConfig({}).native).toBe('auto');
    expect(loadConfig({ FLUX_SERVE_NATIVE: 'off' }).native).toBe('off');
    expect(() => loadConfig({ FLUX_SERVE_NATIVE: 'yes' })).toThrow(/FLUX_SERVE_NATIVE/);
  });

  it('on CUDA without the provider (this machine) fails with the install command, or falls back for a tiny model', async () => {
    await expectFluxError(
      Promise.resolve().then(() =>
        DeviceSession.create(join(modelDir, 'transformer.onnx'), { provider: 'cuda:0' }),
      ),
      'FLUX_ERR_RUNTIME',
      /npm run setup:cuda/,
    );
    const model = await loadFluxModel(modelDir, { provider: 'cuda:0', log, native: 'on' });
    expect(model.provider).toBe('cpu');
    await model.release();
  });
});
