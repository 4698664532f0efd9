/**
 * @module api/routes/submit
 * `POST /{owner}/{model}`: validate, store, queue, and answer the task (api.md, "Submit request"),
 * or with `enable_sync_mode` hold the answer until the task is final or the wait runs out (5004).
 */
import type { FastifyInstance } from 'fastify';
import { parseFetchUrl } from '../../hub/fetch-target.js';
import type { Task } from '../../jobs/task.js';
import type { ApiContext } from '../api-context.js';
import { failure, ok } from '../envelope.js';
import { parseSubmitBody, SUBMIT_SCHEMA } from '../submit-schema.js';

/** api.md: a sync-mode request that outlives the wait answers its current data with this code. */
const SYNC_TIMEOUT_CODE = 5004;

/**
 * Resolves with the task once the dispatcher reports it final, or undefined after `waitMs`. Call it
 * right after `ctx.dispatcher.notify()`, before any await, so the event cannot pass unseen.
 */
export function finished(ctx: ApiContext, id: string, waitMs: number): Promise<Task | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ctx.dispatcher.off('finished', onFinished);
      resolve(undefined);
    }, waitMs);
    const onFinished = (t: Task) => {
      if (t.id !== id) return;
      clearTimeout(timer);
      ctx.dispatcher.off('finished', onFinished);
      resolve(t);
    };
    ctx.dispatcher.on('finished', onFinished);
  });
}

export function submitRoutes(api: FastifyInstance, ctx: ApiContext): void {
  api.post<{ Params: { owner: string; name: string }; Querystring: { webhook?: string } }>(
    '/:owner/:name',
    {
      schema: {
        summary: 'Submit a generation task (hosted flux-schnell-lora contract)',
        tags: ['tasks'],
        body: SUBMIT_SCHEMA,
        querystring: { type: 'object', properties: { webhook: { type: 'string' } } },
      },
      // The schema documents the body; parseSubmitBody validates it, with messages that name the
      // field and its allowed range, which Ajv's wording cannot.
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      const model = `${req.params.owner}/${req.params.name}`;
      if (!ctx.models.includes(model))
        return reply.code(404).send(failure(404, `model ${model} is not installed`));
      const owner = ctx.authorize(req);
      const body = parseSubmitBody(req.body, {
        maxLoras: ctx.maxLoras,
        maxImageBytes: ctx.maxUploadBytes,
        ...(ctx.maxPromptChars ? { maxPromptChars: ctx.maxPromptChars } : {}),
      });
      const webhook = req.query.webhook;
      if (webhook !== undefined) parseFetchUrl('webhook', webhook);
      const task = await ctx.store.create({
        model,
        request: body.enableSafetyChecker ? body.request : { ...body.request, safetyChecker: false },
        input: (req.body ?? {}) as Record<string, unknown>,
        owner,
        webhook: webhook ?? null,
      });
      req.log.info({ taskId: task.id, model }, 'task accepted');
      ctx.dispatcher.notify();
      if (!body.enableSyncMode) return ok(await ctx.present(task));
      const done = await finished(ctx, task.id, ctx.syncWaitMs);
      if (done) return ok(await ctx.present(done));
      const current = await ctx.present((await ctx.store.get(task.id)) ?? task);
      // The hosted SDKs look for the timeout inside `data` (its `code`, or this wording in `error`
      // next to status processing) and then poll `urls.get` instead of failing the task.
      const error = `Sync mode timed out after ${ctx.syncWaitMs} ms; the task is still ${current.status}: poll urls.get`;
      return {
        code: SYNC_TIMEOUT_CODE,
        message: 'still processing',
        data: { ...current, code: SYNC_TIMEOUT_CODE, error },
      };
    },
  );
}
