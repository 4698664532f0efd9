/**
 * Reliability: the promise that an accepted task is never lost, tested by killing things in a loop.
 * Each trial submits a burst of tasks (async with a webhook to a local receiver, sync mode, with the
 * sample LoRA), SIGKILLs something at a random moment, restarts it, waits until every task is
 * final, and audits every task the store accepted:
 * - completed exactly once, its outputs readable and no extra output files under its id, or failed
 *   with an honest error (not empty, not an internal one);
 * - each task with a webhook delivered at least once, with a valid signature and its final status.
 * Backends: `sqlite` (one `serve`; kills the server, its worker child, or both) and `redis` (an
 * API-only `serve --queue`, one `flux-serve worker`, a private redis-server with append-only
 * persistence and fsync on every write; kills the API node, the worker, or Redis itself).
 *
 *   npx tsx bench/crash-loop.ts [--trials 100] [--backend sqlite,redis] [--burst 6] [--seed 1]
 */
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { verifyWebhook } from '../src/api/webhook-signature.js';
import { mulberry32 } from '../src/weights/random.js';
import { type RedisServer, startRedisServer } from '../test/support/redis-server.js';
import {
  freePort,
  type ServerProcess,
  startServer,
  startWorker,
  type TinyServerRoot,
  tinyServerRoot,
  type WorkerProcess,
} from '../test/support/server-process.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '100' },
    backend: { type: 'string', default: 'sqlite,redis' },
    burst: { type: 'string', default: '6' },
    seed: { type: 'string', default: '1' },
  },
});
const TRIALS = Number(values.trials);
const BURST = Number(values.burst);
const random = mulberry32(Number(values.seed));
const MODEL = 'wavespeed-ai/flux-schnell-lora';
/** Longest wait for a restarted server to answer /readyz, ms: restarts are many, the machine may be busy. */
const READY_MS = 120_000;
/** Longest wait for the tasks of one trial to end, ms. */
const SETTLE_MS = 120_000;
/** Webhook retries a few hundred ms apart, so a trial does not wait the production minutes. */
const ENV = {
  FLUX_SERVE_FETCH_ALLOW_LOOPBACK: '1',
  FLUX_SERVE_WEBHOOK_RETRY_MS: '200,500,1000,2000,4000',
  FLUX_SERVE_MAX_ATTEMPTS: '5',
  FLUX_SERVE_SAFETY_CHECKER: 'off',
};

const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

interface Delivery {
  readonly id: string;
  readonly valid: boolean;
  readonly status: string;
}

/** A loopback receiver that records every delivery and checks its signature. */
async function webhookReceiver(secret: () => string) {
  const deliveries: Delivery[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]),
      );
      const parsed = JSON.parse(body) as { id?: string; status?: string };
      deliveries.push({
        id: parsed.id ?? '',
        valid: verifyWebhook(secret(), headers, body),
        status: parsed.status ?? '',
      });
      res.end('ok');
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/hook`, deliveries, close: () => server.close() };
}

interface TaskData {
  id: string;
  status: string;
  error?: string;
  outputs: string[];
}

async function json<T>(res: Response): Promise<T> {
  return ((await res.json()) as { data: T }).data;
}

/** Every task the store holds (history pages, newest first). */
async function allTasks(base: string): Promise<TaskData[]> {
  const tasks: TaskData[] = [];
  for (let page = 1; ; page++) {
    const data = await json<{ items: TaskData[]; total: number }>(
      await fetch(`${base}/api/v3/predictions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ page, page_size: 100 }),
      }),
    );
    tasks.push(...data.items);
    if (tasks.length >= data.total || data.items.length === 0) return tasks;
  }
}

/** Fires one trial's burst; resolves with the ids the server answered (sync ones may never answer). */
function submitBurst(base: string, hook: string, trial: number): Promise<{ id: string; webhook: boolean }[]> {
  const kinds = ['async', 'sync', 'lora'] as const;
  return Promise.all(
    Array.from({ length: BURST }, async (_, i) => {
      const kind = kinds[i % kinds.length];
      const body = {
        prompt: `trial ${trial} task ${i}`,
        size: '256*256',
        num_inference_steps: 2,
        seed: trial * 100 + i,
        ...(kind === 'sync' ? { enable_sync_mode: true } : {}),
        ...(kind === 'lora' ? { loras: [{ path: 'sample-model.safetensors', scale: 1 }] } : {}),
      };
      const url = `${base}/api/v3/${MODEL}${kind === 'sync' ? '' : `?webhook=${encodeURIComponent(hook)}`}`;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return res.ok ? [{ id: (await json<{ id: string }>(res)).id, webhook: kind !== 'sync' }] : [];
      } catch {
        return []; // the kill cut the connection: the store says whether it was accepted
      }
    }),
  ).then((ids) => ids.flat());
}

