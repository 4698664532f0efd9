/**
 * @module api/routes/events
 * `GET /predictions/{id}/events` (extension): Server-Sent Events with the task's data object each
 * time something a client shows changes — status, queue position, step progress — and a last event
 * once it is final, after which the stream ends. Events are `event: task` with the data object as
 * JSON; a comment line every 15 s keeps proxies from closing an idle stream.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../../errors.js';
import type { ApiContext } from '../api-context.js';

const HEARTBEAT_MS = 15_000;

export function eventRoutes(api: FastifyInstance, ctx: ApiContext): void {
  api.get(
    '/predictions/:id/events',
    {
      schema: {
        summary: 'Server-Sent Events of a task until it is final (extension)',
        tags: ['tasks'],
        params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      },
    },
    async (req: FastifyRequest<{ Params: { id: string } }>, reply) => {
      ctx.authorize(req);
      const { id } = req.params;
      if (!(await ctx.store.get(id))) throw errors.TASK_NOT_FOUND(id);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no', // nginx: do not buffer the stream
      });
      let last = '';
      let open = true;
      // Updates are serialised: presenting is async, and an older snapshot must not overtake a newer one.
      let chain = Promise.resolve();
      const close = () => {
        if (!open) return;
        open = false;
        clearInterval(heartbeat);
        ctx.dispatcher.off('changed', onChanged);
        raw.end();
      };
      const update = async () => {
        const task = await ctx.store.get(id);
        if (!open) return;
        if (!task) return close(); // purged while watched
        const json = JSON.stringify(await ctx.present(task, { inlineBase64: false }));
        if (!open) return;
        if (json !== last) {
          last = json;
          raw.write(`event: task\ndata: ${json}\n\n`);
        }
        if (task.status === 'completed' || task.status === 'failed') close();
      };
      const onChanged = () => {
        chain = chain.then(update).catch((err) => {
          req.log.warn({ err, taskId: id }, 'event stream update failed');
          close();
        });
      };
      const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
      raw.on('close', close);
      ctx.dispatcher.on('changed', onChanged);
      onChanged();
    },
  );
}
