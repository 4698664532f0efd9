/**
 * A server on the tiny random model says so wherever a user looks: a plain-text banner among the
 * logs, every task's `warnings`, and `/api/v3/models` (which the playground's banner reads); and it
 * offers a sample LoRA, so that LoRAs can be tried on a fresh clone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_MODEL_WARNING } from '../../src/runtime/manifest.js';
import {
  type ServerProcess,
  startServer,
  type TinyServerRoot,
  tinyServerRoot,
} from '../support/server-process.js';

let dir: TinyServerRoot;
let server: ServerProcess;

beforeAll(async () => {
  dir = await tinyServerRoot('test-model-');
  server = await startServer({ model: dir.model, home: dir.home });
}, 60_000);
afterAll(async () => {
  await dir.cleanup();
});

describe('a server on the tiny random model', () => {
  it('prints a banner, marks /api/v3/models and warns on every task', async () => {
    for (let i = 0; i < 50 && !server.stderr().includes('TINY RANDOM TEST MODEL'); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(server.stderr()).toMatch(
      /^!!! flux-serve at http:\/\/127\.0\.0\.1:\d+ is serving the TINY RANDOM TEST MODEL: every image is noise\.$/m,
    );
    expect(server.stderr()).toContain('flux-serve pull flux.1-schnell && flux-serve build flux.1-schnell');

    const models = (await (await fetch(`${server.base}/api/v3/models`)).json()) as {
      data: { model_id: string; description: string; test_model?: boolean }[];
    };
    expect(models.data.map((m) => [m.model_id, m.test_model, m.description])).toEqual([
      ['wavespeed-ai/flux-schnell-lora', true, TEST_MODEL_WARNING],
      ['wavespeed-ai/flux-schnell', true, TEST_MODEL_WARNING],
    ]);

    const res = await fetch(`${server.base}/api/v3/wavespeed-ai/flux-schnell-lora`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        prompt: 'noise',
        size: '256*256',
        num_inference_steps: 1,
        enable_sync_mode: true,
      }),
    });
    const task = ((await res.json()) as { data: { status: string; warnings: string[] } }).data;
    expect(task.status).toBe('completed');
    expect(task.warnings).toContain(TEST_MODEL_WARNING);
  }, 60_000);

  it('offers a sample LoRA in the LoRA folder that changes the image', async () => {
    const loras = (await (await fetch(`${server.base}/api/v3/loras`)).json()) as { data: { name: string }[] };
    expect(loras.data.map((l) => l.name)).toEqual(['sample-model.safetensors']);
    const render = async (extra: object) => {
      const res = await fetch(`${server.base}/api/v3/wavespeed-ai/flux-schnell-lora`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          prompt: 'noise',
          size: '256*256',
          num_inference_steps: 1,
          seed: 3,
          enable_sync_mode: true,
          enable_base64_output: true,
          ...extra,
        }),
      });
      const data = ((await res.json()) as { data: { status: string; outputs: string[] } }).data;
      expect(data.status).toBe('completed');
      return data.outputs[0];
    };
    const plain = await render({});
    const styled = await render({ loras: [{ path: 'sample-model.safetensors', scale: 1 }] });
    expect(styled).not.toBe(plain);
  }, 60_000);
});
