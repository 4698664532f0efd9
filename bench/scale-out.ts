/**
 * Benchmark: throughput of the Redis queue with 1, 2 and 4 `flux-serve worker` processes behind one
 * API-only node (`serve --queue redis://… --workers 0`), on the tiny model, CPU, a private
 * redis-server. Per worker count: a burst of `--tasks` 256² one-step tasks submitted over
 * `--connections` concurrent clients (submit latency p50/p99 measured from the client, while the
 * workers render), then tasks/s from the first submit to the last task's finish (created_at +
 * timings.total). Workers share the machine's cores: on a CPU-only host the figure shows the
 * queue's overhead and the CPU limit, not a GPU host's scaling (one worker per device there).
 *
 *   npx tsx bench/scale-out.ts [--workers 1,2,4] [--tasks 200] [--connections 8]
 */
import { mkdir } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '../src/bench/stats.js';
import { startRedisServer } from '../test/support/redis-server.js';
import {
  startServer,
  startWorker,
  tinyServerRoot,
  type WorkerProcess,
} from '../test/support/server-process.js';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,2,4' },
    tasks: { type: 'string', default: '200' },
    connections: { type: 'string', default: '8' },
  },
});
const workerCounts = values.workers.split(',').map(Number);
const tasks = Number(values.tasks);
const connections = Number(values.connections);
const MODEL = 'wavespeed-ai/flux-schnell-lora';
/** Result polls of the unfinished tasks, ms apart. */
const POLL_MS = 250;

interface Finished {
  status: string;
  created_at: string;
  timings: { total?: number };
}

async function submitBurst(base: string, n: number): Promise<{ ids: string[]; latencies: number[] }> {
  const ids: string[] = [];
  const latencies: number[] = [];
  let next = 0;
  const client = async () => {
    for (let i = next++; i < n; i = next++) {
      const t0 = performance.now();
      const res = await fetch(`${base}/api/v3/${MODEL}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          prompt: `a lighthouse ${i}`,
          size: '256*256',
          num_inference_steps: 1,
          seed: i,
        }),
      });
      const body = (await res.json()) as { data: { id: string } };
      latencies.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`submit answered HTTP ${res.status}: ${JSON.stringify(body)}`);
      ids.push(body.data.id);
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  return { ids, latencies: latencies.sort((a, b) => a - b) };
}

/** Waits until every task finished; returns each one's finish time (epoch ms). */
async function finishTimes(base: string, ids: readonly string[]): Promise<number[]> {
  const left = new Set(ids);
  const finished: number[] = [];
  while (left.size > 0) {
    await Promise.all(
      [...left].map(async (id) => {
        const res = await fetch(`${base}/api/v3/predictions/${id}/result`);
        const t = ((await res.json()) as { data: Finished }).data;
        if (t.status === 'failed') throw new Error(`task ${id} failed`);
        if (t.status !== 'completed') return;
        left.delete(id);
        finished.push(Date.parse(t.created_at) + (t.timings.total ?? 0));
      }),
    );
    if (left.size > 0) await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return finished;
}

const redis = await startRedisServer();
const dir = await tinyServerRoot('flux-bench-scale-');
const rows: string[] = [];
try {
  const data = join(dir.root, 'shared');
  await mkdir(data, { recursive: true });
  const env = { FLUX_SERVE_DATA_DIR: data, LOG_LEVEL: 'error', FLUX_SERVE_MAX_QUEUE: '100000' };
  const api = await startServer({
    model: dir.model,
    home: join(dir.root, 'api'),
    env,
    args: ['--queue', redis.url, '--workers', '0'],
  });
  for (const n of workerCounts) {
    const workers: WorkerProcess[] = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        startWorker({
          model: dir.model,
          home: join(dir.root, `w${n}-${i}`),
          env: { ...env, LOG_LEVEL: 'info' },
          args: ['--queue', redis.url],
        }),
      ),
    );
    // Warm-up: every worker has rendered once (session allocations, first-run costs).
    await finishTimes(api.base, (await submitBurst(api.base, n * 2)).ids);
    const t0 = Date.now();
    const { ids, latencies } = await submitBurst(api.base, tasks);
    const last = Math.max(...(await finishTimes(api.base, ids)));
    const seconds = (last - t0) / 1000;
    const ms = (v: number) => v.toFixed(1);
    rows.push(
      `| ${n} | ${tasks} | ${seconds.toFixed(1)} | ${(tasks / seconds).toFixed(2)} | ${ms(percentile(latencies, 50))} | ${ms(percentile(latencies, 99))} | ${ms(latencies[latencies.length - 1] as number)} |`,
    );
    console.error(rows[rows.length - 1]);
    await Promise.all(workers.map((w) => w.kill('SIGTERM')));
  }
  await api.stop();
} finally {
  await dir.cleanup();
  await redis.close();
}
console.log(
  `${cpus().length} CPU cores (${cpus()[0]?.model ?? '?'}); ${tasks} tasks of 256², 1 step per run, ${connections} concurrent submitters`,
);
console.log('| workers | tasks | seconds | tasks/s | submit p50 ms | submit p99 ms | submit max ms |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