async function settle(base: string, ids: Set<string>): Promise<Map<string, TaskData>> {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const tasks = new Map((await allTasks(base).catch(() => [])).map((t) => [t.id, t]));
    for (const id of ids) if (!tasks.has(id)) tasks.set(id, { id, status: 'missing', outputs: [] });
    const open = [...tasks.values()].filter((t) => t.status !== 'completed' && t.status !== 'failed');
    if (open.length === 0 || Date.now() > deadline) return tasks;
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Tally {
  accepted: number;
  completed: number;
  failed: number;
  lost: number;
  duplicated: number;
  webhooksMissing: number;
  badErrors: string[];
}

/** Audits the tasks of a backend once the last trial has settled. */
async function audit(
  base: string,
  outputsDir: string,
  tasks: Map<string, TaskData>,
  deliveries: readonly Delivery[],
  withWebhook: ReadonlySet<string>,
): Promise<Tally> {
  const files = await readdir(outputsDir).catch(() => [] as string[]);
  const filesById = new Map<string, number>();
  for (const f of files) {
    const id = f.split('-')[0] as string;
    if (!f.startsWith('.')) filesById.set(id, (filesById.get(id) ?? 0) + 1);
  }
  const t: Tally = {
    accepted: tasks.size,
    completed: 0,
    failed: 0,
    lost: 0,
    duplicated: 0,
    webhooksMissing: 0,
    badErrors: [],
  };
  for (const task of tasks.values()) {
    if (task.status === 'completed') {
      t.completed++;
      if ((filesById.get(task.id) ?? 0) !== task.outputs.length) t.duplicated++;
      for (const url of task.outputs) {
        const res = await fetch(`${base}${new URL(url).pathname}`);
        if (!res.ok || (await res.arrayBuffer()).byteLength === 0) t.lost++;
      }
    } else if (task.status === 'failed') {
      t.failed++;
      if (!task.error || /internal error/i.test(task.error)) t.badErrors.push(`${task.id}: ${task.error}`);
    } else t.lost++;
    if (withWebhook.has(task.id) && (task.status === 'completed' || task.status === 'failed')) {
      const ok = deliveries.some((d) => d.id === task.id && d.valid && d.status === task.status);
      if (!ok) t.webhooksMissing++;
    }
  }
  return t;
}

/** The worker child of a `serve` process (the supervisor's fork). */
async function workerChildOf(pid: number): Promise<number | undefined> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const first = children.trim().split(/\s+/)[0];
  return first ? Number(first) : undefined;
}

