/**
 * The HTTP app end to end on the tiny model: submit, poll, outputs, sync mode, base64, errors and
 * auth, with the real SQLite store, dispatcher and generation thread.
 */
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseApiKeys } from '../../src/api/auth.js';
import { parseSubmitBody } from '../../src/api/submit-schema.js';
import { loadConfig } from '../../src/config.js';
import { openSqliteTaskStore } from '../../src/jobs/sqlite-task-store.js';
import { prettyLogs } from '../../src/log.js';
import { captureLog } from '../support/log-capture.js';
import { MODEL, startTestStack, type TestStack, until as untilStatus } from '../support/test-app.js';

let stack: TestStack;
let app: FastifyInstance;
let secured: FastifyInstance;

beforeAll(async () => {
  stack = await startTestStack('api-app', { maxQueued: 3 });
  app = await stack.app();
  secured = await stack.app({ keys: parseApiKeys('sk-test-123\nsk-other-456\n') });
});
afterAll(() => stack.close());

const submit = (body: object, url = `/api/v3/${MODEL}`) => app.inject({ method: 'POST', url, payload: body });
const until = (id: string, status: string) => untilStatus(app, id, status);

describe('flux-serve HTTP app', () => {
  it('accepts a task, completes it, and serves its output', async () => {
    const res = await submit({ prompt: 'a lighthouse', size: '256*256', seed: 5, output_format: 'png' });
    expect(res.statusCode).toBe(200);
    const created = res.json();
    expect(created).toMatchObject({
      code: 200,
      message: 'success',
      data: { model: MODEL, status: 'created', outputs: [] },
    });
    const done = await until(created.data.id, 'completed');
    expect(done.seed).toBe(5);
    const [url] = done.outputs as string[];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:8080\/outputs\/[0-9a-f]{32}-0\.png$/);
    const image = await app.inject({ method: 'GET', url: new URL(url as string).pathname });
    expect(image.headers['content-type']).toBe('image/png');
    const meta = await sharp(image.rawPayload).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 256, 256]);
  });

  it('sync mode answers the final data; base64 outputs are data URIs; v2 aliases work', async () => {
    const res = await submit(
      { prompt: 'a fox', size: '256*256', enable_sync_mode: true, enable_base64_output: true, num_images: 2 },
      `/api/v2/${MODEL}`,
    );
    const data = res.json().data;
    expect(data.status).toBe('completed');
    expect(data.outputs).toHaveLength(2);
    expect(data.outputs[0]).toMatch(/^data:image\/jpeg;base64,\/9j\//);
  });

  it('answers every error in the envelope, naming the field', async () => {
    const bad = await submit({ prompt: 'x', num_inference_steps: 9 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({
      code: 400,
      message: expect.stringMatching(/^num_inference_steps: /),
      data: null,
    });
    const size = await submit({ prompt: 'x', size: '2000*1024' });
    expect(size.json().message).toBe('size: width 2000 is above the maximum 1536');
    const model = await submit({ prompt: 'x' }, '/api/v3/acme/unknown-model');
    expect(model.json()).toEqual({
      code: 404,
      message: 'model acme/unknown-model is not installed',
      data: null,
    });
    const missing = await app.inject({ method: 'GET', url: '/api/v3/predictions/nope/result' });
    expect(missing.json()).toEqual({ code: 404, message: 'task nope not found', data: null });
    const big = await submit({ prompt: 'x'.repeat(70 * 1024) });
    expect(big.statusCode).toBe(413);
    expect((await app.inject({ method: 'GET', url: '/outputs/..%2Fsecret' })).statusCode).toBe(404);
  });

  it('requires the bearer key when keys are configured', async () => {
    const anonymous = await secured.inject({
      method: 'POST',
      url: `/api/v3/${MODEL}`,
      payload: { prompt: 'x' },
    });
    expect(anonymous.json()).toEqual({ code: 401, message: expect.stringContaining('API key'), data: null });
    const keyed = await secured.inject({
      method: 'POST',
      url: `/api/v3/${MODEL}`,
      payload: { prompt: 'x', size: '256*256' },
      headers: { authorization: 'Bearer sk-test-123' },
    });
    expect(keyed.json().data.status).toBe('created');
    await until(keyed.json().data.id, 'completed');
  });

  it('checks the key before answering an unknown model', async () => {
    for (const url of ['/api/v3/acme/unknown-model', '/api/v3/unknown', '/api/v2/a/b/c']) {
      const anonymous = await secured.inject({ method: 'POST', url, payload: { prompt: 'x' } });
      expect([url, anonymous.statusCode]).toEqual([url, 401]);
      const keyed = await secured.inject({
        method: 'POST',
        url,
        payload: { prompt: 'x' },
        headers: { authorization: 'Bearer sk-test-123' },
      });
      expect(keyed.json()).toEqual({
        code: 404,
        message: `model ${url.split('/').slice(3).join('/')} is not installed`,
        data: null,
      });
    }
  });

  it("refuses to cancel another key's task with the answer of an unknown task", async () => {
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    const submitAs = async (key: string, body: object) =>
      (
        await secured.inject({ method: 'POST', url: `/api/v3/${MODEL}`, payload: body, headers: as(key) })
      ).json().data.id as string;
    const running = await submitAs('sk-test-123', {
      prompt: 'slow',
      size: '512*512',
      num_inference_steps: 8,
    });
    const queued = await submitAs('sk-test-123', { prompt: 'queued', size: '256*256' });
    const cancel = (id: string, key: string) =>
      secured.inject({ method: 'POST', url: `/api/v3/predictions/${id}/cancel`, headers: as(key) });
    const foreign = await cancel(queued, 'sk-other-456');
    expect(foreign.json()).toEqual({ code: 404, message: `task ${queued} not found`, data: null });
    expect((await cancel('no-such-task', 'sk-other-456')).json()).toEqual({
      code: 404,
      message: 'task no-such-task not found',
      data: null,
    });
    const own = await cancel(queued, 'sk-test-123');
    expect(own.json().data).toMatchObject({ id: queued, status: 'failed', error: 'cancelled' });
    await until(running, 'completed');
  });

  it('health and readiness', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json().data).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json().data.ready).toBe(true);
  });

  it('is not ready while the queue is at its limit', async () => {
    // A store nothing drains, so the queue stays where the test puts it.
    const idle = openSqliteTaskStore(':memory:', { maxQueued: 2 });
    try {
      const full = await stack.app({ store: idle, maxQueued: 2 });
      const task = {
        model: MODEL,
        request: parseSubmitBody({ prompt: 'x' }).request,
        input: {},
        owner: null,
        webhook: null,
      };
      await idle.create(task);
      expect((await full.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({
        code: 200,
        message: 'success',
        data: { ready: true, queue: 1 },
      });
      await idle.create(task);
      const res = await full.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({
        code: 503,
        message: 'queue is full: 2 tasks waiting, the limit is 2',
        data: null,
      });
    } finally {
      await idle.close();
    }
  });
});

