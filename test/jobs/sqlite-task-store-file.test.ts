/**
 * The SQLite task store on a real file: data survives close and reopen, WAL and FULL sync are on,
 * a newer schema is refused, and several handles (in one process and in separate processes)
 * never claim the same task.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteTaskStore } from '../../src/jobs/sqlite-task-store.js';
import { openTaskDatabase } from '../../src/jobs/task-database.js';
import { TASK_SCHEMA_VERSION } from '../../src/jobs/task-schema.js';
import { newTask, work } from './task-fixtures.js';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'task-store-'));
  file = join(dir, 'tasks.db');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('on a file', async () => {
  it('keeps every task and field across close and reopen', async () => {
    const a = openSqliteTaskStore(file, { maxQueued: 10 });
    const done = await a.create(newTask({ owner: 'k', webhook: 'https://example.com/h' }));
    const failed = await a.create(newTask());
    const queued = await a.create(newTask());
    await a.claimNext();
    const completed = await a.complete(done.id, work(['d-0.jpg']));
    const failedTask = await a.fail(failed.id, 'cancelled');
    await a.close();

    const b = openSqliteTaskStore(file, { maxQueued: 10 });
    try {
      expect(await b.get(done.id)).toEqual(completed);
      expect(await b.get(failed.id)).toEqual(failedTask);
      expect(await b.get(queued.id)).toEqual(queued);
      expect(await b.queueLength()).toBe(1);
      expect((await b.claimNext())?.id).toBe(queued.id);
    } finally {
      await b.close();
    }
  });

  it('runs in WAL mode with full sync and records the schema version', async () => {
    await openSqliteTaskStore(file, { maxQueued: 1 }).close();
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(TASK_SCHEMA_VERSION);
      const indexes = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index'`).pluck().all();
      expect(indexes).toContain('tasks_status_created');
    } finally {
      db.close();
    }
    // synchronous is per connection, so check the one the store opens.
    const own = openTaskDatabase(file, 100);
    try {
      expect(own.pragma('synchronous', { simple: true })).toBe(2); // FULL
      expect(own.pragma('busy_timeout', { simple: true })).toBe(100);
    } finally {
      own.close();
    }
  });

  it('refuses a file written by a newer schema', async () => {
    await openSqliteTaskStore(file, { maxQueued: 1 }).close();
    const db = new Database(file);
    db.pragma(`user_version = ${TASK_SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openSqliteTaskStore(file, { maxQueued: 1 })).toThrow(
      new RegExp(`schema version ${TASK_SCHEMA_VERSION + 1}, newer than the ${TASK_SCHEMA_VERSION}`),
    );
  });

  it('recovers tasks a closed handle left processing', async () => {
    const a = openSqliteTaskStore(file, { maxQueued: 10 });
    const t = await a.create(newTask());
    await a.claimNext();
    await a.close(); // the "crash"
    const b = openSqliteTaskStore(file, { maxQueued: 10 });
    try {
      expect(await b.recoverInterrupted(3)).toEqual({ requeued: [t.id], failed: [] });
      expect(await b.claimNext()).toMatchObject({ id: t.id, attempts: 2 });
    } finally {
      await b.close();
    }
  });
});

describe('concurrent handles', async () => {
  it('two handles claiming alternately never share a task', async () => {
    const a = openSqliteTaskStore(file, { maxQueued: 1000 });
    const b = openSqliteTaskStore(file, { maxQueued: 1000 });
    try {
      const ids = [] as string[];
      for (let i = 0; i < 100; i++) ids.push((await (i % 2 ? a : b).create(newTask())).id);
      const got: string[] = [];
      for (let i = 0; ; i++) {
        const t = await (i % 2 ? a : b).claimNext();
        if (!t) break;
        got.push(t.id);
      }
      expect(got).toEqual(ids); // FIFO across handles, each exactly once
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('two processes claiming in a loop never get the same task', async () => {
    const seed = openSqliteTaskStore(file, { maxQueued: 10_000 });
    const ids = [] as string[];
    for (let i = 0; i < 400; i++) ids.push((await seed.create(newTask())).id);
    await seed.close();
    const script = join(import.meta.dirname, 'claim-loop.ts');
    const children = [0, 1].map(() => spawn(process.execPath, ['--import', 'tsx', script, file]));
    const outputs = children.map(async (child) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
      });
      const [code] = await once(child, 'close');
      expect(code).toBe(0);
      return out;
    });
    // Start both loops only once both processes have opened the file.
    await Promise.all(children.map((child) => once(child.stdout, 'data')));
    for (const child of children) child.stdin.write('go\n');
    const [first, second] = (await Promise.all(outputs)).map(
      (out) => JSON.parse(out.replace(/^ready\n/, '')) as string[],
    ) as [string[], string[]];
    const all = [...first, ...second];
    expect(new Set(all).size).toBe(all.length); // no task claimed twice
    expect(all.sort()).toEqual([...ids].sort()); // and none lost
    // Both really took part (otherwise this proves nothing about contention).
    expect(first.length).toBeGreaterThan(0);
    expect(second.length).toBeGreaterThan(0);
  });
});
