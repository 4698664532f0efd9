/**
 * @module cli/serve-command
 * `flux-serve serve`: the HTTP server of the hosted contract. Tasks are stored in SQLite under the
 * model home, outputs in its outputs/ folder; a worker child process owns the model. On start-up,
 * tasks a previous run left `processing` are queued again (or failed after the attempt limit).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { buildApp } from '../api/app.js';
import { type ApiKey, checkListenAddress, parseApiKeys } from '../api/auth.js';
import { servedModels } from '../api/served-models.js';
import { taskPresenter } from '../api/task-presenter.js';
import { loadWebhookSecret } from '../api/webhook-secret.js';
import { WebhookSender } from '../api/webhook-sender.js';
import { parseFluxConfig } from '../arch/flux-config.js';
import { type Config, loadConfig } from '../config.js';
import { errors } from '../errors.js';
import { fileExists } from '../file-exists.js';
import { Dispatcher, type TaskControl } from '../jobs/dispatcher.js';
import { lockHome } from '../jobs/home-lock.js';
import { LocalMediaStore } from '../jobs/media-store.js';
import { LocalOutputStore } from '../jobs/output-store.js';
import { RedisTaskEvents } from '../jobs/redis-task-events.js';
import { openRedisTaskStore } from '../jobs/redis-task-store.js';
import { startRetention } from '../jobs/retention.js';
import { openSqliteTaskStore } from '../jobs/sqlite-task-store.js';
import type { TaskStore } from '../jobs/task.js';
import type { Logger } from '../log.js';
import { sampleLoraName, writeSampleLora } from '../lora/sample-lora.js';
import { listGpus } from '../runtime/doctor.js';
import { isTestModel, type Manifest, readManifest, TEST_MODEL_WARNING } from '../runtime/manifest.js';
import { workerProvider } from '../runtime/provider.js';
import { loraResolver } from './lora-resolver.js';
import { resolveModelDir } from './model-dir.js';
import { settledWithin } from './shutdown-grace.js';
import { startRedisWorker, supervise, supervisorExecutor } from './worker-node.js';

interface ServeFlags {
  home?: string;
  host: string;
  port: string;
  model?: string;
  keys?: string;
  queue?: string;
  workers: string;
}

/** Where tasks are kept and what runs them: the embedded pair, or a Redis node (scale-out). */
interface Backend {
  readonly store: TaskStore;
  readonly control: TaskControl;
  readonly ready: () => boolean;
  start(): void;
  stop(): Promise<void>;
}

/** With the checker turned off (FLUX_SERVE_SAFETY_CHECKER=off), every task says so. */
const SAFETY_OFF_WARNING = 'safety checker off on this server: has_nsfw_contents is false without a check';

/** The hosted ids of the model in `modelDir`: the dev ids for a guidance-distilled transformer. */
function servedModelsOf(modelDir: string, manifest: Manifest): readonly string[] {
  const transformer = manifest.components.transformer;
  if (!transformer)
    throw errors.RUNTIME(`${modelDir}: manifest.json has no transformer component; rebuild the model`);
  return servedModels(parseFluxConfig(transformer.config).guidanceEmbeds);
}

/**
 * On a test model, a sample LoRA in the LoRA folder (once), so that LoRAs can be tried on a fresh
 * clone: it shows in `/api/v3/loras` and the playground's picker.
 */
async function offerSampleLora(
  loraDir: string,
  modelDir: string,
  manifest: Manifest,
  log: Logger,
): Promise<void> {
  const transformer = manifest.components.transformer;
  const file = join(loraDir, sampleLoraName(basename(modelDir)));
  if (!transformer || (await fileExists(file))) return;
  await writeSampleLora(file, parseFluxConfig(transformer.config));
  log.info({ file }, 'wrote a sample LoRA for the test model (loras[].path: its file name)');
}

/** Plain text among the JSON logs, so that nobody takes the test model's noise for FLUX.1. */
function testModelBanner(url: string): string {
  const rule = '!'.repeat(78);
  return [
    rule,
    `!!! flux-serve at ${url} is serving the TINY RANDOM TEST MODEL: every image is noise.`,
    '!!! To serve FLUX.1 [schnell] (a ~34 GB download, then a build):',
    '!!!   flux-serve pull flux.1-schnell && flux-serve build flux.1-schnell',
    '!!! then start the server again. README, "GPUs and real models", says what a GPU needs.',
    rule,
    '',
  ].join('\n');
}

/**
 * The API keys of a server: the keys file's (one per line) and FLUX_SERVE_KEYS's, without duplicates.
 * @example await serverKeys(undefined, ['sk-one']) // [{ id: 'key_…', key: 'sk-one' }]
 */
