/**
 * The Redis task store against the TaskStore contract, on a private redis-server; then what only a
 * shared queue does: handles on "other hosts" see the same tasks, and a task whose worker dies
 * (stops renewing its BullMQ lock) is requeued to another, then failed past its attempts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRedisTaskStore, type RedisTaskStoreOptions } from '../../src/jobs/redis-task-store.js';
import type { TaskStore } from '../../src/jobs/task.js';
import { type RedisServer, redisTestsRun, startRedisServer } from '../support/redis-server.js';
import { newTask, work } from './task-fixtures.js';
import { taskStoreContract } from './task-store-contract.js';

const run = redisTestsRun();
let redis: RedisServer;
let n = 0;
/** Every store gets its own key prefix: tests never see each other's tasks. */
const prefix = () => `test-${process.pid}-${++n}`;

beforeAll(async () => {
  if (run) redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.close();
});

describe.skipIf(!run)('Redis task store: the contract', () => {
  taskStoreContract((options) => openRedisTaskStore(redis.url, { ...options, prefix: prefix() }));
});

describe.skipIf(!run)('Redis task store: several hosts', () => {
  const open: TaskStore[] = [];
  async function handle(p: string, more: Partial<RedisTaskStoreOptions> = {}) {
    const s = await openRedisTaskStore(redis.url, { maxQueued: 100, prefix: p, lockMs: 400, ...more });
    open.push(s);
    return s;
  }
  afterAll(async () => {
    for (const s of open) await s.close();
  });

  async function claimWithin(s: TaskStore, ms: number) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const t = await s.claimNext();
      if (t) return t;
      await new Promise((r) => setTimeout(r, 50));
    }
    return undefined;
  }

  it('a task created on one handle is read, claimed and completed on others, exactly once', async () => {
    const p = prefix();
    const [api, w1, w2] = [await handle(p), await handle(p), await handle(p)];
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await api.create(newTask())).id);
    const claimed: string[] = [];
    for (let i = 0; i < 3; i++)
      for (const w of [w1, w2]) {
        const t = await w.claimNext();
        if (t) {
          claimed.push(t.id);
          await w.complete(t.id, work([`${t.id}-0.jpg`]));
        }
      }
    expect(claimed).toEqual(ids);
    expect(await w1.claimNext()).toBeUndefined();
    expect((await api.get(ids[5] as string))?.status).toBe('completed');
    expect(await api.queueLength()).toBe(0);
  });

  it('a worker that dies mid-task: its task goes to another, then fails past its attempts', async () => {
    const p = prefix();
    const finished: string[] = [];
    const api = await handle(p);
    const { id } = await api.create(newTask());
    const first = await handle(p, { maxAttempts: 2 });
    expect((await first.claimNext())?.id).toBe(id);
    await first.close(); // no renewal from now on: the lock runs out

    const second = await handle(p, { maxAttempts: 2, onFinished: (i) => finished.push(i) });
    const again = await claimWithin(second, 5000);
    expect(again).toMatchObject({ id, status: 'processing', attempts: 2 });
    await second.close();

    const third = await handle(p, { maxAttempts: 2, onFinished: (i) => finished.push(i) });
    expect(await claimWithin(third, 5000)).toBeUndefined(); // the third delivery fails it instead
    expect(await api.get(id)).toMatchObject({
      status: 'failed',
      error: 'interrupted: the worker stopped while running this task (2 attempts)',
    });
    expect(finished).toEqual([id]);
  }, 20_000);

  it('recoverStalled puts a dead worker’s task back in the queue for the API to show', async () => {
    const p = prefix();
    const api = await handle(p);
    const { id } = await api.create(newTask());
    const dead = await handle(p);
    await dead.claimNext();
    await dead.close();
    const live = await handle(p);
    await live.claimNext(); // starts its stalled check; nothing to claim yet (the job is still active)
    let out = { requeued: [] as string[], failed: [] as string[] };
    for (let i = 0; i < 100 && out.requeued.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      out = await live.recoverStalled(3);
    }
    // Either recoverStalled saw it waiting again, or live's claim took it first: both are fine.
    const task = await api.get(id);
    expect(out.requeued.length === 1 || task?.status === 'processing').toBe(true);
    if (out.requeued.length === 1) expect(await api.queuePosition(id)).toBe(1);
  }, 20_000);
});
