/**
 * @module api/app
 * The Fastify app of the hosted contract (api.md): every route under /api/v3 and its /api/v2 alias,
 * the files it hands out, health, metrics and the OpenAPI UI at /docs. Every JSON answer is the
 * envelope. Inference never runs here: tasks go to the durable store and the dispatcher hands
 * them to the worker.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { errors } from '../errors.js';
import type { ApiContext, AppOptions } from './api-context.js';
import { authorize } from './auth.js';
import { errorHandler, registerErrorHandlers } from './error-handler.js';
import { ServerMetrics } from './metrics.js';
import { PollQuietLogController } from './request-log.js';
import { eventRoutes } from './routes/events.js';
import { fileRoutes } from './routes/files.js';
import { mediaRoutes } from './routes/media.js';
import { openAiImageRoutes } from './routes/openai-images.js';
import { loraListRoutes, playgroundRoutes } from './routes/playground.js';
import { predictionRoutes } from './routes/predictions.js';
import { apiServiceRoutes, serviceRoutes } from './routes/service.js';
import { submitRoutes } from './routes/submit.js';
import { SCHEMA_KEYWORDS } from './submit-schema.js';
import { taskPresenter } from './task-presenter.js';

export type { AppOptions } from './api-context.js';

export async function buildApp(o: AppOptions): Promise<FastifyInstance> {
  const app = fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    bodyLimit: o.bodyLimit,
    logController: new PollQuietLogController(),
    // Router-level refusals (a path parameter over maxParamLength, a malformed URL) in the envelope too.
    frameworkErrors: errorHandler,
    ajv: { customOptions: { keywords: [...SCHEMA_KEYWORDS] } },
  }) as unknown as FastifyInstance;
  registerErrorHandlers(app);

  const metrics = new ServerMetrics({ queueDepth: () => o.store.queueLength(), workerReady: o.ready });
  o.dispatcher.on('finished', (task) => metrics.taskFinished(task));
  o.dispatcher.on('loraCache', (hits, misses) => {
    metrics.loraCache.inc({ result: 'hit' }, hits);
    metrics.loraCache.inc({ result: 'miss' }, misses);
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpAnswered(
      req.method,
      req.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  });
  const ctx: ApiContext = {
    ...o,
    metrics,
    present: taskPresenter({
      store: o.store,
      outputs: o.outputs,
      publicBaseUrl: o.publicBaseUrl,
      progress: (id) => o.dispatcher.progress(id),
      warnings: o.warnings,
    }),
    authorize: (req) => {
      const auth = authorize(req.headers.authorization, o.keys);
      if (!auth.ok) throw errors.UNAUTHORIZED();
      return auth.keyId;
    },
  };

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'flux-serve',
        description: 'The hosted wavespeed-ai/flux-schnell-lora API, served locally (api.md)',
        version: '1',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: o.keys.length > 0 ? [{ bearer: [] }] : [],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const routes = async (api: FastifyInstance) => {
    submitRoutes(api, ctx);
    predictionRoutes(api, ctx);
    eventRoutes(api, ctx);
    apiServiceRoutes(api, ctx);
    loraListRoutes(api, ctx);
    await mediaRoutes(api, ctx);
  };
  await app.register(routes, { prefix: '/api/v3' });
  await app.register(routes, { prefix: '/api/v2' });
  await app.register(openAiImageRoutes(ctx), { prefix: '/v1' });
  fileRoutes(app, ctx);
  serviceRoutes(app, ctx);
  playgroundRoutes(app);
  return app;
}