async function serverKeys(file: string | undefined, envKeys: readonly string[]): Promise<ApiKey[]> {
  const fileText = file ? await readFile(file, 'utf8') : '';
  return parseApiKeys(fileText, envKeys);
}

export function registerServe(program: Command, defaults: Readonly<Config>, log: Logger): void {
  program
    .command('serve')
    .description('serve the hosted flux-schnell-lora API (FLUX_SERVE_* environment variables: see README)')
    .option('--home <dir>', 'model home: task database, outputs, models (default FLUX_SERVE_HOME)')
    .option('--host <host>', 'listen address', defaults.host)
    .option('--port <port>', 'listen port', String(defaults.port))
    .option('--model <dir|name>', 'built model dir or name (default: FLUX.1 [schnell], else the tiny model)')
    .option('--keys <file>', 'API keys file, one key per line (FLUX_SERVE_KEYS adds more)', defaults.keysFile)
    .option(
      '--queue <url>',
      'redis://host:port/db: the shared queue of a scale-out deployment',
      defaults.queue,
    )
    .option('--workers <n>', 'with --queue: worker processes on this node (0 = API only)', '1')
    .action(async (flags: ServeFlags) => {
      // Everything under the home (LoRA folder, caches, data dir) follows --home as it follows the env.
      const config = flags.home ? loadConfig({ ...process.env, FLUX_SERVE_HOME: flags.home }) : defaults;
      const keys = await serverKeys(flags.keys, config.keys);
      checkListenAddress(flags.host, keys);
      const port = Number(flags.port);
      const modelDir = await resolveModelDir(config, log, flags.model);
      const manifest = await readManifest(modelDir);
      const testModel = isTestModel(manifest);
      if (testModel) await offerSampleLora(config.loraDir, modelDir, manifest, log);
      const serverWarnings = [
        ...(config.safety.backend === 'off' ? [SAFETY_OFF_WARNING] : []),
        ...(testModel ? [TEST_MODEL_WARNING] : []),
      ];
      await mkdir(config.home, { recursive: true });
      await mkdir(config.dataDir, { recursive: true });
      const outputs = new LocalOutputStore(join(config.dataDir, 'outputs'));
      const media = new LocalMediaStore(join(config.dataDir, 'media'));
      const publicBaseUrl =
        config.publicUrl ?? `http://${flags.host.includes(':') ? `[${flags.host}]` : flags.host}:${port}`;
      if (!config.publicUrl && ['0.0.0.0', '::'].includes(flags.host))
        log.warn(
          { publicBaseUrl },
          'output URLs will name the wildcard address; set FLUX_SERVE_PUBLIC_URL to the address clients use',
        );
      const maxActivePerOwner = keys.length > 0 ? { maxActivePerOwner: config.maxTasksPerKey } : {};
      const site = { modelDir, mediaDir: media.dir, publicBaseUrl };
      const backend = flags.queue
        ? await redisBackend(config, log, {
            ...site,
            queueUrl: flags.queue,
            workers: Number(flags.workers),
            maxActivePerOwner,
          })
        : await embeddedBackend(config, log, {
            ...site,
            outputs,
            maxActivePerOwner,
            listen: `${flags.host}:${port}`,
          });
      const { store, control: dispatcher } = backend;
      // Scale-out: every API node signs with the same secret, kept in the shared data dir.
      const webhookSecret = await loadWebhookSecret(config.dataDir, config.webhookSecret);
      const app = await buildApp({
        store,
        outputs,
        media,
        dispatcher,
        keys,
        publicBaseUrl,
        models: servedModelsOf(modelDir, manifest),
        testModel,
        syncWaitMs: config.syncWaitMs,
        maxQueued: config.maxQueued,
        maxUrlChars: config.maxUrlChars,
        fetchPolicy: config.fetchPolicy,
        bodyLimit: config.bodyLimit,
        maxUploadBytes: config.maxImageBytes,
        maxLoras: config.maxLoras,
        maxPromptChars: config.maxPromptChars,
        maxInputPixels: config.maxInputPixels,
        openAiWaitMs: config.openAiWaitMs,
        loraDir: config.loraDir,
        loraFilesAtSubmit: !flags.queue,
        webhookSecret,
        warnings: serverWarnings,
        ready: backend.ready,
        log,
      });
      const webhooks = new WebhookSender({
        store,
        present: taskPresenter({
          store,
          outputs,
          publicBaseUrl,
          progress: () => undefined,
          warnings: serverWarnings,
        }),
        secret: webhookSecret,
        policy: config.fetchPolicy,
        retryDelaysMs: config.webhookRetryDelaysMs,
        timeoutMs: config.webhookTimeoutMs,
        log,
      });
      dispatcher.on('finished', () => webhooks.notify());
      const retention = startRetention({ store, outputs, media, retentionMs: config.retentionMs, log });
      try {
        await app.listen({ host: flags.host, port });
      } catch (error) {
        await backend.stop();
        if ((error as { code?: string }).code !== 'EADDRINUSE') throw error;
        throw errors.USAGE(`${flags.host}:${port} is in use by another program; choose another --port`);
      }
      backend.start();
      webhooks.start();
      if (testModel) process.stderr.write(testModelBanner(publicBaseUrl));
      const shutdown = async () => {
        log.info('shutting down');
        retention.stop();
        const deadline = Date.now() + config.shutdownGraceMs;
        const closing = app.close();
        // Waiting requests would hold the stop for up to the OpenAI wait; their tasks are kept.
        const cut = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs);
        await closing;
        clearTimeout(cut);
        await webhooks.stop();
        // The running task may finish in what is left of the grace; past it, it stays `processing`
        // in the store and runs again after the restart, as after a crash.
        if (!(await settledWithin(backend.stop(), deadline - Date.now())))
          log.warn('the running task did not end within the shutdown grace; it runs again after a restart');
        process.exit(0);
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });
}

