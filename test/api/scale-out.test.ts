/**
 * Scale-out on a private redis-server: two API-only nodes (`serve --queue redis://… --workers 0`)
 * and worker processes (`flux-serve worker`) sharing one data dir, on the tiny model. A task
 * submitted to node A is read, streamed and served by node B; a worker SIGKILLed mid-task loses
 * its task to a second worker (BullMQ's stalled check), and it still completes, once. Then two
 * workers at once behind both nodes, fed by the official `wavespeed` client: every task completes
 * exactly once; and a Redis crash: the API answers 503 envelopes meanwhile, and once Redis is back
 * (same port, its append-only file) it recovers and every task accepted before completes.
 */
import { access, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'wavespeed';
import { type RedisServer, redisTestsRun, startRedisServer } from '../support/redis-server.js';
import {
  type ServerProcess,
  startServer,
  startWorker,
  type TinyServerRoot,
  tinyServerRoot,
  type WorkerProcess,
} from '../support/server-process.js';

const run = redisTestsRun();
let redis: RedisServer;
let dir: TinyServerRoot;
let a: ServerProcess;
let b: ServerProcess;
let env: Record<string, string>;
/** The shared data dir (FLUX_SERVE_DATA_DIR) of every node. */
let data: string;
const MODEL = 'wavespeed-ai/flux-schnell-lora';
const TINY = { size: '256*256', num_inference_steps: 1 };

interface Data {
  id: string;
  status: string;
  outputs: string[];
  error: string | null;
}

async function submit(node: ServerProcess, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${node.base}/api/v3/wavespeed-ai/flux-schnell-lora`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Data }).data.id;
}

async function result(node: ServerProcess, id: string): Promise<Data> {
  const res = await fetch(`${node.base}/api/v3/predictions/${id}/result`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Data }).data;
}

async function final(node: ServerProcess, id: string, ms = 60_000): Promise<Data> {
  const deadline = Date.now() + ms;
  for (;;) {
    const data = await result(node, id);
    if (data.status === 'completed' || data.status === 'failed' || Date.now() > deadline) return data;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves at the first SSE event of `id` on `node` that shows step progress. */
async function firstStep(node: ServerProcess, id: string): Promise<void> {
  const res = await fetch(`${node.base}/api/v3/predictions/${id}/events`);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const text = new TextDecoder();
  let seen = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`event stream ended before any step:\n${seen}`);
    seen += text.decode(value);
    if (seen.includes('"progress"')) {
      await reader.cancel();
      return;
    }
  }
}

beforeAll(async () => {
  if (!run) return;
  redis = await startRedisServer({ persist: true });
  dir = await tinyServerRoot('scale-out-');
  data = join(dir.root, 'shared');
  await mkdir(data, { recursive: true });
  // A 1 s lock: a dead worker's task is back in the queue within a few seconds.
  env = { FLUX_SERVE_DATA_DIR: data, FLUX_SERVE_QUEUE_LOCK_MS: '1000' };
  const api = ['--queue', redis.url, '--workers', '0'];
  const node = (n: string) => startServer({ model: dir.model, home: join(dir.root, n), env, args: api });
  [a, b] = [await node('a'), await node('b')];
}, 120_000);
afterAll(async () => {
  await dir?.cleanup();
  await redis?.close();
});

describe.skipIf(!run)('two API nodes and workers on one Redis queue', () => {
  it('a task submitted to node A is read on node B, completes on a worker, and B serves its output', async () => {
    const worker = await startWorker({
      model: dir.model,
      home: join(dir.root, 'w1'),
      env,
      args: ['--queue', redis.url],
    });
    try {
      const id = await submit(a, { prompt: 'a fox', size: '256*256', num_inference_steps: 1, seed: 1 });
      expect((await result(b, id)).id).toBe(id);
      const done = await final(b, id);
      expect(done).toMatchObject({ status: 'completed', error: '' });
      expect(done.outputs).toHaveLength(1);
      expect(done.outputs[0]?.startsWith(b.base)).toBe(true);
      const image = await fetch(done.outputs[0] as string);
      expect(image.status).toBe(200);
      expect((await image.arrayBuffer()).byteLength).toBeGreaterThan(100);
      // Each node writes its own base into URLs (no FLUX_SERVE_PUBLIC_URL here); the file is the same.
      const fromA = await result(a, id);
      expect(fromA.outputs[0]).toBe(done.outputs[0]?.replace(b.base, a.base));
      expect(fromA).not.toHaveProperty('progress'); // a finished task shows no step progress
    } finally {
      await worker.kill('SIGTERM');
    }
  }, 120_000);

  it('a worker SIGKILLed mid-task: a second worker takes the task over and completes it', async () => {
    const first = await startWorker({
      model: dir.model,
      home: join(dir.root, 'w2'),
      env,
      args: ['--queue', redis.url],
    });
    const id = await submit(b, { prompt: 'a slow fox', size: '1024*1024', num_inference_steps: 8, seed: 2 });
    await firstStep(a, id); // progress crosses hosts: the step was rendered on the worker, seen on A
    await first.kill('SIGKILL');
    expect((await result(a, id)).status).toBe('processing');
    const second = await startWorker({
      model: dir.model,
      home: join(dir.root, 'w3'),
      env,
      args: ['--queue', redis.url],
    });
    try {
      const done = await final(a, id, 90_000);
      expect(done).toMatchObject({ status: 'completed', error: '' });
      expect(done.outputs).toHaveLength(1);
      expect((await fetch(done.outputs[0] as string)).status).toBe(200);
    } finally {
      await second.kill('SIGTERM');
    }
  }, 180_000);
});

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** The task id in an output URL (`…/outputs/<id>-<n>.<ext>`). */
const idOf = (url: string) => /\/outputs\/([0-9a-f]+)-\d+\.\w+$/.exec(url)?.[1] as string;

/** A request that must not hang: the answer's status and envelope, or the error if none came in `ms`. */
async function tryFetch(url: string, init: RequestInit = {}, ms = 5000) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
  return { status: res.status, body: (await res.json()) as { code: number; message: string; data: unknown } };
}

const post = (body: Record<string, unknown>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe.skipIf(!run)('two workers at once behind both nodes', () => {
  let workers: WorkerProcess[] = [];
  let redisCli: Redis;
  beforeAll(async () => {
    // A 10 s lock outlives the Redis outage below: the worker that ran a task must record it itself.
    const slow = { ...env, FLUX_SERVE_QUEUE_LOCK_MS: '10000' };
    const worker = (n: string) =>
      startWorker({ model: dir.model, home: join(dir.root, n), env: slow, args: ['--queue', redis.url] });
    workers = await Promise.all([worker('w4'), worker('w5')]);
    redisCli = new Redis(redis.url, { lazyConnect: true });
    redisCli.on('error', () => {});
  }, 120_000);
  afterAll(async () => {
    redisCli?.disconnect();
    await Promise.all(workers.map((w) => w.kill('SIGTERM')));
  });

  it('tasks submitted with the `wavespeed` client through both nodes each complete exactly once', async () => {
    // Every `finished` event any worker publishes: a task completed twice would show up twice.
    const finishes = new Map<string, number>();
    const sub = new Redis(redis.url);
    await sub.subscribe('flux-serve:events');
    sub.on('message', (_c: string, raw: string) => {
      const m = JSON.parse(raw) as { type: string; id: string };
      if (m.type === 'finished') finishes.set(m.id, (finishes.get(m.id) ?? 0) + 1);
    });
    try {
      const clients = [a, b].map((n) => new Client('k', { baseUrl: n.base, maxRetries: 0 }));
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (clients[i % 2] as Client).run(
            MODEL,
            { prompt: `fox ${i}`, ...TINY, seed: i },
            { pollInterval: 0.05, timeout: 60 },
          ),
        ),
      );
      for (const r of results) expect(r.outputs).toHaveLength(1);
      const urls = results.map((r) => (r.outputs as string[])[0] as string);
      const ids = urls.map(idOf);
      expect(new Set(ids).size).toBe(8);
      for (const [i, id] of ids.entries()) {
        // Each client got URLs of the node it asked; both nodes answer the same finished task.
        expect(urls[i]?.startsWith(`${(i % 2 ? b : a).base}/outputs/`)).toBe(true);
        for (const node of [a, b]) expect(await result(node, id)).toMatchObject({ status: 'completed' });
      }
      // One run per task (no second claim), one output file per task, one history entry per task.
      await redisCli.connect();
      for (const id of ids) expect(await redisCli.hget(`flux-serve:task:${id}`, 'attempts')).toBe('1');
      const files = (await readdir(join(data, 'outputs'))).filter((f) =>
        ids.includes(f.split('-')[0] as string),
      );
      expect(files.sort()).toEqual(ids.map((id) => `${id}-0.jpg`).sort());
      for (const node of [a, b]) {
        const page = await tryFetch(`${node.base}/api/v3/predictions`, post({ page: 1, page_size: 100 }));
        const listed = (page.body.data as { items: Data[] }).items.filter((t) => ids.includes(t.id));
        expect(listed.map((t) => t.id).sort()).toEqual([...ids].sort());
        expect(listed.every((t) => t.status === 'completed' && t.outputs.length === 1)).toBe(true);
      }
      await new Promise((r) => setTimeout(r, 300)); // late duplicate events would land by now
      for (const id of ids) expect(finishes.get(id)).toBe(1);
    } finally {
      sub.disconnect();
    }
  }, 90_000);

  it('Redis down: 503 envelopes, no hang, no crash; Redis back: the API recovers, nothing accepted is lost', async () => {
    // One task surely running when Redis goes (the worker must record it once Redis is back), more queued.
    const running = await submit(a, {
      prompt: 'a long fox',
      size: '512*512',
      num_inference_steps: 8,
      seed: 9,
    });
    await firstStep(b, running);
    const accepted = [running];
    for (let i = 0; i < 6; i++)
      accepted.push(await submit(i % 2 ? a : b, { prompt: `queued fox ${i}`, ...TINY, seed: 20 + i }));
    redisCli.disconnect();
    const down = Date.now();
    await redis.stop('SIGKILL');
    try {
      for (const node of [a, b]) {
        for (const [url, init] of [
          [`${node.base}/api/v3/${MODEL}`, post({ prompt: 'during the outage', ...TINY })],
          [`${node.base}/api/v3/predictions/${running}/result`, {}],
        ] as const) {
          const { status, body } = await tryFetch(url, init);
          expect(status).toBe(503);
          expect(body).toMatchObject({ code: 503, data: null });
          expect(body.message).toMatch(/unavailable/);
        }
        expect(node.child.exitCode).toBeNull();
      }
      // The running task ends while Redis is away: its output is written before its outcome is recorded.
      const file = join(data, 'outputs', `${running}-0.jpg`);
      for (const until = Date.now() + 60_000; !(await exists(file)); ) {
        expect(Date.now()).toBeLessThan(until);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 500)); // it has tried to record by now
    } finally {
      await redis.start();
    }
    const back = Date.now();
    // Recovered: both nodes accept tasks again within a few seconds.
    const deadline = Date.now() + 20_000;
    for (const node of [a, b]) {
      for (;;) {
        const { status, body } = await tryFetch(
          `${node.base}/api/v3/${MODEL}`,
          post({ prompt: 'after', ...TINY }),
        );
        if (status === 200) {
          accepted.push((body.data as Data).id);
          break;
        }
        expect(status).toBe(503);
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    for (const [i, id] of accepted.entries()) {
      const done = await final(i % 2 ? a : b, id, 60_000);
      expect(done, id).toMatchObject({ status: 'completed', error: '' });
      expect(done.outputs).toHaveLength(1);
    }
    // The running task was finished while Redis was away and recorded, once, after it came back.
    await redisCli.connect();
    const [startedAt, finishedAt, attempts] = await redisCli.hmget(
      `flux-serve:task:${running}`,
      'started_at',
      'finished_at',
      'attempts',
    );
    expect(Number(startedAt)).toBeLessThan(down);
    expect(Number(finishedAt)).toBeGreaterThanOrEqual(back);
    expect(attempts).toBe('1');
    for (const w of workers) expect(w.child.exitCode).toBeNull();
  }, 120_000);
});
