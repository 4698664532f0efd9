/**
 * @module api/app
 * The Fastify app of the hosted contract (api.md): submit, result, outputs, health. Every answer is
 * the envelope; the same routes live under /api/v3 and /api/v2. Inference never runs here: tasks
 * go to the durable store and the dispatcher hands them to the worker.
 */
import { readFile } from 'node:fs/promises';
import fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { errors } from '../errors.js';
import type { Dispatcher } from '../jobs/dispatcher.js';
import type { LocalOutputStore } from '../jobs/output-store.js';
import type { Task, TaskStore } from '../jobs/task.js';
import type { Logger } from '../log.js';
import { type ApiKey, authorize } from './auth.js';
import { failure, ok } from './envelope.js';
import { registerErrorHandlers } from './error-handler.js';
import { parseSubmitBody } from './submit-schema.js';
import { taskData } from './task-view.js';

export interface AppOptions {
  readonly store: TaskStore;
  readonly outputs: LocalOutputStore;
  readonly dispatcher: Dispatcher;
  readonly keys: readonly ApiKey[];
  /** Absolute base for output URLs, e.g. `http://127.0.0.1:8080`. */
  readonly publicBaseUrl: string;
  /** Hosted model ids this server answers for. */
  readonly models: readonly string[];
  /** Longest `enable_sync_mode` wait before answering `processing` with code 5004, ms. */
  readonly syncWaitMs: number;
  /** Largest request body, bytes. */
  readonly bodyLimit: number;
  readonly ready: () => boolean;
  readonly log: Logger;
}

/** api.md: a sync-mode request that outlives the wait answers its current data with this code. */
const SYNC_TIMEOUT_CODE = 5004;

const FORMAT_EXT: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

export function buildApp(o: AppOptions): FastifyInstance {
  const app = fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    bodyLimit: o.bodyLimit,
  }) as unknown as FastifyInstance;
  registerErrorHandlers(app);

  const authorized = (req: FastifyRequest) => {
    const auth = authorize(req.headers.authorization, o.keys);
    if (!auth.ok) throw errors.UNAUTHORIZED();
    return auth.keyId;
  };

  const view = async (task: Task) => {
    const base64 = task.status === 'completed' && task.input.enable_base64_output === true;
    const base64Outputs = base64
      ? await Promise.all(
          task.outputs.map(async (name) => {
            const mime = FORMAT_EXT[task.request.outputFormat] ?? 'application/octet-stream';
            return `data:${mime};base64,${(await readFile(o.outputs.path(name))).toString('base64')}`;
          }),
        )
      : undefined;
    const progress = o.dispatcher.progress(task.id);
    const position = o.store.queuePosition(task.id);
    return taskData(task, {
      publicBaseUrl: o.publicBaseUrl,
      outputUrl: (name) => `/outputs/${name}`,
      ...(base64Outputs ? { base64Outputs } : {}),
      ...(progress ? { progress } : {}),
      ...(position > 0 ? { queuePosition: position } : {}),
      warnings: ['safety checker not installed: has_nsfw_contents stays empty'],
    });
  };

  const finished = (id: string, waitMs: number) =>
    new Promise<Task | undefined>((resolve) => {
      const timer = setTimeout(() => {
        o.dispatcher.off('finished', onFinished);
        resolve(undefined);
      }, waitMs);
      const onFinished = (t: Task) => {
        if (t.id !== id) return;
        clearTimeout(timer);
        o.dispatcher.off('finished', onFinished);
        resolve(t);
      };
      o.dispatcher.on('finished', onFinished);
    });

  const routes = async (api: FastifyInstance) => {
    api.post<{ Params: { owner: string; name: string }; Querystring: { webhook?: string } }>(
      '/:owner/:name',
      async (req, reply) => {
        const model = `${req.params.owner}/${req.params.name}`;
        if (!o.models.includes(model))
          return reply.code(404).send(failure(404, `model ${model} is not installed`));
        const keyId = authorized(req);
        const body = parseSubmitBody(req.body);
        if (body.loras.length > 0) throw errors.USAGE('loras: LoRAs are not supported by this server yet');
        const task = o.store.create({
          model,
          request: body.request,
          input: (req.body ?? {}) as Record<string, unknown>,
          owner: keyId,
          webhook: req.query.webhook ?? null,
        });
        req.log.info({ taskId: task.id, model }, 'task accepted');
        o.dispatcher.notify();
        if (!body.enableSyncMode) return ok(await view(task));
        const done = await finished(task.id, o.syncWaitMs);
        const current = done ?? o.store.get(task.id) ?? task;
        return done
          ? ok(await view(current))
          : { code: SYNC_TIMEOUT_CODE, message: 'still processing', data: await view(current) };
      },
    );
    const result = async (req: FastifyRequest<{ Params: { id: string } }>) => {
      authorized(req);
      const task = o.store.get(req.params.id);
      if (!task) throw errors.TASK_NOT_FOUND(req.params.id);
      return ok(await view(task));
    };
    api.get('/predictions/:id/result', result);
    api.get('/predictions/:id', result);
  };
  app.register(routes, { prefix: '/api/v3' });
  app.register(routes, { prefix: '/api/v2' });

  app.get<{ Params: { file: string } }>('/outputs/:file', async (req, reply) => {
    let path: string;
    try {
      path = o.outputs.path(req.params.file);
    } catch {
      throw errors.OUTPUT_NOT_FOUND(req.params.file);
    }
    const bytes = await readFile(path).catch(() => {
      throw errors.OUTPUT_NOT_FOUND(req.params.file);
    });
    const ext = req.params.file.split('.').pop() ?? '';
    return reply.type(ext === 'jpg' ? 'image/jpeg' : `image/${ext}`).send(bytes);
  });
  app.get('/healthz', async () => ok({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) =>
    o.ready()
      ? ok({ ready: true, queue: o.store.queueLength() })
      : reply.code(503).send(failure(503, 'model is loading')),
  );
  return app;
}
