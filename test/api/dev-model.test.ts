/**
 * A server running a dev model (guidance-distilled, the tiny-dev variant) answers the hosted
 * `flux-dev-lora` id with the dev step range, and not the schnell ids (api.md, Endpoints).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelContract, servedModels } from '../../src/api/served-models.js';
import { parseSubmitBody } from '../../src/api/submit-schema.js';
import {
  type ServerProcess,
  startServer,
  type TinyServerRoot,
  tinyServerRoot,
} from '../support/server-process.js';

describe('served model ids and their step ranges', () => {
  it('schnell ids for a schnell model, dev ids for a dev model', () => {
    expect(servedModels(false)).toEqual(['wavespeed-ai/flux-schnell-lora', 'wavespeed-ai/flux-schnell']);
    expect(servedModels(true)).toEqual(['wavespeed-ai/flux-dev-lora', 'wavespeed-ai/flux-dev']);
  });

  it('dev takes 1–50 steps (28 by default), schnell 1–8 (4)', () => {
    const dev = modelContract('wavespeed-ai/flux-dev-lora').steps;
    const schnell = modelContract('wavespeed-ai/flux-schnell-lora').steps;
    expect(parseSubmitBody({ prompt: 'x' }, { steps: dev }).request.steps).toBe(28);
    expect(parseSubmitBody({ prompt: 'x', num_inference_steps: 50 }, { steps: dev }).request.steps).toBe(50);
    expect(parseSubmitBody({ prompt: 'x' }, { steps: schnell }).request.steps).toBe(4);
    for (const [steps, range, bad] of [
      [dev, '1–50', 51],
      [schnell, '1–8', 9],
      [schnell, '1–8', 4.5],
    ] as const)
      expect(() => parseSubmitBody({ prompt: 'x', num_inference_steps: bad }, { steps })).toThrow(
        `num_inference_steps: ${bad} is not an integer in ${range}`,
      );
  });
});

describe('flux-serve serve with a dev model', () => {
  let dir: TinyServerRoot;
  let server: ServerProcess;
  beforeAll(async () => {
    dir = await tinyServerRoot('dev-model-', 7, 'tiny-dev');
    server = await startServer({ model: dir.model, home: dir.home });
  }, 60_000);
  afterAll(async () => {
    await dir?.cleanup();
  });

  const post = (model: string, body: Record<string, unknown>) =>
    fetch(`${server.base}/api/v3/${model}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('answers flux-dev-lora with more than 8 steps, and 404s the schnell ids', async () => {
    const res = await post('wavespeed-ai/flux-dev-lora', {
      prompt: 'a lighthouse',
      size: '256*256',
      num_inference_steps: 10,
      enable_sync_mode: true,
    });
    const body = (await res.json()) as { data: { status: string; outputs: string[]; model: string } };
    expect(res.status).toBe(200);
    expect(body.data).toMatchObject({ status: 'completed', model: 'wavespeed-ai/flux-dev-lora' });
    expect(body.data.outputs).toHaveLength(1);
    const schnell = await post('wavespeed-ai/flux-schnell-lora', { prompt: 'x' });
    expect(schnell.status).toBe(404);
    expect(await schnell.json()).toMatchObject({
      code: 404,
      message: 'model wavespeed-ai/flux-schnell-lora is not installed',
    });
    const tooMany = await post('wavespeed-ai/flux-dev-lora', { prompt: 'x', num_inference_steps: 51 });
    expect(tooMany.status).toBe(400);
  }, 60_000);

  it('publishes the dev schema in /api/v3/models', async () => {
    const models = (await (await fetch(`${server.base}/api/v3/models`)).json()) as {
      data: { model_id: string; api_schema: { properties: { num_inference_steps: unknown } } }[];
    };
    expect(models.data.map((m) => m.model_id)).toEqual([
      'wavespeed-ai/flux-dev-lora',
      'wavespeed-ai/flux-dev',
    ]);
    expect(models.data[0]?.api_schema.properties.num_inference_steps).toMatchObject({
      default: 28,
      minimum: 1,
      maximum: 50,
    });
  });
});
