import fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerErrorHandlers } from '../../src/api/error-handler.js';
import { errors } from '../../src/errors.js';

let app: FastifyInstance | undefined;

async function build(): Promise<FastifyInstance> {
  const logged: unknown[] = [];
  app = fastify({
    bodyLimit: 64,
    logger: { level: 'error', stream: { write: (line: string) => logged.push(JSON.parse(line)) } },
  });
  app.decorate('logged', logged);
  registerErrorHandlers(app);
  app.post('/echo', async (req) => ({ code: 200, message: 'success', data: req.body }));
  app.get('/queue-full', async () => {
    throw errors.QUEUE_FULL(10);
  });
  app.get('/bad-size', async () => {
    throw errors.USAGE('size: width 2000 is above the maximum 1536');
  });
  app.get('/boom', async () => {
    throw new Error('secret path /srv/x/key');
  });
  app.post(
    '/validated',
    {
      schema: {
        body: {
          type: 'object',
          required: ['prompt'],
          properties: {
            prompt: { type: 'string' },
            loras: {
              type: 'array',
              items: { type: 'object', properties: { scale: { type: 'number', maximum: 4 } } },
            },
          },
        },
      },
    },
    async () => ({ ok: true }),
  );
  await app.ready();
  return app;
}

afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('error handler', () => {
  it('answers an unknown route with a 404 envelope', async () => {
    const res = await (await build()).inject({
      method: 'POST',
      url: '/api/v3/nobody/nothing?x=1',
      payload: {},
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ code: 404, message: 'POST /api/v3/nobody/nothing: not found', data: null });
  });

  it('answers a FluxServeError with its status and message', async () => {
    const server = await build();
    const res = await server.inject({ method: 'GET', url: '/bad-size' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      code: 400,
      message: 'size: width 2000 is above the maximum 1536',
      data: null,
    });
    const full = await server.inject({ method: 'GET', url: '/queue-full' });
    expect(full.statusCode).toBe(429);
    expect(full.headers['retry-after']).toBe('5');
    expect(full.json().code).toBe(429);
  });

  it('answers schema validation errors with 400 naming the field', async () => {
    const server = await build();
    const missing = await server.inject({ method: 'POST', url: '/validated', payload: {} });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toEqual({ code: 400, message: 'prompt: is required', data: null });
    const range = await server.inject({
      method: 'POST',
      url: '/validated',
      payload: { prompt: 'x', loras: [{ scale: 9 }] },
    });
    expect(range.statusCode).toBe(400);
    expect(range.json().message).toBe('loras[0].scale: must be <= 4');
  });

  it('answers a body over the limit with 413', async () => {
    const res = await (await build()).inject({
      method: 'POST',
      url: '/echo',
      payload: { p: 'x'.repeat(100) },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ code: 413, message: 'body: larger than the limit of 64 bytes', data: null });
  });

  it('answers malformed JSON with a 400 envelope', async () => {
    const res = await (await build()).inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"p":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 400, data: null });
  });

  it('hides internal errors behind a generic 500 and logs them with the request id', async () => {
    const server = await build();
    const res = await server.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    const body = res.json();
    expect(body).toMatchObject({ code: 500, data: null });
    expect(body.message).toMatch(/^internal error \(request .+\)$/);
    expect(body.message).not.toContain('secret');
    const logged = (server as unknown as { logged: { reqId: string; err: { message: string } }[] }).logged;
    const entry = logged.find((l) => l.err?.message === 'secret path /srv/x/key');
    expect(entry).toBeDefined();
    expect(body.message).toContain(entry?.reqId);
  });
});

describe('SUBMIT_SCHEMA as a Fastify body schema', () => {
  it('compiles, fills defaults, keeps unknown fields and names the failing field', async () => {
    const { SCHEMA_KEYWORDS, SUBMIT_SCHEMA } = await import('../../src/api/submit-schema.js');
    app = fastify({ ajv: { customOptions: { keywords: [...SCHEMA_KEYWORDS] } } });
    registerErrorHandlers(app);
    app.post('/submit', { schema: { body: SUBMIT_SCHEMA } }, async (req) => req.body);
    await app.ready();
    const good = await app.inject({ method: 'POST', url: '/submit', payload: { prompt: 'x', extra: 1 } });
    expect(good.statusCode).toBe(200);
    expect(good.json()).toMatchObject({ prompt: 'x', extra: 1, size: '1024*1024', seed: -1, loras: [] });
    const bad = await app.inject({ method: 'POST', url: '/submit', payload: { prompt: 'x', num_images: 9 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toBe('num_images: must be <= 4');
  });
});
