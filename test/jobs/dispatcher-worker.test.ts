/**
 * The dispatcher with the real worker process on the tiny model and a real SQLite store: nothing
 * is claimed while the worker cannot take a task, a task that times out on its last attempt fails
 * with that reason, and a prompt longer than the encoders read is logged as truncated.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supervisorExecutor } from '../../src/cli/worker-node.js';
import { Dispatcher } from '../../src/jobs/dispatcher.js';
import { LocalOutputStore } from '../../src/jobs/output-store.js';
import { openSqliteTaskStore } from '../../src/jobs/sqlite-task-store.js';
import type { Task, TaskStore } from '../../src/jobs/task.js';
import type { Logger } from '../../src/log.js';
import type { GenerationRequest } from '../../src/pipeline/generation-request.js';
import type { ThreadInit } from '../../src/worker/generation-protocol.js';
import { WorkerSupervisor } from '../../src/worker/worker-supervisor.js';
import { captureLog } from '../support/log-capture.js';
import { buildTinyModel, TINY_REQUEST, tinyWorkerInit } from '../support/tiny-model.js';

let root: string;
let init: ThreadInit;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dispatcher-'));
  init = tinyWorkerInit(await buildTinyModel(root, 'tiny', 3));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A dispatcher on a fresh store and the given worker, with the executor the server builds. */
function dispatcherOn(worker: WorkerSupervisor, log: Logger, maxAttempts = 2) {
  const store = openSqliteTaskStore(':memory:', { maxQueued: 10 });
  const dispatcher = new Dispatcher(
    store,
    new LocalOutputStore(join(root, 'outputs')),
    supervisorExecutor(worker),
    {
      maxAttempts,
      log,
    },
  );
  dispatcher.start();
  return { store, dispatcher };
}

const submit = (store: TaskStore, request: GenerationRequest) =>
  store.create({ model: 'tiny', request, input: {}, owner: null, webhook: null });

const finished = (d: Dispatcher, id: string) =>
  new Promise<Task>((resolve) => {
    const on = (t: Task) => {
      if (t.id !== id) return;
      d.off('finished', on);
      resolve(t);
    };
    d.on('finished', on);
  });

describe('Dispatcher with the worker process', () => {
  it('claims nothing while the worker cannot load its model: the task stays queued, no attempt spent', async () => {
    const { log } = captureLog();
    const broken = WorkerSupervisor.start(
      { ...init, modelDir: join(root, 'missing') },
      { taskTimeoutMs: 1000, log, restartDelayMs: 10 },
    );
    const { store, dispatcher } = dispatcherOn(broken, log);
    try {
      const task = await submit(store, TINY_REQUEST);
      dispatcher.notify();
      await new Promise((r) => setTimeout(r, 1500)); // several failed starts meanwhile
      expect(await store.get(task.id)).toMatchObject({ status: 'created', attempts: 0 });
    } finally {
      await dispatcher.stop();
      await broken.close();
      await store.close();
    }
  });

  it('a task that times out on its last attempt fails with the timeout, not a generic interruption', async () => {
    const { log } = captureLog();
    const short = WorkerSupervisor.start(init, { taskTimeoutMs: 150, log, restartDelayMs: 10 });
    const { store, dispatcher } = dispatcherOn(short, log);
    try {
      const task = await submit(store, { ...TINY_REQUEST, width: 1024, height: 1024, steps: 8 });
      const done = finished(dispatcher, task.id);
      dispatcher.notify();
      expect(await done).toMatchObject({
        status: 'failed',
        attempts: 2,
        error: 'the task ran longer than 150 ms; the worker was restarted (attempt 2 of 2, not retried)',
      });
    } finally {
      await dispatcher.stop();
      await short.close();
      await store.close();
    }
  }, 60_000);

  it('logs a prompt the text encoders truncate, with the dropped token counts', async () => {
    const { log, records } = captureLog();
    const worker = WorkerSupervisor.start(init, { taskTimeoutMs: 60_000, log, restartDelayMs: 10 });
    const { store, dispatcher } = dispatcherOn(worker, log);
    try {
      const long = await submit(store, { ...TINY_REQUEST, steps: 1, prompt: 'a red fox '.repeat(40) });
      const short = await submit(store, { ...TINY_REQUEST, steps: 1 });
      const done = Promise.all([finished(dispatcher, long.id), finished(dispatcher, short.id)]);
      dispatcher.notify();
      expect((await done).map((t) => t.status)).toEqual(['completed', 'completed']);
      const truncated = records.filter((r) => r.msg === 'prompt truncated to what the text encoders read');
      expect(truncated).toHaveLength(1);
      const [record] = truncated as [{ level: number; droppedTokens: { clip: number; t5: number } }];
      expect(record).toMatchObject({ level: 40, droppedTokens: { t5: 0 } });
      expect(record.droppedTokens.clip).toBeGreaterThan(0);
    } finally {
      await dispatcher.stop();
      await worker.close();
      await store.close();
    }
  }, 60_000);
});
