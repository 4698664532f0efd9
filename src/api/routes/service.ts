/**
 * @module api/routes/service
 * What tells about the server rather than a task: liveness, readiness, Prometheus metrics, the
 * installed models with their request schema, and the webhook signing secret.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../api-context.js';
import { failure, ok } from '../envelope.js';
import { SUBMIT_SCHEMA } from '../submit-schema.js';

export function serviceRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/healthz', { schema: { summary: 'Liveness', tags: ['service'] } }, async () =>
    ok({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: the model is loaded', tags: ['service'] } },
    async (_req, reply) =>
      ctx.ready()
        ? ok({ ready: true, queue: await ctx.store.queueLength() })
        : reply.code(503).send(failure(503, 'model is loading')),
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
        ctx.models.map((id) => ({
          model_id: id,
          name: id.split('/').pop(),
          type: 'text-to-image',
          description: 'FLUX.1 [schnell] on this server: txt2img, img2img and inpainting, with LoRAs',
          api_schema: SUBMIT_SCHEMA,
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
