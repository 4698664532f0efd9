/**
 * @module api/routes/predictions
 * Reading tasks back: the result (api.md's two paths), the cancel extension and the history page.
 * A key sees only its own tasks' history and cancels only its own tasks; results are readable by
 * id, as on the hosted service (the id is 128 random bits).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../../errors.js';
import type { ApiContext } from '../api-context.js';
import { ok } from '../envelope.js';
import { historyInput } from '../history-input.js';
import { parseHistoryQuery } from '../history-query.js';

type ById = FastifyRequest<{ Params: { id: string } }>;

const byId = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } as const;

export function predictionRoutes(api: FastifyInstance, ctx: ApiContext): void {
  const result = async (req: ById) => {
    ctx.authorize(req);
    const task = await ctx.store.get(req.params.id);
    if (!task) throw errors.TASK_NOT_FOUND(req.params.id);
    return ok(await ctx.present(task));
  };
  const read = { schema: { summary: 'A task’s data object', tags: ['tasks'], params: byId } };
  api.get('/predictions/:id/result', read, result);
  api.get('/predictions/:id', read, result);

  api.post(
    '/predictions/:id/cancel',
    {
      schema: {
        summary: 'Cancel a queued or running task (extension); it ends failed with error "cancelled"',
        tags: ['tasks'],
        params: byId,
      },
    },
    async (req: ById) => {
      const owner = ctx.authorize(req);
      // Another key's task answers like an unknown one, so a key cannot probe which ids exist.
      const own = await ctx.store.get(req.params.id);
      if (!own || (owner !== null && own.owner !== owner)) throw errors.TASK_NOT_FOUND(req.params.id);
      const task = await ctx.dispatcher.cancel(req.params.id);
      req.log.info({ taskId: task.id, status: task.status }, 'cancel requested');
      return ok(await ctx.present(task));
    },
  );

  api.post(
    '/predictions',
    {
      schema: {
        summary:
          'History: {page, page_size, status?, model?} → {page, total, items}; a key sees its own tasks',
        tags: ['tasks'],
      },
    },
    async (req) => {
      const owner = ctx.authorize(req);
      const query = parseHistoryQuery(req.body);
      const { total, items } = await ctx.store.history({ ...query, ...(owner !== null ? { owner } : {}) });
      // Pages list outputs as URLs (re-reading every base64 image of a page would be megabytes) and
      // carry each task's `input`, so a client can show and reuse what was asked, with inline images
      // named by size for the same reason.
      const data = await Promise.all(
        items.map(async (t) => ({
          ...(await ctx.present(t, { inlineBase64: false })),
          input: historyInput(t.input),
        })),
      );
      return ok({ page: query.page, page_size: query.pageSize, total, items: data });
    },
  );
}
