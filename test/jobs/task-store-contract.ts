/**
 * The TaskStore contract, one suite for every backend (SQLite embedded, Redis scale-out): the state
 * machine, FIFO claiming, queue positions and the limit, per-key limits, crash recovery, history
 * paging, retention purge and webhook deliveries. A backend's test file calls `taskStoreContract`
 * with a function that opens a fresh, empty store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FluxServeError } from '../../src/errors.js';
import type { TaskStatus, TaskStore } from '../../src/jobs/task.js';
import { WEBHOOK_LEASE_MS } from '../../src/jobs/task.js';
import { manualClock, newTask, request, work } from './task-fixtures.js';

export interface ContractStoreOptions {
  readonly maxQueued: number;
  readonly maxActivePerOwner?: number;
  readonly now?: () => number;
  readonly newId?: () => string;
}

/** Opens a fresh, empty store of the backend under test. */
export type OpenStore = (options: ContractStoreOptions) => Promise<TaskStore>;

async function codeOf(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (e) {
    return e instanceof FluxServeError ? e.code : `not coded: ${String(e)}`;
  }
  return undefined;
}

/** Puts a fresh task into `status` through legal moves only (claims assume nothing else is queued). */
async function taskIn(s: TaskStore, status: TaskStatus, webhook: string | null = null): Promise<string> {
  const { id } = await s.create(newTask({ webhook }));
  if (status === 'created') return id;
  if (status === 'failed') {
    await s.fail(id, 'boom');
    return id;
  }
  expect((await s.claimNext())?.id).toBe(id);
  if (status === 'completed') await s.complete(id, work());
  return id;
}

async function createMany(s: TaskStore, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await s.create(newTask())).id);
  return ids;
}

