/**
 * The SQLite task store on `:memory:`: the state machine, FIFO claiming, queue positions and the
 * limit, crash recovery, history paging and retention purge.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FluxServeError } from '../../src/errors.js';
import { openSqliteTaskStore } from '../../src/jobs/sqlite-task-store.js';
import type { TaskStatus, TaskStore } from '../../src/jobs/task.js';
import { manualClock, newTask, request, work } from './task-fixtures.js';

let store: TaskStore;
afterEach(() => store?.close());

function open(maxQueued = 100, clock = manualClock(1_700_000_000_000, 1)) {
  store = openSqliteTaskStore(':memory:', { maxQueued, now: clock.now });
  return store;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof FluxServeError ? e.code : `not coded: ${String(e)}`;
  }
  return undefined;
}

/** Puts a fresh task into `status` through legal moves only (claims assume nothing else is queued). */
function taskIn(s: TaskStore, status: TaskStatus): string {
  const { id } = s.create(newTask());
  if (status === 'created') return id;
  if (status === 'failed') {
    s.fail(id, 'boom');
    return id;
  }
  expect(s.claimNext()?.id).toBe(id);
  if (status === 'completed') s.complete(id, work());
  return id;
}

describe('create and get', () => {
  it('stores every field and echoes it back', () => {
    const s = open();
    const t = s.create(newTask({ owner: 'key-1', webhook: 'https://example.com/hook' }));
    expect(t.id).toMatch(/^[0-9a-f]{32}$/);
    expect(t).toMatchObject({
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
    expect(s.get(t.id)).toEqual(t);
    expect(s.get('0'.repeat(32))).toBeUndefined();
  });

  it('draws distinct random ids', () => {
    const s = open(1000);
    const ids = new Set(Array.from({ length: 200 }, () => s.create(newTask()).id));
    expect(ids.size).toBe(200);
  });

  it('uses an injected id source', () => {
    let n = 0;
    store = openSqliteTaskStore(':memory:', { maxQueued: 10, newId: () => `t${++n}` });
    expect(store.create(newTask()).id).toBe('t1');
    expect(store.create(newTask()).id).toBe('t2');
  });
});

describe('state machine', () => {
  it('created → processing → completed records work, seed and times', () => {
    const clock = manualClock(1000);
    const s = open(10, clock);
    const { id } = s.create(newTask());
    clock.set(1500);
    const claimed = s.claimNext();
    expect(claimed).toMatchObject({ id, status: 'processing', attempts: 1, startedAt: 1500 });
    clock.set(2500);
    const done = s.complete(id, { ...work(['a-0.jpg', 'a-1.jpg']), warnings: ['lora: 2 keys ignored'] });
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
    expect(s.get(id)).toEqual(done);
  });

  it.each(['created', 'processing'] as const)('%s → failed records the error', (from) => {
    const s = open();
    const id = taskIn(s, from);
    const failed = s.fail(id, 'cancelled');
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
  it.each(illegal)('%s → %s throws TASK_STATE and changes nothing', (from, move) => {
    const s = open();
    const id = taskIn(s, from);
    const before = s.get(id);
    const act = () => (move === 'complete' ? s.complete(id, work()) : s.fail(id, 'late'));
    expect(codeOf(act)).toBe('FLUX_ERR_TASK_STATE');
    expect(() => act()).toThrow(`cannot go from ${from} to ${move === 'complete' ? 'completed' : 'failed'}`);
    expect(s.get(id)).toEqual(before);
  });

  it('only created tasks are claimed', () => {
    const s = open();
    taskIn(s, 'processing');
    taskIn(s, 'completed');
    taskIn(s, 'failed');
    expect(s.claimNext()).toBeUndefined();
  });

  it('unknown ids throw TASK_NOT_FOUND', () => {
    const s = open();
    expect(codeOf(() => s.complete('nope', work()))).toBe('FLUX_ERR_TASK_NOT_FOUND');
    expect(codeOf(() => s.fail('nope', 'x'))).toBe('FLUX_ERR_TASK_NOT_FOUND');
    expect(s.queuePosition('nope')).toBe(0);
  });
});

describe('queue', () => {
  it('claims oldest first, ties in insertion order', () => {
    const clock = manualClock(5000); // every task in the same millisecond
    const s = open(10, clock);
    const ids = [0, 1, 2, 3].map(() => s.create(newTask()).id);
    expect([0, 1, 2, 3].map(() => s.claimNext()?.id)).toEqual(ids);
    expect(s.claimNext()).toBeUndefined();
  });

  it('reports positions and length as tasks leave', () => {
    const s = open();
    const [a, b, c] = [0, 1, 2].map(() => s.create(newTask()).id) as [string, string, string];
    expect([a, b, c].map((id) => s.queuePosition(id))).toEqual([1, 2, 3]);
    expect(s.queueLength()).toBe(3);
    s.claimNext();
    expect([a, b, c].map((id) => s.queuePosition(id))).toEqual([0, 1, 2]);
    s.fail(c, 'cancelled');
    expect([a, b, c].map((id) => s.queuePosition(id))).toEqual([0, 1, 0]);
    expect(s.queueLength()).toBe(1);
  });

  it('throws QUEUE_FULL at the limit, counting only created tasks', () => {
    const s = open(2);
    s.create(newTask());
    s.create(newTask());
    expect(codeOf(() => s.create(newTask()))).toBe('FLUX_ERR_QUEUE_FULL');
    expect(() => s.create(newTask())).toThrow(/queue is full \(2 waiting/);
    expect(s.queueLength()).toBe(2);
    s.claimNext(); // processing no longer counts
    expect(s.create(newTask()).status).toBe('created');
    expect(codeOf(() => s.create(newTask()))).toBe('FLUX_ERR_QUEUE_FULL');
  });
});

describe('recoverInterrupted', () => {
  it('requeues under the attempt limit in the old order and fails the rest', () => {
    const s = open();
    const [a, b, c, d] = [0, 1, 2, 3].map(() => s.create(newTask()).id) as [string, string, string, string];
    // a: 2 attempts, b and c: 1 attempt, d stays queued.
    s.claimNext();
    s.recoverInterrupted(5);
    s.claimNext(); // a again
    s.claimNext(); // b
    s.claimNext(); // c
    expect(s.get(a)?.attempts).toBe(2);

    const out = s.recoverInterrupted(2);
    expect(out).toEqual({ requeued: [b, c], failed: [a] });
    expect(s.get(a)).toMatchObject({
      status: 'failed',
      error: 'interrupted: the worker stopped while running this task (2 attempts)',
    });
    expect(s.get(b)).toMatchObject({ status: 'created', attempts: 1, startedAt: null });
    // b and c were created before d, so they go back ahead of it.
    expect([b, c, d].map((id) => s.queuePosition(id))).toEqual([1, 2, 3]);
    expect([s.claimNext()?.id, s.claimNext()?.id, s.claimNext()?.id]).toEqual([b, c, d]);
    expect(s.claimNext()?.attempts).toBeUndefined();
  });

  it('leaves other states alone and reports nothing when nothing was running', () => {
    const s = open();
    taskIn(s, 'completed');
    taskIn(s, 'failed');
    taskIn(s, 'created');
    expect(s.recoverInterrupted(3)).toEqual({ requeued: [], failed: [] });
  });
});

describe('history', () => {
  function seeded() {
    const s = open(100);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const model = i % 2 ? 'wavespeed-ai/flux-dev-lora' : 'wavespeed-ai/flux-schnell';
      ids.push(s.create(newTask({ model })).id);
    }
    s.claimNext();
    s.complete(ids[0] as string, work());
    s.fail(ids[3] as string, 'cancelled');
    return { s, ids };
  }

  it('pages newest first with the total', () => {
    const { s, ids } = seeded();
    const newestFirst = [...ids].reverse();
    const p1 = s.history({ page: 1, pageSize: 3 });
    const p3 = s.history({ page: 3, pageSize: 3 });
    expect(p1.total).toBe(7);
    expect(p1.items.map((t) => t.id)).toEqual(newestFirst.slice(0, 3));
    expect(p3.items.map((t) => t.id)).toEqual(newestFirst.slice(6));
    expect(s.history({ page: 4, pageSize: 3 })).toEqual({ total: 7, items: [] });
  });

  it('filters by status and model', () => {
    const { s, ids } = seeded();
    expect(s.history({ page: 1, pageSize: 10, status: 'failed' }).items.map((t) => t.id)).toEqual([ids[3]]);
    const dev = s.history({ page: 1, pageSize: 10, model: 'wavespeed-ai/flux-dev-lora' });
    expect(dev.total).toBe(3);
    expect(dev.items.map((t) => t.id)).toEqual([ids[5], ids[3], ids[1]]);
    const both = s.history({ page: 1, pageSize: 10, status: 'created', model: 'wavespeed-ai/flux-schnell' });
    expect(both.items.map((t) => t.id)).toEqual([ids[6], ids[4], ids[2]]);
  });
});

describe('purgeFinishedBefore', () => {
  it('deletes finished tasks older than the cutoff and returns their outputs', () => {
    const clock = manualClock(1000);
    const s = open(10, clock);
    const old = taskIn(s, 'processing');
    s.complete(old, work(['o-0.jpg', 'o-1.jpg']));
    const oldFailed = taskIn(s, 'failed');
    const running = taskIn(s, 'processing');
    clock.set(5000);
    const recent = taskIn(s, 'processing');
    s.complete(recent, work(['r-0.jpg']));
    const queued = taskIn(s, 'created');

    expect(s.purgeFinishedBefore(5000).sort()).toEqual(['o-0.jpg', 'o-1.jpg']);
    expect(s.get(old)).toBeUndefined();
    expect(s.get(oldFailed)).toBeUndefined();
    for (const id of [queued, running, recent]) expect(s.get(id)).toBeDefined();
    expect(s.purgeFinishedBefore(5000)).toEqual([]);
  });
});

describe('per-key limit', () => {
  it('refuses a key at its limit of unfinished tasks, and frees a slot when one finishes', () => {
    store = openSqliteTaskStore(':memory:', { maxQueued: 100, maxActivePerOwner: 2 });
    const a = store.create(newTask({ owner: 'key-a' }));
    store.create(newTask({ owner: 'key-a' }));
    expect(codeOf(() => store.create(newTask({ owner: 'key-a' })))).toBe('FLUX_ERR_KEY_BUSY');
    // Other keys and the keyless server are not counted against key-a.
    expect(store.create(newTask({ owner: 'key-b' })).status).toBe('created');
    expect(store.create(newTask({ owner: null })).status).toBe('created');
    expect(store.claimNext()?.id).toBe(a.id); // processing still counts
    expect(codeOf(() => store.create(newTask({ owner: 'key-a' })))).toBe('FLUX_ERR_KEY_BUSY');
    store.complete(a.id, work());
    expect(store.create(newTask({ owner: 'key-a' })).owner).toBe('key-a');
  });
});

describe('history by owner', () => {
  it('shows a key only its own tasks', () => {
    const s = open();
    s.create(newTask({ owner: 'key-a' }));
    const b = s.create(newTask({ owner: 'key-b' }));
    expect(s.history({ page: 1, pageSize: 10, owner: 'key-b' })).toEqual({ total: 1, items: [b] });
    expect(s.history({ page: 1, pageSize: 10 }).total).toBe(2);
  });
});

describe('webhook deliveries', () => {
  const hook = 'https://example.com/hook';

  it('a finished task with a webhook is due at once, by completion, failure or lost attempts', () => {
    const clock = manualClock(1_000);
    const s = open(100, clock);
    const done = taskInWith(s, 'completed', hook);
    const failed = taskInWith(s, 'failed', hook);
    taskInWith(s, 'completed', null);
    const lost = s.create(newTask({ webhook: hook }));
    expect(s.claimNext()?.id).toBe(lost.id);
    s.recoverInterrupted(1);
    expect(s.dueWebhooks(1_000, 10).map((d) => d.taskId)).toEqual([done, failed, lost.id]);
    expect(s.dueWebhooks(1_000, 10)[0]).toEqual({ taskId: done, url: hook, attempts: 0 });
    expect(s.dueWebhooks(999, 10)).toEqual([]);
    expect(s.nextWebhookAt()).toBe(1_000);
  });

  it('records tries: a failure with a retry time is due again then; delivered or given up is never due', () => {
    const s = open(100, manualClock(1_000));
    const a = taskInWith(s, 'completed', hook);
    const b = taskInWith(s, 'completed', hook);
    s.recordWebhookAttempt(a, { delivered: false, error: 'HTTP 500', retryAt: 6_000 });
    s.recordWebhookAttempt(b, { delivered: true });
    expect(s.dueWebhooks(5_999, 10)).toEqual([]);
    expect(s.dueWebhooks(6_000, 10)).toEqual([{ taskId: a, url: hook, attempts: 1 }]);
    expect(s.nextWebhookAt()).toBe(6_000);
    s.recordWebhookAttempt(a, { delivered: false, error: 'HTTP 500', retryAt: null });
    expect(s.dueWebhooks(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
    expect(s.nextWebhookAt()).toBeUndefined();
  });

  it('purging a task removes its delivery', () => {
    const s = open(100, manualClock(1_000));
    taskInWith(s, 'completed', hook);
    s.purgeFinishedBefore(2_000);
    expect(s.dueWebhooks(Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });
});

/** taskIn with a webhook. */
function taskInWith(s: TaskStore, status: 'completed' | 'failed', webhook: string | null): string {
  const { id } = s.create(newTask({ webhook }));
  if (status === 'failed') s.fail(id, 'boom');
  else {
    expect(s.claimNext()?.id).toBe(id);
    s.complete(id, work());
  }
  return id;
}
