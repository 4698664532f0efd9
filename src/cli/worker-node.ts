/**
 * @module cli/worker-node
 * What runs the model on a host: a worker child process (its supervisor) and the Dispatcher that
 * feeds it. `supervise` starts the child for `serve` and `worker` alike; `startRedisWorker` adds
 * what a scale-out worker needs on top: its own handle on the shared Redis queue, the event relay
 * (progress and finishes to every API host, cancels from them), and the periodic look for tasks
 * whose worker died.
 */
import { join } from 'node:path';
import { mediaUrl } from '../api/routes/media.js';
import type { Config } from '../config.js';
import { Dispatcher, type Executor } from '../jobs/dispatcher.js';
import { LocalOutputStore } from '../jobs/output-store.js';
import { relayDispatcher } from '../jobs/redis-task-events.js';
import { openRedisTaskStore } from '../jobs/redis-task-store.js';
import type { Logger } from '../log.js';
import type { Provider } from '../runtime/provider.js';
import { WorkerSupervisor } from '../worker/worker-supervisor.js';
import { loraResolver } from './lora-resolver.js';

/** Scale-out workers also look for queued tasks this often without being told, ms. */
const POLL_MS = 1000;

/** The dispatcher's view of a worker process: ready while its model is loaded, renders in it. */
export function supervisorExecutor(worker: WorkerSupervisor): Executor {
  return {
    ready: () => worker.ready,
    generate: (...a: Parameters<WorkerSupervisor['run']>) => worker.run(...a),
  };
}

/**
 * Starts the worker child process for `modelDir`; uploads under `publicBaseUrl/media/` are read
 * from `mediaDir` instead of fetched.
 */
export function supervise(
  config: Readonly<Config>,
  log: Logger,
  o: { modelDir: string; mediaDir: string; publicBaseUrl: string; provider?: Provider },
): WorkerSupervisor {
  return WorkerSupervisor.start(
    {
      modelDir: o.modelDir,
      provider: o.provider ?? config.provider,
      logLevel: config.logLevel,
      maxImageBytes: config.maxImageBytes,
      fetchTimeoutMs: config.fetchTimeoutMs,
      fetchPolicy: config.fetchPolicy,
      media: { baseUrl: mediaUrl(o.publicBaseUrl, ''), dir: o.mediaDir },
      loraMemoryBytes: config.loraMemoryBytes,
      maxInputPixels: config.maxInputPixels,
      safety: config.safety,
      logPlacement: config.logPlacement,
      strictPlacement: config.strictPlacement,
      native: config.native,
    },
    { taskTimeoutMs: config.taskTimeoutMs, log },
  );
}

export interface RedisWorkerOptions {
  readonly queueUrl: string;
  readonly modelDir: string;
  readonly publicBaseUrl: string;
  /** GPU of this worker (`cuda:N`); default the configured provider. */
  readonly provider?: Provider;
}

/**
 * One scale-out worker: claims tasks from the shared queue one at a time, renders them in its child
 * process, writes outputs to the shared data dir, and records the outcome in Redis.
 * @example const w = await startRedisWorker(config, log, { queueUrl, modelDir, publicBaseUrl }); … await w.stop()
 */
export async function startRedisWorker(config: Readonly<Config>, log: Logger, o: RedisWorkerOptions) {
  let relay: Awaited<ReturnType<typeof relayDispatcher>> | undefined;
  const store = await openRedisTaskStore(o.queueUrl, {
    maxQueued: config.maxQueued,
    maxAttempts: config.maxAttempts,
    lockMs: config.queueLockMs,
    onFinished: (id) => relay?.finished(id),
  });
  const outputs = new LocalOutputStore(join(config.dataDir, 'outputs'));
  const worker = supervise(config, log, {
    modelDir: o.modelDir,
    mediaDir: join(config.dataDir, 'media'),
    publicBaseUrl: o.publicBaseUrl,
    ...(o.provider ? { provider: o.provider } : {}),
  });
  const executor = supervisorExecutor(worker);
  const dispatcher = new Dispatcher(store, outputs, executor, {
    maxAttempts: config.maxAttempts,
    log,
    resolveLoras: loraResolver(config),
    pollMs: POLL_MS,
  });
  relay = await relayDispatcher(dispatcher, o.queueUrl, { log });
  // Tasks whose worker died: BullMQ's stalled check (run by every worker) puts their jobs back;
  // this brings their records along, or fails them past their attempts, and tells the API hosts.
  const stalled = setInterval(() => {
    store
      .recoverStalled(config.maxAttempts)
      .then(({ requeued, failed }) => {
        if (requeued.length + failed.length > 0) log.warn({ requeued, failed }, 'tasks of a lost worker');
        for (const id of requeued) relay?.changed(id);
        for (const id of failed) relay?.finished(id);
      })
      .catch((err) => log.warn({ err }, 'stalled-task check failed; will retry'));
  }, config.queueLockMs);
  stalled.unref();
  dispatcher.start();
  return {
    dispatcher,
    get ready() {
      return worker.ready;
    },
    stop: async () => {
      clearInterval(stalled);
      await dispatcher.stop();
      relay?.close();
      await worker.close();
      await store.close();
    },
  };
}