const killPid = (pid: number | undefined) => {
  if (pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
};

interface Backend {
  readonly base: string;
  readonly outputsDir: string;
  readonly secret: string;
  /** Kills one of its processes; resolves once the backend is restarted (or restarts itself). */
  crash(): Promise<string>;
  close(): Promise<void>;
}

async function sqliteBackend(dir: TinyServerRoot, port: number): Promise<Backend> {
  let server: ServerProcess = await startServer({
    model: dir.model,
    home: dir.home,
    port,
    env: ENV,
    readyTimeoutMs: READY_MS,
  });
  const secret = (await json<{ secret: string }>(await fetch(`${server.base}/api/v3/webhook/secret`))).secret;
  return {
    base: server.base,
    outputsDir: join(dir.home, 'outputs'),
    secret,
    crash: async () => {
      const target = pick(['server', 'worker', 'both'] as const);
      const worker = await workerChildOf(server.child.pid as number);
      if (target !== 'server') killPid(worker);
      if (target !== 'worker') {
        await server.kill('SIGKILL');
        // The worker child exits when its parent's IPC channel closes; make sure before restarting.
        killPid(worker);
        server = await startServer({
          model: dir.model,
          home: dir.home,
          port,
          env: ENV,
          readyTimeoutMs: READY_MS,
        });
      }
      return target;
    },
    close: () => server.stop(),
  };
}

async function redisBackend(dir: TinyServerRoot, port: number): Promise<Backend> {
  const redis: RedisServer = await startRedisServer({ persist: true });
  const args = ['--queue', redis.url];
  const api = () =>
    startServer({
      model: dir.model,
      home: dir.home,
      port,
      env: ENV,
      args: [...args, '--workers', '0'],
      readyTimeoutMs: READY_MS,
    });
  const work = () =>
    startWorker({ model: dir.model, home: dir.home, env: ENV, args, readyTimeoutMs: READY_MS });
  let server = await api();
  let worker: WorkerProcess = await work();
  const secret = (await json<{ secret: string }>(await fetch(`${server.base}/api/v3/webhook/secret`))).secret;
  return {
    base: server.base,
    outputsDir: join(dir.home, 'outputs'),
    secret,
    crash: async () => {
      const target = pick(['api node', 'worker', 'redis'] as const);
      if (target === 'api node') {
        await server.kill('SIGKILL');
        server = await api();
      } else if (target === 'worker') {
        await worker.kill('SIGKILL');
        worker = await work();
      } else {
        await redis.stop('SIGKILL');
        await redis.start();
      }
      return target;
    },
    close: async () => {
      await worker.kill('SIGTERM');
      await server.stop();
      await redis.close();
    },
  };
}

async function run(name: 'sqlite' | 'redis'): Promise<void> {
  const dir = await tinyServerRoot(`crash-loop-${name}-`);
  const port = await freePort();
  let secret = '';
  const hook = await webhookReceiver(() => secret);
  const backend = name === 'sqlite' ? await sqliteBackend(dir, port) : await redisBackend(dir, port);
  secret = backend.secret;
  const withWebhook = new Set<string>();
  const targets = new Map<string, number>();
  const started = performance.now();
  let tasks = new Map<string, TaskData>();
  for (let trial = 1; trial <= TRIALS; trial++) {
    const before = new Set((await allTasks(backend.base).catch(() => [])).map((t) => t.id));
    const burst = submitBurst(backend.base, hook.url, trial);
    await new Promise((r) => setTimeout(r, 50 + random() * 1500));
    const target = await backend.crash();
    targets.set(target, (targets.get(target) ?? 0) + 1);
    const answered = await burst;
    for (const a of answered) if (a.webhook) withWebhook.add(a.id);
    tasks = await settle(backend.base, new Set([...before, ...answered.map((a) => a.id)]));
    if (trial % 10 === 0)
      process.stdout.write(
        `${name}: trial ${trial}/${TRIALS}, ${tasks.size} tasks so far, ${Math.round((performance.now() - started) / 1000)} s\n`,
      );
  }
  // Deliveries of the last trial's tasks get their retries.
  await new Promise((r) => setTimeout(r, 8000));
  // Only tasks whose submit was answered are known to carry a webhook: one cut off by the kill may
  // have been stored with it, and its delivery is then counted too.
  const tally = await audit(backend.base, backend.outputsDir, tasks, hook.deliveries, withWebhook);
  const minutes = ((performance.now() - started) / 60_000).toFixed(1);
  console.log(
    `${name}: ${TRIALS} trials (${[...targets].map(([t, n]) => `${t} ×${n}`).join(', ')}) in ${minutes} min: ` +
      `accepted ${tally.accepted}, completed ${tally.completed}, failed ${tally.failed}, lost ${tally.lost}, ` +
      `duplicated ${tally.duplicated}, webhooks missing ${tally.webhooksMissing}`,
  );
  for (const e of tally.badErrors.slice(0, 10)) console.log(`  failed without an honest error: ${e}`);
  const errors = new Map<string, number>();
  for (const t of tasks.values())
    if (t.status === 'failed') errors.set(t.error ?? '', (errors.get(t.error ?? '') ?? 0) + 1);
  for (const [e, n] of errors) console.log(`  failed ×${n}: ${e}`);
  hook.close();
  await backend.close();
  await dir.cleanup();
}

for (const name of values.backend.split(',') as ('sqlite' | 'redis')[]) await run(name);