describe('request logs', () => {
  it('logs what changes at info and polling (GET) requests at debug', async () => {
    const { log, records } = captureLog();
    const logged = await stack.app({ log });
    const submit = await logged.inject({
      method: 'POST',
      url: `/api/v3/${MODEL}`,
      payload: { prompt: 'x', size: '256*256', num_inference_steps: 1 },
    });
    const id = submit.json().data.id as string;
    for (let i = 0; i < 5; i++)
      await logged.inject({ method: 'GET', url: `/api/v3/predictions/${id}/result` });
    await logged.inject({ method: 'GET', url: '/healthz' });
    const urls = records
      .filter((r) => r.msg === 'incoming request')
      .map((r) => (r.req as { url: string }).url);
    expect(urls).toEqual([`/api/v3/${MODEL}`]);
  });
});

describe('log format', () => {
  it('is readable on a terminal and JSON elsewhere, unless FLUX_SERVE_LOG_FORMAT says', () => {
    expect(prettyLogs('auto', true)).toBe(true);
    expect(prettyLogs('auto', false)).toBe(false);
    expect(prettyLogs('json', true)).toBe(false);
    expect(prettyLogs('pretty', false)).toBe(true);
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(() => loadConfig({ FLUX_SERVE_LOG_FORMAT: 'xml' })).toThrow(/FLUX_SERVE_LOG_FORMAT/);
  });
});
