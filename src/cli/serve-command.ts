/**
 * @module cli/serve-command
 * `flux-serve serve`: the HTTP server of the hosted contract. Tasks are stored in SQLite under the
 * model home, outputs in its outputs/ folder; a worker child process owns the model. On start-up,
 * tasks a previous run left `processing` are queued again (or failed after the attempt limit).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildApp } from '../api/app.js';
import { type ApiKey, checkListenAddress, parseApiKeys } from '../api/auth.js';
import { mediaUrl } from '../api/routes/media.js';
import { taskPresenter } from '../api/task-presenter.js';
import { loadWebhookSecret } from '../api/webhook-secret.js';
import { WebhookSender } from '../api/webhook-sender.js';
import type { Config } from '../config.js';
import { Dispatcher } from '../jobs/dispatcher.js';
import { LocalMediaStore } from '../jobs/media-store.js';
import { LocalOutputStore } from '../jobs/output-store.js';
import { startRetention } from '../jobs/retention.js';
import { openSqliteTaskStore } from '../jobs/sqlite-task-store.js';
import type { Logger } from '../log.js';
import { WorkerSupervisor } from '../worker/worker-supervisor.js';
import { loraResolver } from './lora-resolver.js';
import { resolveModelDir } from './model-dir.js';

interface ServeFlags {
  host: string;
  port: string;
  model?: string;
  keys?: string;
}

/** With the checker turned off (FLUX_SERVE_SAFETY_CHECKER=off), every task says so. */
const SAFETY_OFF_WARNING = 'safety checker off on this server: has_nsfw_contents is false without a check';

export const SERVED_MODELS = ['wavespeed-ai/flux-schnell-lora', 'wavespeed-ai/flux-schnell'] as const;

export function registerServe(program: Command, config: Readonly<Config>, log: Logger): void {
  program
    .command('serve')
    .description('serve the hosted flux-schnell-lora API (FLUX_SERVE_* environment variables: see README)')
    .option('--host <host>', 'listen address', config.host)
    .option('--port <port>', 'listen port', String(config.port))
    .option('--model <dir|name>', 'built model dir or name (default: FLUX.1 [schnell], else the tiny model)')
    .option('--keys <file>', 'API keys file, one key per line', config.keysFile)
    .action(async (flags: ServeFlags) => {
      const keys: ApiKey[] = flags.keys ? parseApiKeys(await readFile(flags.keys, 'utf8')) : [];
      checkListenAddress(flags.host, keys);
      const port = Number(flags.port);
      const safetyWarnings = config.safety.backend === 'off' ? [SAFETY_OFF_WARNING] : [];
      const modelDir = await resolveModelDir(config, log, flags.model);
      await mkdir(config.home, { recursive: true });
      const store = openSqliteTaskStore(join(config.home, 'tasks.db'), {
        maxQueued: config.maxQueued,
        ...(keys.length > 0 ? { maxActivePerOwner: config.maxTasksPerKey } : {}),
      });
      const recovered = await store.recoverInterrupted(config.maxAttempts);
      if (recovered.requeued.length + recovered.failed.length > 0)
        log.warn(recovered, 'tasks interrupted by the last stop');
      const outputs = new LocalOutputStore(join(config.home, 'outputs'));
      const media = new LocalMediaStore(join(config.home, 'media'));
      const publicBaseUrl =
        config.publicUrl ?? `http://${flags.host.includes(':') ? `[${flags.host}]` : flags.host}:${port}`;
      const worker = WorkerSupervisor.start(
        {
          modelDir,
          provider: config.provider,
          logLevel: config.logLevel,
          maxImageBytes: config.maxImageBytes,
          fetchTimeoutMs: config.fetchTimeoutMs,
          fetchPolicy: config.fetchPolicy,
          media: { baseUrl: mediaUrl(publicBaseUrl, ''), dir: media.dir },
          loraMemoryBytes: config.loraMemoryBytes,
          maxInputPixels: config.maxInputPixels,
          safety: config.safety,
        },
        { taskTimeoutMs: config.taskTimeoutMs, log },
      );
      // The server listens while the model loads in the worker process (/readyz answers 503 until
      // then); tasks wait in the queue, and a crashed or hung worker is restarted with its task requeued.
      const executor = { generate: (...a: Parameters<WorkerSupervisor['run']>) => worker.run(...a) };
      const dispatcher = new Dispatcher(store, outputs, executor, {
        maxAttempts: config.maxAttempts,
        log,
        resolveLoras: loraResolver(config),
      });
      const webhookSecret = await loadWebhookSecret(config.home, config.webhookSecret);
      const app = await buildApp({
        store,
        outputs,
        media,
        dispatcher,
        keys,
        publicBaseUrl,
        models: SERVED_MODELS,
        syncWaitMs: config.syncWaitMs,
        bodyLimit: config.bodyLimit,
        maxUploadBytes: config.maxImageBytes,
        maxLoras: config.maxLoras,
        maxPromptChars: config.maxPromptChars,
        loraDir: config.loraDir,
        webhookSecret,
        warnings: safetyWarnings,
        ready: () => worker.ready,
        log,
      });
      const webhooks = new WebhookSender({
        store,
        present: taskPresenter({
          store,
          outputs,
          publicBaseUrl,
          progress: () => undefined,
          warnings: safetyWarnings,
        }),
        secret: webhookSecret,
        policy: config.fetchPolicy,
        retryDelaysMs: config.webhookRetryDelaysMs,
        timeoutMs: config.webhookTimeoutMs,
        log,
      });
      dispatcher.on('finished', () => webhooks.notify());
      const retention = startRetention({ store, outputs, media, retentionMs: config.retentionMs, log });
      await app.listen({ host: flags.host, port });
      dispatcher.start();
      webhooks.start();
      const shutdown = async () => {
        log.info('shutting down');
        retention.stop();
        await app.close();
        await webhooks.stop();
        await dispatcher.stop();
        await worker.close();
        await store.close();
        process.exit(0);
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });
}
