/**
 * The SQLite task store on `:memory:` against the TaskStore contract; what only SQLite does (a
 * file that survives reopening, WAL, schema versions, several processes on one file) is in
 * `sqlite-task-store-file.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { openSqliteTaskStore } from '../../src/jobs/sqlite-task-store.js';
import { newTask } from './task-fixtures.js';
import { taskStoreContract } from './task-store-contract.js';

describe('SQLite task store: the contract', () => {
  taskStoreContract(async (options) => openSqliteTaskStore(':memory:', options));
});

describe('SQLite task store: one worker', () => {
  it('recoverInterrupted requeues every processing task, whichever handle claimed it', async () => {
    const store = openSqliteTaskStore(':memory:', { maxQueued: 10 });
    try {
      const { id } = await store.create(newTask());
      await store.claimNext();
      expect(await store.recoverInterrupted(3)).toEqual({ requeued: [id], failed: [] });
    } finally {
      await store.close();
    }
  });
});
