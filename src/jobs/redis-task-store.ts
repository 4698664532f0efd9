/**
 * @module jobs/redis-task-store
 * The TaskStore on Redis (scale-out: several API and worker hosts share one queue). Task records,
 * history and webhook deliveries are Redis hashes and sorted sets changed only by the Lua scripts
 * of `redis-scripts` (atomic whoever runs them); the queue is BullMQ: a task is a job with the
 * task's id, claimed by a worker that holds its lock and renews it while it runs. A worker host
 * that dies stops renewing; BullMQ's stalled-job check puts its job back in the queue, and the task
 * is requeued, or failed once it has had `maxAttempts` (dependencies.md §6).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { errors, FluxServeError, isStoreUnavailable } from '../errors.js';
import { SCRIPT_ERROR, SCRIPTS, type ScriptName } from './redis-scripts.js';
import { fieldsOf, hashToTask, seqOf } from './redis-task-record.js';
import type { DueWebhook, NewTask, TaskStatus, TaskStore } from './task.js';
import { WEBHOOK_LEASE_MS } from './task.js';

export interface RedisTaskStoreOptions {
  /** `created` tasks allowed at once, across every host; `create` throws QUEUE_FULL at this many. */
  readonly maxQueued: number;
  /** Unfinished tasks one API key may have, across every host. Default: no limit. */
  readonly maxActivePerOwner?: number;
  /** Claims a task may have before a worker that dies under it fails it (default 3). */
  readonly maxAttempts?: number;
  /** Key prefix shared by every host of one deployment (default `flux-serve`). */
  readonly prefix?: string;
  /**
   * Lock of a claimed task, ms: renewed every half of it while the task runs; a worker silent for
   * longer has its task requeued by BullMQ's stalled check (run as often). Default 30 s.
   */
  readonly lockMs?: number;
  /** Called with the id of a task the store failed on its own (a stalled task past its attempts). */
  readonly onFinished?: (id: string) => void;
  readonly now?: () => number;
  readonly newId?: () => string;
}

/** The BullMQ queue every host of a deployment uses. */
const QUEUE = 'tasks';
/** BullMQ job states in which a job waits for a worker. */
const WAITING = new Set(['waiting', 'wait', 'prioritized', 'delayed', 'paused']);

interface Held {
  readonly id: string;
  readonly seq: number;
  readonly attempts: number;
  readonly job: Job;
  readonly token: string;
}

export interface RedisTaskStore extends TaskStore {
  /**
   * Requeues (or fails, past `maxAttempts`) tasks whose worker died: `processing` tasks that this
   * handle does not run and whose BullMQ job is waiting again or gone. Workers call it now and then.
   */
  recoverStalled(maxAttempts: number): Promise<{ requeued: string[]; failed: string[] }>;
}

/** The message of a task that ran out of attempts under dying workers (the same as SQLite's). */
export function interruptedError(attempts: number): string {
  return `interrupted: the worker stopped while running this task (${attempts} attempts)`;
}

/** Redis errors (connection refused, offline) become 503s; the scripts' own errors keep their codes. */
function unavailable(cause: unknown): FluxServeError {
  return errors.STORE_UNAVAILABLE((cause as Error).message ?? String(cause), { cause });
}

/**
 * Connects to `url` (`redis://[user:pass@]host:port/db`, `rediss://` for TLS) and resolves once
 * Redis answers.
 * @example
 * const store = await openRedisTaskStore('redis://127.0.0.1:6379/0', { maxQueued: 100 });
 * const task = await store.create({ model, request, input: body, owner: null, webhook: null });
 */
