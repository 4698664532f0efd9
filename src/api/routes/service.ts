/**
 * @module api/routes/service
 * What tells about the server rather than a task: liveness, readiness, Prometheus metrics, the
 * installed models with their request schema, and the webhook signing secret.
 */
import type { FastifyInstance } from 'fastify';
import { TEST_MODEL_WARNING } from '../../runtime/manifest.js';
import type { ApiContext } from '../api-context.js';
import { failure, ok } from '../envelope.js';
import { modelContract } from '../served-models.js';
import { submitSchema } from '../submit-schema.js';

export function serviceRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/healthz', { schema: { summary: 'Liveness', tags: ['service'] } }, async () =>
    ok({ status: 'ok' }),
  );
  // api.md: ready = the model is loaded and the queue is below its limit, so a balancer sends new
  // work elsewhere rather than to a server that would answer 429.
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the model is loaded and the queue is below its limit',
        tags: ['service'],
      },
    },
    async (_req, reply) => {
      if (!ctx.ready()) return reply.code(503).send(failure(503, 'model is loading'));
      const queue = await ctx.store.queueLength();
      if (queue >= ctx.maxQueued)
        return reply
          .code(503)
          .send(failure(503, `queue is full: ${queue} tasks waiting, the limit is ${ctx.maxQueued}`));
      return ok({ ready: true, queue });
    },
  );
  // Behind the keys when there are keys (Prometheus sends them with `authorization`): queue
  // depth and failure counts are nobody else's business.
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['service'] } },
    async (req, reply) => {
      ctx.authorize(req);
      return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
    },
  );
}

/** Routes under /api/v3 (and /api/v2). */
export function apiServiceRoutes(api: FastifyInstance, ctx: ApiContext): void {
  api.get(
    '/models',
    { schema: { summary: 'Installed models and their request JSON schema', tags: ['service'] } },
    async (req) => {
      ctx.authorize(req);
      return ok(
        ctx.models.map(modelContract).map((model) => ({
          model_id: model.id,
          name: model.id.split('/').pop(),
          type: 'text-to-image',
          description: ctx.testModel ? TEST_MODEL_WARNING : model.description,
          ...(ctx.testModel ? { test_model: true } : {}),
          api_schema: submitSchema(model),
        })),
      );
    },
  );
  api.get(
    '/webhook/secret',
    { schema: { summary: 'The secret webhook deliveries are signed with (whsec_…)', tags: ['service'] } },
    async (req) => {
      ctx.authorize(req);
      return ok({ secret: ctx.webhookSecret });
    },
  );
}
