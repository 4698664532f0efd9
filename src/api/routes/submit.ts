/**
 * @module api/routes/submit
 * `POST /{owner}/{model}`: validate, store, queue, and answer the task (api.md, "Submit request"),
 * or with `enable_sync_mode` hold the answer until the task is final or the wait runs out (5004).
 */
import type { FastifyInstance } from 'fastify';
import { errors } from '../../errors.js';
import { displayUrl } from '../../hub/fetch-errors.js';
import { parseFetchUrl, refusedLiteral } from '../../hub/fetch-target.js';
import type { Task } from '../../jobs/task.js';
import { type ApiContext, sourcePolicy, submitOptions } from '../api-context.js';
import { failure, ok } from '../envelope.js';
import { checkUrlLength, parseSubmitBody, SUBMIT_SCHEMA } from '../submit-schema.js';
import { checkSubmitSources } from '../submit-sources.js';

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

/**
 * Checks a webhook at submit: length, scheme, no credentials, and an IP-literal host against the
 * address policy, so an obviously internal target is a 400 now rather than a failed delivery later.
 * Host names are resolved and checked at each delivery (hub/webhook-post), as they may change.
 */
function checkWebhook(ctx: ApiContext, raw: string): void {
  checkUrlLength('webhook', raw, ctx.maxUrlChars);
  const url = parseFetchUrl('webhook', raw);
  const refused = refusedLiteral(url, ctx.fetchPolicy);
  if (refused) {
    throw errors.USAGE(
      `webhook: refused ${displayUrl(url)}: ${refused}; deliveries go to public addresses unless the server allows loopback or private ones`,
    );
  }
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
      // The key first: without one, which models are installed is nobody's business either.
      const owner = ctx.authorize(req);
      const model = `${req.params.owner}/${req.params.name}`;
      if (!ctx.models.includes(model))
        return reply.code(404).send(failure(404, `model ${model} is not installed`));
      const body = parseSubmitBody(req.body, submitOptions(ctx, model));
      await checkSubmitSources(body, sourcePolicy(ctx));
      const webhook = req.query.webhook;
      if (webhook !== undefined) checkWebhook(ctx, webhook);
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
      const latest = (await ctx.store.get(task.id)) ?? task;
      // Finished between the timer and this read: that is the answer the caller waited for.
      if (latest.status === 'completed' || latest.status === 'failed') return ok(await ctx.present(latest));
      const current = await ctx.present(latest);
      // The hosted SDKs look for the timeout inside `data` (its `code`, or this wording in `error`
      // next to status processing) and then poll `urls.get` instead of failing the task. api.md
      // fixes the status of this answer at "processing" even for a task still queued; the store
      // keeps the real one, and `queue_position` tells the two apart.
      const state = current.status === 'created' ? 'queued' : 'running';
      const error = `Sync mode timed out after ${ctx.syncWaitMs} ms; the task is still ${state}: poll urls.get`;
      return {
        code: SYNC_TIMEOUT_CODE,
        message: 'still processing',
        data: { ...current, status: 'processing', code: SYNC_TIMEOUT_CODE, error },
      };
    },
  );
  // Any other POST under the prefix is a submit to a model that does not exist (api.md: 404), but
  // only for a caller with a key, as above.
  api.post<{ Params: { '*': string } }>('/*', { schema: { hide: true } }, async (req, reply) => {
    ctx.authorize(req);
    return reply.code(404).send(failure(404, `model ${req.params['*']} is not installed`));
  });
}