/**
 * One host, one worker: SQLite in the home, the Dispatcher in this process. The server listens
 * while the model loads in the worker process (/readyz answers 503 until then); tasks wait in the
 * queue, and a crashed or hung worker is restarted with its task requeued.
 */
async function embeddedBackend(
  config: Readonly<Config>,
  log: Logger,
  o: {
    modelDir: string;
    mediaDir: string;
    publicBaseUrl: string;
    outputs: LocalOutputStore;
    maxActivePerOwner: { maxActivePerOwner?: number };
    listen: string;
  },
): Promise<Backend> {
  // Before recovery: a second server must not requeue the running task of the one that holds the home.
  const lock = lockHome(config.home, o.listen);
  const store = openSqliteTaskStore(join(config.home, 'tasks.db'), {
    maxQueued: config.maxQueued,
    ...o.maxActivePerOwner,
  });
  const recovered = await store.recoverInterrupted(config.maxAttempts);
  if (recovered.requeued.length + recovered.failed.length > 0)
    log.warn(recovered, 'tasks interrupted by the last stop');
  const worker = supervise(config, log, o);
  const executor = supervisorExecutor(worker);
  const dispatcher = new Dispatcher(store, o.outputs, executor, {
    maxAttempts: config.maxAttempts,
    log,
    resolveLoras: loraResolver(config),
  });
  return {
    store,
    control: dispatcher,
    ready: () => worker.ready,
    start: () => dispatcher.start(),
    stop: async () => {
      await dispatcher.stop();
      await worker.close();
      await store.close();
      lock.release();
    },
  };
}

/**
 * A scale-out node: tasks in the shared Redis queue, events from every worker over pub/sub, and
 * `workers` local worker processes (0: an API-only node). Ready when its workers are (always, with none).
 */
async function redisBackend(
  config: Readonly<Config>,
  log: Logger,
  o: {
    modelDir: string;
    publicBaseUrl: string;
    queueUrl: string;
    workers: number;
    maxActivePerOwner: { maxActivePerOwner?: number };
  },
): Promise<Backend> {
  if (!Number.isSafeInteger(o.workers) || o.workers < 0)
    throw errors.USAGE(`--workers ${o.workers}: expected a whole number ≥ 0`);
  const store = await openRedisTaskStore(o.queueUrl, {
    maxQueued: config.maxQueued,
    maxAttempts: config.maxAttempts,
    lockMs: config.queueLockMs,
    ...o.maxActivePerOwner,
  });
  const control = await RedisTaskEvents.open(o.queueUrl, store, { log });
  const workers: Awaited<ReturnType<typeof startRedisWorker>>[] = [];
  return {
    store,
    control,
    ready: () => workers.every((w) => w.ready),
    start: () => {
      void (async () => {
        const gpus = config.provider === 'cpu' || o.workers < 2 ? 0 : (await listGpus()).length;
        for (let i = 0; i < o.workers; i++) {
          const provider = workerProvider(config.provider, i, gpus);
          log.info({ worker: i, provider, gpus }, 'starting a local worker');
          workers.push(await startRedisWorker(config, log, { ...o, provider }));
        }
      })().catch((err) => log.error({ err }, 'cannot start the local workers'));
    },
    stop: async () => {
      for (const w of workers) await w.stop();
      control.close();
      await store.close();
    },
  };
}
