/**
 * The generation thread: the model loads and runs off the main thread (whose event loop keeps
 * ticking), progress and results cross as messages, errors come back coded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationThread } from '../../src/worker/generation-client.js';
import { buildTinyModel, TINY_REQUEST, tinyWorkerInit } from '../support/tiny-model.js';

let root: string;
let thread: GenerationThread;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'thread-'));
  const modelDir = await buildTinyModel(root, 'tiny-dev', 8);
  thread = await GenerationThread.start(tinyWorkerInit(modelDir));
});
afterAll(async () => {
  await thread.close();
  await rm(root, { recursive: true, force: true });
});

const request = TINY_REQUEST;

describe('GenerationThread', () => {
  it('renders on its own thread while the main event loop keeps running', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const steps: string[] = [];
    const started = performance.now();
    const result = await thread.generate(request, (p) => steps.push(`${p.stage} ${p.step}/${p.total}`), {
      dump: true,
    });
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(thread.provider).toBe('cpu');
    expect(steps).toEqual(['encode 0/1', 'denoise 1/3', 'denoise 2/3', 'denoise 3/3', 'decode 1/1']);
    expect(result.seed).toBe(11);
    expect((await sharp(result.outputs[0] as Buffer).metadata()).format).toBe('webp');
    expect(result.dump?.sigmas.length).toBe(4);
    expect(result.dump?.txtTokens).toBe(512); // a guidance-distilled model uses 512 T5 tokens
    // A blocked loop would tick ~0 times; allow a wide margin for a loaded 2-core machine.
    expect(ticks).toBeGreaterThan(elapsed / 5 / 4);
  });

  it('returns coded 400 errors for bad input and keeps serving', async () => {
    await expect(thread.generate({ ...request, image: 'http://10.0.0.1/x.png' })).rejects.toMatchObject({
      statusCode: 400,
      message: expect.stringMatching(/image: refused to download .* private address/),
    });
    await expect(thread.generate({ ...request, image: 'AAAA' })).rejects.toMatchObject({
      statusCode: 400,
      message: 'image: unsupported image format (unknown); allowed formats are PNG, JPEG and WebP',
    });
    const ok = await thread.generate({ ...request, steps: 1 });
    expect(ok.outputs).toHaveLength(1);
    expect(ok.dump).toBeUndefined(); // tensors cross only when asked for
  });
});
