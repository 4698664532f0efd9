/**
 * Test support: the whole HTTP stack in-process on the tiny model — SQLite store, output and media
 * stores, dispatcher (LoRAs from `<root>/loras` or loopback URLs), a generation thread — behind
 * `buildApp`, for `app.inject` tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type AppOptions, buildApp } from '../../src/api/app.js';
import { mediaUrl } from '../../src/api/routes/media.js';
import { resolveLora } from '../../src/hub/lora-resolve.js';
import { Dispatcher, type LoraResolver } from '../../src/jobs/dispatcher.js';
import { LocalMediaStore } from '../../src/jobs/media-store.js';
import { LocalOutputStore } from '../../src/jobs/output-store.js';
import { openSqliteTaskStore } from '../../src/jobs/sqlite-task-store.js';
import type { TaskStore } from '../../src/jobs/task.js';
import { createLogger } from '../../src/log.js';
import { GenerationThread } from '../../src/worker/generation-client.js';
import { buildTinyModel, tinyWorkerInit } from './tiny-model.js';

export const MODEL = 'wavespeed-ai/flux-schnell-lora';
export const PUBLIC_URL = 'http://127.0.0.1:8080';

export interface TestStack {
  readonly root: string;
  readonly store: TaskStore;
  readonly dispatcher: Dispatcher;
  readonly options: AppOptions;
  /** A second app over the same stack, e.g. with keys. */
  app(overrides?: Partial<AppOptions>): Promise<FastifyInstance>;
  close(): Promise<void>;
}

export async function startTestStack(
  name: string,
  storeOptions: { maxQueued: number; maxActivePerOwner?: number },
) {
  const root = await mkdtemp(join(tmpdir(), `${name}-`));
  const modelDir = await buildTinyModel(root, 'tiny', 4);
  const media = new LocalMediaStore(join(root, 'media'));
  const thread = await GenerationThread.start({
    ...tinyWorkerInit(modelDir),
    media: { baseUrl: mediaUrl(PUBLIC_URL, ''), dir: media.dir },
  });
  const store = openSqliteTaskStore(join(root, 'tasks.db'), storeOptions);
  const outputs = new LocalOutputStore(join(root, 'outputs'));
  const log = createLogger('silent');
  // LoRAs: file names in <root>/loras, and URLs on loopback (the tests' stand-in hosts).
  const resolveLoras: LoraResolver = (loras, signal) =>
    Promise.all(
      loras.map(async (lora, i) => {
        const r = await resolveLora(lora.path, {
          cacheDir: join(root, 'lora-cache'),
          loraDir: join(root, 'loras'),
          timeoutMs: 5000,
          policy: { allowLoopback: true, allowPrivate: false },
          offline: false,
          signal,
          field: `loras[${i}].path`,
        });
        return { ...lora, file: r.file, sha256: r.sha256 };
      }),
    );
  const dispatcher = new Dispatcher(store, outputs, thread, { maxAttempts: 2, log, resolveLoras });
  dispatcher.start();
  const options: AppOptions = {
    store,
    outputs,
    media,
    dispatcher,
    keys: [],
    publicBaseUrl: PUBLIC_URL,
    models: [MODEL],
    syncWaitMs: 60_000,
    maxQueued: storeOptions.maxQueued,
    maxUrlChars: 8192,
    fetchPolicy: { allowLoopback: false, allowPrivate: false },
    bodyLimit: 64 * 1024,
    maxUploadBytes: 256 * 1024,
    maxLoras: 5,
    webhookSecret: 'whsec_test',
    warnings: ['safety checker not installed: has_nsfw_contents stays empty'],
    ready: () => true,
    log,
  };
  const apps: FastifyInstance[] = [];
  const stack: TestStack = {
    root,
    store,
    dispatcher,
    options,
    app: async (overrides = {}) => {
      const app = await buildApp({ ...options, ...overrides });
      apps.push(app);
      return app;
    },
    close: async () => {
      for (const app of apps) await app.close();
      await dispatcher.stop();
      await thread.close();
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
  return stack;
}

/** Polls a task's result until it reaches `status`. */
export async function until(
  app: FastifyInstance,
  id: string,
  status: string,
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 400; i++) {
    const res = await app.inject({ method: 'GET', url: `/api/v3/predictions/${id}/result` });
    const data = res.json().data;
    if (data.status === status) return data;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`task ${id} never reached ${status}`);
}