export function taskStoreContract(openStore: OpenStore): void {
  const opened: TaskStore[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });
  async function open(maxQueued = 100, clock = manualClock(1_700_000_000_000, 1), more = {}) {
    const s = await openStore({ maxQueued, now: clock.now, ...more });
    opened.push(s);
    return s;
  }

  describe('create and get', () => {
    it('stores every field and echoes it back', async () => {
      const s = await open();
      const t = await s.create(newTask({ owner: 'key-1', webhook: 'https://example.com/hook' }));
      expect(t.id).toMatch(/^[0-9a-f]{32}$/);
      expect(t).toEqual({
        id: t.id,
        model: 'wavespeed-ai/flux-schnell',
        status: 'created',
        request,
        input: { prompt: 'a fox', size: '1024*768' },
        owner: 'key-1',
        webhook: 'https://example.com/hook',
        outputs: [],
        hasNsfwContents: [],
        seed: null,
        error: null,
        attempts: 0,
        timings: {},
        warnings: [],
        createdAt: 1_700_000_000_000,
        startedAt: null,
        finishedAt: null,
      });
      expect(await s.get(t.id)).toEqual(t);
      expect(await s.get('0'.repeat(32))).toBeUndefined();
    });

    it('draws distinct random ids', async () => {
      const s = await open(1000);
      expect(new Set(await createMany(s, 200)).size).toBe(200);
    });

    it('uses an injected id source', async () => {
      let n = 0;
      const s = await open(10, manualClock(), { newId: () => `t${++n}` });
      expect((await s.create(newTask())).id).toBe('t1');
      expect((await s.create(newTask())).id).toBe('t2');
    });
  });

  describe('state machine', () => {
    it('created → processing → completed records work, seed and times', async () => {
      const clock = manualClock(1000);
      const s = await open(10, clock);
      const { id } = await s.create(newTask());
      clock.set(1500);
      const claimed = await s.claimNext();
      expect(claimed).toMatchObject({ id, status: 'processing', attempts: 1, startedAt: 1500 });
      clock.set(2500);
      const done = await s.complete(id, {
        ...work(['a-0.jpg', 'a-1.jpg']),
        warnings: ['lora: 2 keys ignored'],
      });
      expect(done).toMatchObject({
        status: 'completed',
        outputs: ['a-0.jpg', 'a-1.jpg'],
        warnings: ['lora: 2 keys ignored'],
        hasNsfwContents: [false, false],
        seed: 9_876_543_210,
        timings: { inference: 120 },
        createdAt: 1000,
        startedAt: 1500,
        finishedAt: 2500,
        error: null,
      });
      expect(await s.get(id)).toEqual(done);
    });

    it.each(['created', 'processing'] as const)('%s → failed records the error', async (from) => {
      const s = await open();
      const id = await taskIn(s, from);
      const failed = await s.fail(id, 'cancelled');
      expect(failed).toMatchObject({ status: 'failed', error: 'cancelled' });
      expect(failed.finishedAt).not.toBeNull();
    });

    const illegal: [TaskStatus, 'complete' | 'fail'][] = [
      ['created', 'complete'],
      ['completed', 'complete'],
      ['completed', 'fail'],
      ['failed', 'complete'],
      ['failed', 'fail'],
    ];
    it.each(illegal)('%s → %s throws TASK_STATE and changes nothing', async (from, move) => {
      const s = await open();
      const id = await taskIn(s, from);
      const before = await s.get(id);
      const act = () => (move === 'complete' ? s.complete(id, work()) : s.fail(id, 'late'));
      expect(await codeOf(act)).toBe('FLUX_ERR_TASK_STATE');
      await expect(act()).rejects.toThrow(
        `cannot go from ${from} to ${move === 'complete' ? 'completed' : 'failed'}`,
      );
      expect(await s.get(id)).toEqual(before);
    });

    it('only created tasks are claimed', async () => {
      const s = await open();
      await taskIn(s, 'processing');
      await taskIn(s, 'completed');
      await taskIn(s, 'failed');
      expect(await s.claimNext()).toBeUndefined();
    });

    it('unknown ids throw TASK_NOT_FOUND', async () => {
      const s = await open();
      expect(await codeOf(() => s.complete('nope', work()))).toBe('FLUX_ERR_TASK_NOT_FOUND');
      expect(await codeOf(() => s.fail('nope', 'x'))).toBe('FLUX_ERR_TASK_NOT_FOUND');
      expect(await s.queuePosition('nope')).toBe(0);
    });
  });

  describe('queue', () => {
    it('claims oldest first, ties in insertion order', async () => {
      const s = await open(10, manualClock(5000)); // every task in the same millisecond
      const ids = await createMany(s, 4);
      const claimed = [];
      for (let i = 0; i < 4; i++) claimed.push((await s.claimNext())?.id);
      expect(claimed).toEqual(ids);
      expect(await s.claimNext()).toBeUndefined();
    });

    it('reports positions and length as tasks leave', async () => {
      const s = await open();
      const [a, b, c] = (await createMany(s, 3)) as [string, string, string];
      const positions = () => Promise.all([a, b, c].map((id) => s.queuePosition(id)));
      expect(await positions()).toEqual([1, 2, 3]);
      expect(await s.queueLength()).toBe(3);
      await s.claimNext();
      expect(await positions()).toEqual([0, 1, 2]);
      await s.fail(c, 'cancelled');
      expect(await positions()).toEqual([0, 1, 0]);
      expect(await s.queueLength()).toBe(1);
    });

    it('throws QUEUE_FULL at the limit, counting only created tasks', async () => {
      const s = await open(2);
      await createMany(s, 2);
      expect(await codeOf(() => s.create(newTask()))).toBe('FLUX_ERR_QUEUE_FULL');
      await expect(s.create(newTask())).rejects.toThrow(/queue is full \(2 waiting/);
      expect(await s.queueLength()).toBe(2);
      await s.claimNext(); // processing no longer counts
      expect((await s.create(newTask())).status).toBe('created');
      expect(await codeOf(() => s.create(newTask()))).toBe('FLUX_ERR_QUEUE_FULL');
    });

    it('a task cancelled while queued is never claimed', async () => {
      const s = await open();
      const [a, b] = (await createMany(s, 2)) as [string, string];
      await s.fail(a, 'cancelled');
      expect((await s.claimNext())?.id).toBe(b);
      expect(await s.claimNext()).toBeUndefined();
    });
  });

  describe('recoverInterrupted', () => {
    it('requeues under the attempt limit in the old order and fails the rest', async () => {
      const s = await open();
      const [a, b, c, d] = (await createMany(s, 4)) as [string, string, string, string];
      // a: 2 attempts, b and c: 1 attempt, d stays queued.
      await s.claimNext();
      await s.recoverInterrupted(5);
      expect((await s.claimNext())?.id).toBe(a); // a again, ahead of b
      await s.claimNext(); // b
      await s.claimNext(); // c
      expect((await s.get(a))?.attempts).toBe(2);

      const out = await s.recoverInterrupted(2);
      expect(out).toEqual({ requeued: [b, c], failed: [a] });
      expect(await s.get(a)).toMatchObject({
        status: 'failed',
        error: 'interrupted: the worker stopped while running this task (2 attempts)',
      });
      expect(await s.get(b)).toMatchObject({ status: 'created', attempts: 1, startedAt: null });
      // b and c were created before d, so they go back ahead of it.
      expect(await Promise.all([b, c, d].map((id) => s.queuePosition(id)))).toEqual([1, 2, 3]);
      const claimed = [];
      for (let i = 0; i < 3; i++) claimed.push((await s.claimNext())?.id);
      expect(claimed).toEqual([b, c, d]);
      expect(await s.claimNext()).toBeUndefined();
    });

    it('leaves other states alone and reports nothing when nothing was running', async () => {
      const s = await open();
      await taskIn(s, 'completed');
      await taskIn(s, 'failed');
      await taskIn(s, 'created');
      expect(await s.recoverInterrupted(3)).toEqual({ requeued: [], failed: [] });
    });
  });

  describe('history', () => {
    async function seeded() {
      const s = await open(100);
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const model = i % 2 ? 'wavespeed-ai/flux-dev-lora' : 'wavespeed-ai/flux-schnell';
        ids.push((await s.create(newTask({ model }))).id);
      }
      await s.claimNext();
      await s.complete(ids[0] as string, work());
      await s.fail(ids[3] as string, 'cancelled');
      return { s, ids };
    }
    const idsOf = (page: { items: { id: string }[] }) => page.items.map((t) => t.id);

    it('pages newest first with the total', async () => {
      const { s, ids } = await seeded();
      const newestFirst = [...ids].reverse();
      const p1 = await s.history({ page: 1, pageSize: 3 });
      const p3 = await s.history({ page: 3, pageSize: 3 });
      expect(p1.total).toBe(7);
      expect(idsOf(p1)).toEqual(newestFirst.slice(0, 3));
      expect(idsOf(p3)).toEqual(newestFirst.slice(6));
      expect(await s.history({ page: 4, pageSize: 3 })).toEqual({ total: 7, items: [] });
    });

    it('filters by status and model', async () => {
      const { s, ids } = await seeded();
      expect(idsOf(await s.history({ page: 1, pageSize: 10, status: 'failed' }))).toEqual([ids[3]]);
      const dev = await s.history({ page: 1, pageSize: 10, model: 'wavespeed-ai/flux-dev-lora' });
      expect(dev.total).toBe(3);
      expect(idsOf(dev)).toEqual([ids[5], ids[3], ids[1]]);
      const both = await s.history({
        page: 1,
        pageSize: 10,
        status: 'created',
        model: 'wavespeed-ai/flux-schnell',
      });
      expect(idsOf(both)).toEqual([ids[6], ids[4], ids[2]]);
    });

    it('shows a key only its own tasks', async () => {
      const s = await open();
      await s.create(newTask({ owner: 'key-a' }));
      const b = await s.create(newTask({ owner: 'key-b' }));
      expect(await s.history({ page: 1, pageSize: 10, owner: 'key-b' })).toEqual({ total: 1, items: [b] });
      expect((await s.history({ page: 1, pageSize: 10 })).total).toBe(2);
    });
  });

  describe('purgeFinishedBefore', () => {
    it('deletes finished tasks older than the cutoff and returns their outputs', async () => {
      const clock = manualClock(1000);
      const s = await open(10, clock);
      const old = await taskIn(s, 'processing');
      await s.complete(old, work(['o-0.jpg', 'o-1.jpg']));
      const oldFailed = await taskIn(s, 'failed');
      const running = await taskIn(s, 'processing');
      clock.set(5000);
      const recent = await taskIn(s, 'processing');
      await s.complete(recent, work(['r-0.jpg']));
      const queued = await taskIn(s, 'created');

      expect((await s.purgeFinishedBefore(5000)).sort()).toEqual(['o-0.jpg', 'o-1.jpg']);
      expect(await s.get(old)).toBeUndefined();
      expect(await s.get(oldFailed)).toBeUndefined();
      for (const id of [queued, running, recent]) expect(await s.get(id)).toBeDefined();
      expect(await s.purgeFinishedBefore(5000)).toEqual([]);
      expect((await s.history({ page: 1, pageSize: 10 })).total).toBe(3);
    });
  });

  describe('per-key limit', () => {
    it('refuses a key at its limit of unfinished tasks, and frees a slot when one finishes', async () => {
      const s = await open(100, manualClock(), { maxActivePerOwner: 2 });
      const a = await s.create(newTask({ owner: 'key-a' }));
      await s.create(newTask({ owner: 'key-a' }));
      expect(await codeOf(() => s.create(newTask({ owner: 'key-a' })))).toBe('FLUX_ERR_KEY_BUSY');
      // Other keys and the keyless server are not counted against key-a.
      expect((await s.create(newTask({ owner: 'key-b' }))).status).toBe('created');
      expect((await s.create(newTask({ owner: null }))).status).toBe('created');
      expect((await s.claimNext())?.id).toBe(a.id); // processing still counts
      expect(await codeOf(() => s.create(newTask({ owner: 'key-a' })))).toBe('FLUX_ERR_KEY_BUSY');
      await s.complete(a.id, work());
      expect((await s.create(newTask({ owner: 'key-a' }))).owner).toBe('key-a');
    });
  });

  describe('webhook deliveries', () => {
    const hook = 'https://example.com/hook';

    it('a finished task with a webhook is due at once, by completion, failure or lost attempts', async () => {
      const s = await open(100, manualClock(1_000));
      const done = await taskIn(s, 'completed', hook);
      const failed = await taskIn(s, 'failed', hook);
      await taskIn(s, 'completed');
      const lost = await s.create(newTask({ webhook: hook }));
      expect((await s.claimNext())?.id).toBe(lost.id);
      await s.recoverInterrupted(1);
      expect(await s.nextWebhookAt()).toBe(1_000);
      expect(await s.dueWebhooks(999, 10)).toEqual([]);
      expect(await s.dueWebhooks(1_000, 10)).toEqual([
        { taskId: done, url: hook, attempts: 0 },
        { taskId: failed, url: hook, attempts: 0 },
        { taskId: lost.id, url: hook, attempts: 0 },
      ]);
    });

    it('leases what it hands out: not due again until the lease runs out or a try is recorded', async () => {
      const s = await open(100, manualClock(1_000));
      const a = await taskIn(s, 'completed', hook);
      expect(await s.dueWebhooks(1_000, 10)).toHaveLength(1);
      expect(await s.dueWebhooks(1_000, 10)).toEqual([]); // another sender asking finds nothing
      expect(await s.nextWebhookAt()).toBe(1_000 + WEBHOOK_LEASE_MS);
      expect(await s.dueWebhooks(1_000 + WEBHOOK_LEASE_MS, 10)).toEqual([
        { taskId: a, url: hook, attempts: 0 }, // its sender died: due again
      ]);
    });

    it('records tries: a failure with a retry time is due again then; delivered or given up is never due', async () => {
      const s = await open(100, manualClock(1_000));
      const a = await taskIn(s, 'completed', hook);
      const b = await taskIn(s, 'completed', hook);
      await s.recordWebhookAttempt(a, { delivered: false, error: 'HTTP 500', retryAt: 6_000 });
      await s.recordWebhookAttempt(b, { delivered: true });
      expect(await s.dueWebhooks(5_999, 10)).toEqual([]);
      expect(await s.nextWebhookAt()).toBe(6_000);
      expect(await s.dueWebhooks(6_000, 10)).toEqual([{ taskId: a, url: hook, attempts: 1 }]);
      await s.recordWebhookAttempt(a, { delivered: false, error: 'HTTP 500', retryAt: null });
      expect(await s.dueWebhooks(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
      expect(await s.nextWebhookAt()).toBeUndefined();
    });

    it('purging a task removes its delivery', async () => {
      const clock = manualClock(1_000);
      const s = await open(100, clock);
      await taskIn(s, 'completed', hook);
      await s.purgeFinishedBefore(2_000);
      expect(await s.dueWebhooks(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
      expect(await s.nextWebhookAt()).toBeUndefined();
    });
  });
}
