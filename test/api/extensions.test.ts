/**
 * The contract beyond submit and result, on the in-process stack with the tiny model: cancel (queued
 * and running), Server-Sent Events, history, uploads used as img2img input, the models schema,
 * Prometheus metrics, the OpenAPI document, webhook registration rules and the sync-mode timeout.
 */
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSubmitBody } from '../../src/api/submit-schema.js';
import { openSqliteTaskStore } from '../../src/jobs/sqlite-task-store.js';
import { MODEL, PUBLIC_URL, startTestStack, type TestStack, until } from '../support/test-app.js';

let stack: TestStack;
let app: FastifyInstance;

beforeAll(async () => {
  stack = await startTestStack('api-extensions', { maxQueued: 10 });
  app = await stack.app();
});
afterAll(() => stack.close());

const submit = (body: object, query = '') =>
  app.inject({ method: 'POST', url: `/api/v3/${MODEL}${query}`, payload: body });
const created = async (body: object): Promise<string> => {
  const res = await submit({ size: '256*256', num_inference_steps: 1, ...body });
  expect(res.statusCode).toBe(200);
  return res.json().data.id;
};
const cancel = (id: string) => app.inject({ method: 'POST', url: `/api/v3/predictions/${id}/cancel` });

async function png(width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 90 } } })
    .png()
    .toBuffer();
}

/** A multipart/form-data body with one `file` part, serialised the way fetch would send it. */
async function multipart(
  bytes: Buffer,
  filename: string,
): Promise<{ payload: Buffer; headers: Record<string, string> }> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)]), filename);
  const request = new Request('http://localhost/', { method: 'POST', body: form });
  return {
    payload: Buffer.from(await request.arrayBuffer()),
    headers: { 'content-type': request.headers.get('content-type') as string },
  };
}

/** Parses an SSE body into its `event: task` data objects. */
function events(body: string): Array<Record<string, unknown>> {
  return body
    .split('\n\n')
    .filter((block) => block.startsWith('event: task\n'))
    .map((block) => JSON.parse(block.slice(block.indexOf('data: ') + 6)));
}

