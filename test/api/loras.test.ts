/**
 * LoRAs through the API on the tiny model: a LoRA from the LoRA folder changes the image, scale 0
 * gives exactly the image without it, the same LoRA by URL gives the same bytes as from the folder,
 * ignored keys become task warnings, a LoRA that matches nothing fails the task with a clear error,
 * and the metrics count LoRA cache hits.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { writeSafetensors } from '../../src/weights/safetensors-writer.js';
import { fixtureBytes } from '../lora/lora-fixtures.js';
import { FORMATS } from '../lora/lora-formats.js';
import { MODEL, startTestStack, type TestStack, until } from '../support/test-app.js';

let stack: TestStack;
let app: FastifyInstance;
let host: Server;
let hostUrl: string;
let loraBytes: Uint8Array;

const TEXT_ENCODER_KEY = {
  name: 'lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight',
  dtype: 'F32',
  shape: [1, 4],
  data: new Float32Array(4),
} as const;

beforeAll(async () => {
  stack = await startTestStack('api-loras', { maxQueued: 10 });
  // One host, as `serve` runs it: LoRA URLs on loopback allowed (the test's stand-in host), and
  // local LoRA names judged at submit against the folder the tasks read.
  app = await stack.app({
    fetchPolicy: { allowLoopback: true, allowPrivate: false },
    loraDir: join(stack.root, 'loras'),
    loraFilesAtSubmit: true,
  });
  const spec = await loadModelSpec('tiny');
  const config = spec.transformer;
  const fixture = FORMATS.diffusers(config);
  loraBytes = await fixtureBytes(fixture);
  const dir = join(stack.root, 'loras');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'style.safetensors'), loraBytes);
  await writeSafetensors(
    join(dir, 'partial.safetensors'),
    [...fixture.tensors, TEXT_ENCODER_KEY],
    fixture.metadata,
  );
  await writeSafetensors(join(dir, 'clip-only.safetensors'), [TEXT_ENCODER_KEY]);
  host = createServer((_req, res) => res.end(Buffer.from(loraBytes)));
  await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
  hostUrl = `http://127.0.0.1:${(host.address() as { port: number }).port}/style.safetensors`;
});
afterAll(async () => {
  await new Promise((r) => host.close(r));
  await stack.close();
});

async function render(
  loras: object[] | undefined,
): Promise<{ bytes: Buffer; data: Record<string, unknown> }> {
  const res = await app.inject({
    method: 'POST',
    url: `/api/v3/${MODEL}`,
    payload: {
      prompt: 'a lighthouse',
      size: '256*256',
      num_inference_steps: 2,
      seed: 7,
      output_format: 'png',
      ...(loras ? { loras } : {}),
    },
  });
  expect(res.statusCode).toBe(200);
  const data = await until(app, res.json().data.id, 'completed');
  const image = await app.inject({
    method: 'GET',
    url: new URL((data.outputs as string[])[0] as string).pathname,
  });
  return { bytes: image.rawPayload, data };
}

describe('LoRAs through the API', () => {
  it('a folder LoRA changes the image; scale 0 is exactly no LoRA; by URL it is the same as from the folder', async () => {
    const plain = await render(undefined);
    const styled = await render([{ path: 'style.safetensors', scale: 1 }]);
    expect(styled.bytes.equals(plain.bytes)).toBe(false);
    expect((styled.data.timings as Record<string, number>).lora_load).toBeGreaterThanOrEqual(0);
    const off = await render([{ path: 'style.safetensors', scale: 0 }]);
    expect(off.bytes.equals(plain.bytes)).toBe(true);
    const byUrl = await render([{ path: hostUrl, scale: 1 }]);
    expect(byUrl.bytes.equals(styled.bytes)).toBe(true);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(
      Number(/^flux_serve_lora_cache_total\{result="hit"\} (\d+)$/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(2);
  });

  it('keys a LoRA cannot apply become warnings of the task', async () => {
    const { data } = await render([{ path: 'partial.safetensors', scale: 1 }]);
    expect(data.warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(/^LoRA partial\.safetensors: 1 text-encoder key/)]),
    );
  });

  it('a LoRA that matches no layer fails the task, naming it', async () => {
    const res = await app.inject({
      method: 'POST',
      url: `/api/v3/${MODEL}`,
      payload: {
        prompt: 'x',
        size: '256*256',
        num_inference_steps: 1,
        loras: [{ path: 'clip-only.safetensors' }],
      },
    });
    const data = await until(app, res.json().data.id, 'failed');
    expect(data.error).toMatch(/clip-only\.safetensors/);
  });

  it('a missing LoRA, a path escape or a private LoRA URL is a 400 at submit, naming the field', async () => {
    const refusals: [string, string][] = [
      ['missing.safetensors', 'loras[0].path: "missing.safetensors" is not in the LoRA folder'],
      ['../tasks.db', 'loras[0].path: "../tasks.db" leaves the LoRA folder (..)'],
      [
        'http://10.1.2.3/x.safetensors',
        'loras[0].path: refused to download http://10.1.2.3/x.safetensors: 10.1.2.3 is a private address',
      ],
    ];
    for (const [path, message] of refusals) {
      const res = await app.inject({
        method: 'POST',
        url: `/api/v3/${MODEL}`,
        payload: { prompt: 'x', size: '256*256', num_inference_steps: 1, loras: [{ path }] },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
  });

  it('where the workers hold the LoRA folder (scale-out), a missing LoRA fails its task instead', async () => {
    const node = await stack.app();
    const res = await node.inject({
      method: 'POST',
      url: `/api/v3/${MODEL}`,
      payload: {
        prompt: 'x',
        size: '256*256',
        num_inference_steps: 1,
        loras: [{ path: 'missing.safetensors' }],
      },
    });
    const data = await until(node, res.json().data.id, 'failed');
    expect(data.error).toMatch(/^loras\[0\]\.path: /);
  });

  it('refuses more LoRAs than the limit and scales out of range at submit', async () => {
    const six = Array.from({ length: 6 }, () => ({ path: 'style.safetensors', scale: 1 }));
    const many = await app.inject({
      method: 'POST',
      url: `/api/v3/${MODEL}`,
      payload: { prompt: 'x', loras: six },
    });
    expect(many.json()).toEqual({ code: 400, message: 'loras: at most 5 LoRAs, got 6', data: null });
    const big = await app.inject({
      method: 'POST',
      url: `/api/v3/${MODEL}`,
      payload: { prompt: 'x', loras: [{ path: 'style.safetensors', scale: 5 }] },
    });
    expect(big.json().message).toBe('loras[0].scale: 5 is not a number in 0–4');
  });
});