export async function openRedisTaskStore(
  url: string,
  options: RedisTaskStoreOptions,
): Promise<RedisTaskStore> {
  const now = options.now ?? Date.now;
  const newId = options.newId ?? (() => randomBytes(16).toString('hex'));
  const p = options.prefix ?? 'flux-serve';
  const lockMs = options.lockMs ?? 30_000;
  const maxAttempts = options.maxAttempts ?? 3;
  // Commands fail at once while Redis is away (the API answers 503) instead of queueing up.
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  redis.on('error', () => {}); // reconnects by itself; callers see the failed commands
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw errors.USAGE(`--queue: cannot reach Redis at ${redactUrl(url)}: ${(e as Error).message}`);
  }
  // BullMQ's connection waits for Redis to come back (its workers block on it).
  const bull = new Redis(url, { maxRetriesPerRequest: null });
  bull.on('error', () => {});
  const queue = new Queue(QUEUE, { connection: bull, prefix: `${p}:bull` });
  queue.on('error', () => {});
  let worker: Worker | undefined;
  let renew: NodeJS.Timeout | undefined;
  const held = new Map<string, Held>();

  async function run(name: ScriptName, ...args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.eval(SCRIPTS[name], 0, p, ...args);
    } catch (e) {
      const m = SCRIPT_ERROR.exec((e as Error).message ?? '');
      if (!m) throw unavailable(e);
      const [, code, detail] = m;
      if (code === 'QUEUE_FULL') throw errors.QUEUE_FULL(options.maxQueued);
      if (code === 'KEY_BUSY') throw errors.KEY_BUSY(options.maxActivePerOwner ?? 0);
      if (code === 'NOT_FOUND') throw errors.TASK_NOT_FOUND(detail ?? '');
      throw new ScriptRefusal(code as string, detail ?? '');
    }
  }

  /** A guarded move that matched nothing: TASK_STATE naming where the task is and where it was sent. */
  async function move(name: ScriptName, id: string, to: TaskStatus, ...args: (string | number)[]) {
    try {
      return fieldsOf((await run(name, id, ...args)) as string[]);
    } catch (e) {
      if (e instanceof ScriptRefusal && e.code === 'STATE') throw errors.TASK_STATE(id, e.detail, to);
      throw e;
    }
  }

  function claimer(): Worker {
    if (worker) return worker;
    // Manual fetching (no processor): the dispatcher asks for a task when it is free.
    worker = new Worker(QUEUE, null, {
      connection: bull,
      prefix: `${p}:bull`,
      autorun: false,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // Our attempt count decides (claim and recoverStalled); this is only a backstop.
      maxStalledCount: maxAttempts,
    });
    worker.on('error', () => {});
    void worker.startStalledCheckTimer().catch(() => {});
    renew = setInterval(() => {
      for (const h of held.values()) void h.job.extendLock(h.token, lockMs).catch(() => {});
    }, lockMs / 2);
    renew.unref();
    return worker;
  }

  async function safely<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (e) {
      throw e instanceof FluxServeError ? e : unavailable(e);
    }
  }

  /** Ends a held job's BullMQ life; a lost lock (the job went elsewhere) is not this handle's business any more. */
  async function release(id: string, how: 'completed' | 'failed', error?: string): Promise<void> {
    const h = held.get(id);
    held.delete(id);
    if (h) {
      await (how === 'completed'
        ? h.job.moveToCompleted(null, h.token, false)
        : h.job.moveToFailed(new Error(error), h.token, false)
      ).catch(() => {});
    } else if (how === 'failed') {
      // Cancelled while queued: drop its job (a job another worker holds cannot be removed; that
      // worker finds the task failed when it claims or finishes it).
      await queue.remove(id).catch(() => 0);
    }
  }

  async function recoverStalled(limit: number, skip = new Set(held.keys())) {
    const requeued: { id: string; seq: number }[] = [];
    const failed: { id: string; seq: number }[] = [];
    for (const id of await safely(() => redis.smembers(`${p}:processing`))) {
      if (skip.has(id)) continue;
      const h = await safely(() => redis.hgetall(`${p}:task:${id}`));
      if (h.status !== 'processing') continue;
      const job = await safely(() => queue.getJob(id));
      const state = job ? await safely(() => job.getState()) : 'unknown';
      if (state === 'active') continue; // another worker runs it
      const attempts = Number(h.attempts);
      try {
        if (WAITING.has(state) && attempts < limit) {
          await run('requeue', id, attempts);
          requeued.push({ id, seq: seqOf(h) });
        } else {
          await run('fail', id, now(), interruptedError(attempts), attempts);
          await job?.remove().catch(() => {});
          failed.push({ id, seq: seqOf(h) });
          options.onFinished?.(id);
        }
      } catch (e) {
        if (!(e instanceof ScriptRefusal)) throw e; // claimed meanwhile: no longer stalled
      }
    }
    return { requeued, failed };
  }

  /** A refused finish: the task went on elsewhere (this handle lost its lock), so its job is not ours to renew. */
  function disown(id: string, e: unknown): never {
    if (!isStoreUnavailable(e)) held.delete(id);
    throw e;
  }

  const bySeq = (list: { id: string; seq: number }[]) => list.sort((a, b) => a.seq - b.seq).map((x) => x.id);

  return {
    create: async (task: NewTask) => {
      const h = fieldsOf(
        (await run(
          'create',
          newId(),
          now(),
          options.maxQueued,
          options.maxActivePerOwner ?? -1,
          task.model,
          JSON.stringify(task.request),
          JSON.stringify(task.input),
          task.owner ?? '',
          task.webhook ?? '',
        )) as string[],
      );
      const created = hashToTask(h);
      try {
        await queue.add(
          'task',
          { id: created.id },
          { jobId: created.id, removeOnComplete: true, removeOnFail: 1000 },
        );
      } catch (e) {
        // Not queued, so not accepted: fail the record rather than leave a task nobody will run.
        await run('fail', created.id, now(), `not queued: ${(e as Error).message}`, '').catch(() => {});
        throw unavailable(e);
      }
      return created;
    },
    get: async (id) => {
      const h = await safely(() => redis.hgetall(`${p}:task:${id}`));
      return h.status ? hashToTask(h) : undefined;
    },
    claimNext: async () => {
      const w = claimer();
      for (;;) {
        const token = randomUUID();
        const job = await safely(() => w.getNextJob(token, { block: false }));
        if (!job?.id) return undefined;
        try {
          const h = fieldsOf((await run('claim', job.id, now())) as string[]);
          const attempts = Number(h.attempts);
          if (attempts > maxAttempts) {
            // Delivered again after its workers died maxAttempts times: fail it instead of a fourth run.
            const failedTask = await move(
              'fail',
              job.id,
              'failed',
              now(),
              interruptedError(attempts - 1),
              attempts,
            );
            await job.moveToFailed(new Error(failedTask.error), token, false).catch(() => {});
            options.onFinished?.(job.id);
            continue;
          }
          held.set(job.id, { id: job.id, seq: seqOf(h), attempts, job, token });
          return hashToTask(h);
        } catch (e) {
          if (!(e instanceof ScriptRefusal) && !(e instanceof FluxServeError && e.statusCode === 404))
            throw e;
          // The task was cancelled (or purged) while its job waited: drop the job, take the next.
          await job.moveToCompleted(null, token, false).catch(() => {});
        }
      }
    },
    complete: async (id, work) => {
      const h = await move(
        'complete',
        id,
        'completed',
        now(),
        JSON.stringify(work.outputs),
        JSON.stringify(work.hasNsfwContents),
        work.seed,
        JSON.stringify(work.timings),
        JSON.stringify(work.warnings ?? []),
      ).catch((e) => disown(id, e));
      await release(id, 'completed');
      return hashToTask(h);
    },
    fail: async (id, error) => {
      const h = await move('fail', id, 'failed', now(), error, '').catch((e) => disown(id, e));
      await release(id, 'failed', error);
      return hashToTask(h);
    },
    queuePosition: async (id) => {
      const rank = await safely(() => redis.zrank(`${p}:queued`, id));
      return rank === null ? 0 : rank + 1;
    },
    queueLength: () => safely(() => redis.zcard(`${p}:queued`)),
    recoverInterrupted: async (limit) => {
      const requeued: { id: string; seq: number }[] = [];
      const failed: { id: string; seq: number }[] = [];
      // Newest first: a job moved back goes to the head of BullMQ's wait list, so the oldest ends first in line.
      const own = [...held.values()].sort((a, b) => b.seq - a.seq);
      for (const h of own) {
        held.delete(h.id);
        if (h.attempts < limit) {
          await run('requeue', h.id, h.attempts);
          await h.job.moveToWait(h.token).catch(() => {}); // else its lock runs out and BullMQ requeues it
          requeued.push(h);
        } else {
          const error = interruptedError(h.attempts);
          await run('fail', h.id, now(), error, h.attempts);
          await h.job.moveToFailed(new Error(error), h.token, false).catch(() => {});
          failed.push(h);
        }
      }
      const stalled = await recoverStalled(limit, new Set(own.map((h) => h.id)));
      return {
        requeued: bySeq([...requeued, ...stalled.requeued]),
        failed: bySeq([...failed, ...stalled.failed]),
      };
    },
    recoverStalled: async (limit) => {
      const { requeued, failed } = await recoverStalled(limit);
      return { requeued: bySeq(requeued), failed: bySeq(failed) };
    },
    history: async (q) => {
      const pageSize = Math.max(1, Math.floor(q.pageSize));
      const page = Math.max(1, Math.floor(q.page));
      const [total, ...items] = (await run(
        'history',
        (page - 1) * pageSize,
        pageSize,
        q.status ?? '',
        q.model ?? '',
        q.owner ?? '',
      )) as [number, ...string[][]];
      return { total, items: items.map((flat) => hashToTask(fieldsOf(flat))) };
    },
    purgeFinishedBefore: async (cutoffMs) =>
      ((await run('purge', cutoffMs)) as string[]).flatMap((json) => JSON.parse(json) as string[]),
    dueWebhooks: async (at, limit) => {
      const flat = (await run('dueWebhooks', at, limit, WEBHOOK_LEASE_MS)) as string[];
      const due: DueWebhook[] = [];
      for (let i = 0; i + 2 < flat.length; i += 3)
        due.push({ taskId: flat[i] as string, url: flat[i + 1] as string, attempts: Number(flat[i + 2]) });
      return due;
    },
    recordWebhookAttempt: async (id, attempt) => {
      await run(
        'webhookAttempt',
        id,
        now(),
        attempt.delivered ? '1' : '0',
        attempt.delivered ? '' : attempt.error,
        attempt.delivered || attempt.retryAt === null ? '' : attempt.retryAt,
      );
    },
    nextWebhookAt: async () => {
      const first = await safely(() => redis.zrange(`${p}:webhooks-due`, '0', '0', 'WITHSCORES'));
      return first.length === 2 ? Number(first[1]) : undefined;
    },
    close: async () => {
      clearInterval(renew);
      await worker?.close().catch(() => {});
      await queue.close().catch(() => {});
      bull.disconnect();
      redis.disconnect();
    },
  };
}

/** A script's guard refused the move (`FLUX:STATE:<status>`, `FLUX:ID_TAKEN`). */
class ScriptRefusal extends Error {
  constructor(
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code} ${detail}`);
  }
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
