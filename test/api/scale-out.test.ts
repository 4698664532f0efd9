/**
 * Scale-out on a private redis-server: two API-only nodes (`serve --queue redis://… --workers 0`)
 * and worker processes (`flux-serve worker`) sharing one data dir, on the tiny model. A task
 * submitted to node A is read, streamed and served by node B; a worker SIGKILLed mid-task loses
 * its task to a second worker (BullMQ's stalled check), and it still completes, once.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, redisTestsRun, startRedisServer } from '../support/redis-server.js';
import {
  type ServerProcess,
  startServer,
  startWorker,
  type TinyServerRoot,
  tinyServerRoot,
} from '../support/server-process.js';

const run = redisTestsRun();
let redis: RedisServer;
let dir: TinyServerRoot;
let a: ServerProcess;
let b: ServerProcess;
let env: Record<string, string>;

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
  redis = await startRedisServer();
  dir = await tinyServerRoot('scale-out-');
  const data = join(dir.root, 'shared');
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
