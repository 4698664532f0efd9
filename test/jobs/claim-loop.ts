/**
 * Child process for the concurrency test: opens its own store on the given file, says "ready",
 * waits for "go" on stdin (so the processes really overlap), then claims and completes until the
 * queue is empty, and prints the ids it claimed as JSON.
 * Usage: node --import tsx test/jobs/claim-loop.ts <db-file>
 */
import { once } from 'node:events';
import { openSqliteTaskStore } from '../../src/jobs/sqlite-task-store.js';

const store = openSqliteTaskStore(process.argv[2] as string, { maxQueued: 1_000_000 });
process.stdout.write('ready\n');
await once(process.stdin, 'data');
const pause = new Int32Array(new SharedArrayBuffer(4));
const ids: string[] = [];
for (let task = await store.claimNext(); task; task = await store.claimNext()) {
  ids.push(task.id);
  // A moment of "work" between claims, as a real worker has: a loop that re-takes the write lock
  // the instant it commits starves the other process's busy handler, and the test would then
  // only ever see one process claiming.
  Atomics.wait(pause, 0, 0, 1);
  await store.complete(task.id, { outputs: [], hasNsfwContents: [], seed: 1, timings: {} });
}
await store.close();
process.stdout.write(`${JSON.stringify(ids)}\n`);
process.stdin.destroy();