describe('cancel', () => {
  it('a queued task fails at once with error "cancelled"; a finished one answers 409', async () => {
    const running = await created({ prompt: 'slow', num_inference_steps: 8, size: '512*512' });
    const queued = await created({ prompt: 'never runs' });
    const res = await cancel(queued);
    expect(res.statusCode).toBe(200);
    expect(res.json().data).toMatchObject({ id: queued, status: 'failed', error: 'cancelled', outputs: [] });
    await until(app, running, 'completed');
    const again = await cancel(running);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual({
      code: 409,
      message: `task ${running} cannot go from completed to cancelled`,
      data: null,
    });
    expect((await cancel('nope')).statusCode).toBe(404);
  });

  it('a running task stops at its next step and ends failed with "cancelled", and the worker goes on', async () => {
    const id = await created({ prompt: 'long', num_inference_steps: 8, size: '768*768' });
    for (let i = 0; i < 400 && !stack.dispatcher.progress(id); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(stack.dispatcher.progress(id)?.step).toBeLessThan(8);
    expect((await cancel(id)).json().data.status).toBe('processing');
    const done = await until(app, id, 'failed');
    expect(done.error).toBe('cancelled');
    const next = await created({ prompt: 'after a cancel' });
    expect((await until(app, next, 'completed')).outputs).toHaveLength(1);
  });
});

describe('events', () => {
  it('streams the data object as it changes and ends once the task is final', async () => {
    const blocker = await created({ prompt: 'first', num_inference_steps: 4, size: '512*512' });
    const id = await created({ prompt: 'watched', num_inference_steps: 3 });
    const res = await app.inject({ method: 'GET', url: `/api/v3/predictions/${id}/events` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const seen = events(res.body);
    expect(seen[0]).toMatchObject({ id, status: 'created', queue_position: 1 });
    expect(seen.some((e) => e.status === 'processing')).toBe(true);
    const stages = seen.flatMap((e) => {
      const p = e.progress as { stage: string; step: number } | undefined;
      return p ? [`${p.stage} ${p.step}`] : [];
    });
    expect(stages).toEqual(['encode 0', 'denoise 1', 'denoise 2', 'denoise 3', 'decode 1']);
    expect(seen.at(-1)).toMatchObject({ id, status: 'completed' });
    expect(seen.at(-1)?.outputs).toEqual([expect.stringMatching(/\/outputs\//)]);
    // Consecutive events always differ: nothing is sent twice.
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toEqual(seen[i - 1]);
    await until(app, blocker, 'completed');
    const unknown = await app.inject({ method: 'GET', url: '/api/v3/predictions/nope/events' });
    expect(unknown.json()).toEqual({ code: 404, message: 'task nope not found', data: null });
  });
});

describe('history', () => {
  it('pages newest first, filters by status, and names a bad field', async () => {
    const a = await created({ prompt: 'history a' });
    const b = await created({ prompt: 'history b' });
    await until(app, b, 'completed');
    const page = await app.inject({
      method: 'POST',
      url: '/api/v3/predictions',
      payload: { page: 1, page_size: 2 },
    });
    const data = page.json().data;
    expect(data).toMatchObject({ page: 1, page_size: 2 });
    expect(data.total).toBeGreaterThanOrEqual(2);
    expect(data.items.map((t: { id: string }) => t.id)).toEqual([b, a]);
    const failed = await app.inject({
      method: 'POST',
      url: '/api/v2/predictions',
      payload: { page: 1, page_size: 100, status: 'failed' },
    });
    expect(failed.json().data.items.every((t: { status: string }) => t.status === 'failed')).toBe(true);
    const empty = await app.inject({ method: 'POST', url: '/api/v3/predictions', payload: {} });
    expect(empty.json().data.page_size).toBe(20);
    const bad = await app.inject({ method: 'POST', url: '/api/v3/predictions', payload: { page_size: 500 } });
    expect(bad.json()).toEqual({ code: 400, message: 'page_size: 500 is not in 1–100', data: null });
  });

  it('keeps each input but names inline images by size instead of repeating them', async () => {
    const image = await png(120, 90);
    const dataUri = `data:image/png;base64,${image.toString('base64')}`;
    const id = await created({
      prompt: 'history image',
      image: dataUri,
      mask_image: image.toString('base64'),
    });
    const page = await app.inject({ method: 'POST', url: '/api/v3/predictions', payload: { page_size: 1 } });
    const [item] = page.json().data.items;
    expect(item.id).toBe(id);
    expect(item.input).toEqual({
      prompt: 'history image',
      size: '256*256',
      num_inference_steps: 1,
      image: `data:image/png;base64,… (${image.length} bytes, not repeated in history)`,
      mask_image: `base64… (${image.length} bytes, not repeated in history)`,
    });
    expect(page.body.length).toBeLessThan(2000);
    expect(page.body).not.toContain(image.toString('base64').slice(0, 100));
    // The stored input is whole: webhooks send it as it came.
    expect((await stack.store.get(id))?.input.image).toBe(dataUri);
    await until(app, id, 'completed');
  });
});

describe('uploads', () => {
  it('multipart upload gives a download URL that serves the image and works as img2img input', async () => {
    const image = await png();
    const res = await app.inject({
      method: 'POST',
      url: '/api/v3/media/upload/binary',
      ...(await multipart(image, 'in.png')),
    });
    expect(res.statusCode).toBe(200);
    const data = res.json().data;
    expect(data).toEqual({
      type: 'image',
      download_url: expect.stringMatching(new RegExp(`^${PUBLIC_URL}/media/[0-9a-f]{32}$`)),
      filename: 'in.png',
      size: image.length,
    });
    const served = await app.inject({ method: 'GET', url: new URL(data.download_url).pathname });
    expect(served.headers['content-type']).toBe('image/png');
    expect(served.rawPayload.equals(image)).toBe(true);
    const id = await created({
      prompt: 'from upload',
      image: data.download_url,
      strength: 0.5,
      num_inference_steps: 2,
    });
    expect((await until(app, id, 'completed')).outputs).toHaveLength(1);
  });

  it("the SDK's two-step upload: a ticket, then the bytes by PUT", async () => {
    const image = await png(32, 32);
    const ticket = await app.inject({
      method: 'POST',
      url: '/api/v3/media/uploads',
      payload: { filename: 'x.png', size: image.length, content_type: 'image/png' },
    });
    const { download_url, upload } = ticket.json().data;
    expect(upload).toEqual({
      url: expect.stringMatching(/\/api\/v3\/media\/uploads\/[0-9a-f]{32}$/),
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
    });
    const path = new URL(download_url).pathname;
    expect((await app.inject({ method: 'GET', url: path })).statusCode).toBe(404); // nothing until the PUT
    const put = await app.inject({
      method: 'PUT',
      url: new URL(upload.url).pathname,
      payload: image,
      headers: upload.headers,
    });
    expect(put.json().data).toMatchObject({ download_url, size: image.length });
    expect((await app.inject({ method: 'GET', url: path })).rawPayload.equals(image)).toBe(true);
    const reused = await app.inject({
      method: 'PUT',
      url: new URL(upload.url).pathname,
      payload: image,
      headers: upload.headers,
    });
    expect(reused.json().message).toBe('upload: unknown or expired upload');
  });

  it('refuses what is not a PNG, JPEG or WebP, and what is over the limit, naming the field', async () => {
    const gif = await app.inject({
      method: 'POST',
      url: '/api/v3/media/upload/binary',
      ...(await multipart(Buffer.from('GIF89a\x01\x00\x01\x00'), 'x.gif')),
    });
    expect(gif.json()).toEqual({
      code: 400,
      message: 'file: only PNG, JPEG and WebP images can be uploaded, not GIF',
      data: null,
    });
    const big = await app.inject({
      method: 'POST',
      url: '/api/v3/media/upload/binary',
      ...(await multipart(Buffer.alloc(300 * 1024), 'big.png')),
    });
    expect(big.json()).toEqual({
      code: 413,
      message: 'file: larger than the limit of 262144 bytes',
      data: null,
    });
    const ticket = await app.inject({
      method: 'POST',
      url: '/api/v3/media/uploads',
      payload: { filename: 'x.png', size: 1e9 },
    });
    expect(ticket.json().message).toBe('size: larger than the limit of 262144 bytes');
    expect((await app.inject({ method: 'GET', url: '/media/..%2Ftasks.db' })).statusCode).toBe(404);
  });
});

describe('service routes', () => {
  it('GET /api/v3/models publishes the request schema in the hosted order', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v3/models' });
    const [model] = res.json().data;
    expect(model).toMatchObject({ model_id: MODEL, type: 'text-to-image' });
    expect(model.api_schema['x-order-properties'].slice(0, 3)).toEqual(['prompt', 'image', 'mask_image']);
    expect(model.api_schema.properties.num_inference_steps).toMatchObject({
      minimum: 1,
      maximum: 8,
      default: 4,
    });
  });

  it('GET /metrics counts finished tasks, stage latencies and the queue', async () => {
    const id = await created({ prompt: 'metered' });
    await until(app, id, 'completed');
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body;
    expect(text).toMatch(/^flux_serve_queue_depth \d+$/m);
    expect(text).toMatch(/^flux_serve_worker_ready 1$/m);
    const completed = Number(
      /^flux_serve_tasks_finished_total\{status="completed"\} (\d+)$/m.exec(text)?.[1],
    );
    expect(completed).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^flux_serve_task_stage_seconds_count\{stage="denoise"\} \d+$/m);
    expect(text).toMatch(
      /^flux_serve_http_request_seconds_count\{method="POST",route="\/api\/v3\/:owner\/:name",status="200"\} \d+$/m,
    );
  });

  it('GET /docs serves the OpenAPI UI, and /docs/json documents the submit body', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    const submitOp = doc.paths['/api/v3/{owner}/{name}'].post;
    expect(submitOp.requestBody.content['application/json'].schema.properties.prompt.type).toBe('string');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v3/predictions/{id}/cancel', '/metrics']),
    );
    const ui = await app.inject({ method: 'GET', url: '/docs/' });
    expect([ui.statusCode, ui.headers['content-type']]).toEqual([200, 'text/html; charset=utf-8']);
  });

  it('GET /api/v3/webhook/secret answers the signing secret', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v3/webhook/secret' });
    expect(res.json().data).toEqual({ secret: 'whsec_test' });
  });
});

describe('submit extras', () => {
  it('refuses a webhook that is not an http(s) URL without credentials', async () => {
    const file = await submit({ prompt: 'x' }, '?webhook=file:///etc/passwd');
    expect(file.json()).toMatchObject({
      code: 400,
      message: expect.stringMatching(/^webhook: .*only http and https/),
    });
    const creds = await submit(
      { prompt: 'x' },
      `?webhook=${encodeURIComponent('https://u:p@example.com/h')}`,
    );
    expect(creds.json().message).toMatch(/^webhook: .*credentials/);
  });

  it('a sync wait that runs out while queued answers status "processing" with 5004; the store keeps "created"', async () => {
    // A store nothing drains: the task stays queued behind the one created first.
    const idle = openSqliteTaskStore(':memory:', { maxQueued: 10 });
    try {
      const queuedApp = await stack.app({ store: idle, syncWaitMs: 200 });
      const blocker = await idle.create({
        model: MODEL,
        request: parseSubmitBody({ prompt: 'ahead' }).request,
        input: { prompt: 'ahead' },
        owner: null,
        webhook: null,
      });
      const res = await queuedApp.inject({
        method: 'POST',
        url: `/api/v3/${MODEL}`,
        payload: { prompt: 'waits', size: '256*256', enable_sync_mode: true },
      });
      const body = res.json();
      expect(body).toMatchObject({
        code: 5004,
        message: 'still processing',
        data: { code: 5004, status: 'processing', queue_position: 2, outputs: [] },
      });
      expect(body.data.error).toBe(
        'Sync mode timed out after 200 ms; the task is still queued: poll urls.get',
      );
      expect((await idle.get(body.data.id))?.status).toBe('created');
      expect(blocker.status).toBe('created');
    } finally {
      await idle.close();
    }
  });

  it('refuses a webhook on a loopback, private or link-local IP literal unless the policy allows it', async () => {
    const idle = openSqliteTaskStore(':memory:', { maxQueued: 10 });
    try {
      const strict = await stack.app({ store: idle });
      for (const [hook, what] of [
        ['http://127.0.0.1:9/h', '127.0.0.1 is a loopback address'],
        ['http://[::1]/h', '::1 is a loopback address'],
        ['http://[::ffff:127.0.0.1]/h', '::ffff:7f00:1 is a loopback address'],
        ['http://10.1.2.3/h', '10.1.2.3 is a private address'],
        ['http://[fd00::5]/h', 'fd00::5 is a private address'],
        ['http://169.254.169.254/latest', '169.254.169.254 is a cloud metadata address'],
        ['http://[fe80::1]/h', 'fe80::1 is a link-local address'],
        ['http://0x7f000001/h', '127.0.0.1 is a loopback address'],
      ] as const) {
        const res = await strict.inject({
          method: 'POST',
          url: `/api/v3/${MODEL}?webhook=${encodeURIComponent(hook)}`,
          payload: { prompt: 'x' },
        });
        expect(res.statusCode, hook).toBe(400);
        expect(res.json().message, hook).toMatch(/^webhook: refused /);
        expect(res.json().message, hook).toContain(`: ${what};`);
      }
      // Host names pass here; they are resolved and checked at each delivery.
      const named = await strict.inject({
        method: 'POST',
        url: `/api/v3/${MODEL}?webhook=${encodeURIComponent('http://localhost:9/h')}`,
        payload: { prompt: 'x' },
      });
      expect(named.statusCode).toBe(200);
      const allowed = await stack.app({
        store: idle,
        fetchPolicy: { allowLoopback: true, allowPrivate: true },
      });
      for (const hook of ['http://127.0.0.1:9/h', 'http://10.1.2.3/h', 'http://[::ffff:192.168.1.1]/h']) {
        const res = await allowed.inject({
          method: 'POST',
          url: `/api/v3/${MODEL}?webhook=${encodeURIComponent(hook)}`,
          payload: { prompt: 'x' },
        });
        expect(res.statusCode, hook).toBe(200);
      }
      // Metadata and link-local are never allowed.
      const meta = await allowed.inject({
        method: 'POST',
        url: `/api/v3/${MODEL}?webhook=${encodeURIComponent('http://169.254.169.254/')}`,
        payload: { prompt: 'x' },
      });
      expect(meta.statusCode).toBe(400);
    } finally {
      await idle.close();
    }
  });

  it('refuses a webhook, image URL or LoRA path over the URL limit, naming the field and the limit', async () => {
    const short = await stack.app({ maxUrlChars: 100 });
    const long = `https://example.com/${'a'.repeat(100)}`;
    const hook = await short.inject({
      method: 'POST',
      url: `/api/v3/${MODEL}?webhook=${encodeURIComponent(long)}`,
      payload: { prompt: 'x' },
    });
    expect(hook.json()).toEqual({
      code: 400,
      message: `webhook: ${long.length} characters, above the limit of 100 for a URL`,
      data: null,
    });
    const image = await short.inject({
      method: 'POST',
      url: `/api/v3/${MODEL}`,
      payload: { prompt: 'x', image: long },
    });
    expect(image.json().message).toBe(`image: ${long.length} characters, above the limit of 100 for a URL`);
    const lora = await short.inject({
      method: 'POST',
      url: `/api/v3/${MODEL}`,
      payload: { prompt: 'x', loras: [{ path: `${long}.safetensors`, scale: 1 }] },
    });
    expect(lora.json().message).toBe(
      `loras[0].path: ${long.length + 12} characters, above the limit of 100 for a URL`,
    );
  });

  it('a sync wait that runs out answers code 5004 with the current data, as the SDKs expect', async () => {
    const impatient = await stack.app({ syncWaitMs: 1 });
    const res = await impatient.inject({
      method: 'POST',
      url: `/api/v3/${MODEL}`,
      payload: { prompt: 'x', size: '256*256', num_inference_steps: 1, enable_sync_mode: true },
    });
    const body = res.json();
    expect(body).toMatchObject({ code: 5004, message: 'still processing', data: { code: 5004 } });
    expect(['created', 'processing']).toContain(body.data.status);
    expect(body.data.error).toMatch(/^Sync mode timed out after 1 ms/);
    await until(app, body.data.id, 'completed');
  });
});
