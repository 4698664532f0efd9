/**
 * Benchmark: HTTP latency of the hosted contract's two hot routes on the real `flux-serve serve`
 * process (tiny model, CPU): submit (`POST /api/v3/wavespeed-ai/flux-schnell-lora`, async mode) and
 * result poll (`GET /api/v3/predictions/{id}/result`, of a completed task and of one queued behind
 * the whole backlog), at a few concurrencies, with autocannon. The queue limit is raised so that
 * 429s do not dominate; non-2xx answers are counted and printed. The worker renders the submitted
 * 256² one-step tasks throughout, as it would on a busy server.
 *
 *   npx tsx bench/submit-latency.ts [--duration 5] [--connections 1,10,50]
 */
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { percentile } from '../src/bench/stats.js';
import { startServer, tinyServerRoot } from '../test/support/server-process.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '1,10,50' },
  },
});
const duration = Number(values.duration);
const concurrencies = values.connections.split(',').map(Number);
const MODEL = 'wavespeed-ai/flux-schnell-lora';
const headers = { 'content-type': 'application/json', authorization: 'Bearer bench' };
const body = JSON.stringify({
  prompt: 'a lighthouse on a cliff',
  size: '256*256',
  num_inference_steps: 1,
  seed: 1,
});

interface Row {
  route: string;
  connections: number;
  result: autocannon.Result;
  /** Every response time, ms, sub-millisecond (autocannon's own histogram rounds to whole ms). */
  latencies: number[];
}

/** One autocannon run, keeping every response time from its `response` events. */
function cannon(route: string, connections: number, opts: autocannon.Options): Promise<Row> {
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon({ connections, duration, headers, ...opts }, (err, result) =>
      err ? reject(err) : resolve({ route, connections, result, latencies: latencies.sort((a, b) => a - b) }),
    );
    instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  });
}

async function submit(
  base: string,
  extra: Record<string, unknown> = {},
): Promise<{ id: string; status: string }> {
  const res = await fetch(`${base}/api/v3/${MODEL}`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ ...JSON.parse(body), ...extra }),
  });
  if (!res.ok) throw new Error(`submit answered HTTP ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { data: { id: string; status: string } }).data;
}

async function queueLength(base: string): Promise<number> {
  const res = await fetch(`${base}/readyz`);
  return ((await res.json()) as { data: { queue?: number } | null }).data?.queue ?? -1;
}

const dir = await tinyServerRoot('flux-bench-submit-');
try {
  const server = await startServer({
    model: dir.model,
    home: dir.home,
    env: { FLUX_SERVE_MAX_QUEUE: '10000000', LOG_LEVEL: 'error' },
  });
  const { base } = server;
  const done = await submit(base, { enable_sync_mode: true }); // warm-up; a completed task to poll
  if (done.status !== 'completed') throw new Error(`warm-up task ended ${done.status}`);

  const rows: Row[] = [];
  for (const c of concurrencies)
    rows.push(
      await cannon('POST submit (async)', c, { url: `${base}/api/v3/${MODEL}`, method: 'POST', body }),
    );
  const backlog = await queueLength(base);
  const queued = await submit(base);
  for (const c of concurrencies)
    rows.push(
      await cannon('GET result (completed)', c, { url: `${base}/api/v3/predictions/${done.id}/result` }),
    );
  for (const c of concurrencies)
    rows.push(
      await cannon('GET result (queued, last)', c, { url: `${base}/api/v3/predictions/${queued.id}/result` }),
    );
  const left = await queueLength(base);
  await server.stop();

  const ms = (n: number) => n.toFixed(n < 10 ? 2 : 1);
  console.log(
    `duration ${duration} s per run; queue after the submit runs: ${backlog} tasks, at the end: ${left}`,
  );
  console.log(
    '| route | connections | req/s (mean) | p50 ms | p90 ms | p99 ms | max ms | 2xx | non-2xx | errors |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const { route, connections, result: r, latencies: l } of rows) {
    const cells = [
      route,
      connections,
      Math.round(r.requests.mean),
      ms(percentile(l, 50)),
      ms(percentile(l, 90)),
      ms(percentile(l, 99)),
      ms(l[l.length - 1] ?? Number.NaN),
      r['2xx'],
      r.non2xx,
      r.errors + r.timeouts,
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
  const codes = rows.flatMap(({ route, connections, result }) =>
    Object.entries(result.statusCodeStats ?? {})
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, s]) => `${route} c=${connections}: HTTP ${code} × ${s.count ?? 0}`),
  );
  console.log(codes.length > 0 ? `non-2xx: ${codes.join('; ')}` : 'non-2xx: none');
} finally {
  await dir.cleanup();
}
