/**
 * `flux-serve bench` against two real flux-serve processes on the tiny model (256², 1 step, a few
 * requests), the second with a key: the figures, failures by kind and the self-contained HTML report
 * with both endpoints' images; behind a recording proxy, which key reaches which endpoint, and the
 * client-measured queue time of an endpoint answering like the hosted API (inference timing only).
 * Then the SDK retry rules and the hosted statuses against scripted stub endpoints, and the pure helpers.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { htmlReport } from '../../src/bench/html-report.js';
import { parseLoraMix, requestSet } from '../../src/bench/request-set.js';
import { percentile, summarize } from '../../src/bench/stats.js';
import { type RetryRules, runTask, SDK_RETRY_RULES } from '../../src/bench/task-client.js';
import {
  type ServerProcess,
  startServer,
  type TinyServerRoot,
  tinyServerRoot,
} from '../support/server-process.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const MODEL = 'wavespeed-ai/flux-schnell-lora';

describe('flux-serve bench against two local servers', () => {
  let dir: TinyServerRoot;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    dir = await tinyServerRoot('bench-');
    [a, b] = await Promise.all([
      startServer({ model: dir.model, home: join(dir.root, 'home-a') }),
      writeFile(join(dir.root, 'keys.txt'), 'sk-bench-b\n').then(() =>
        startServer({
          model: dir.model,
          home: join(dir.root, 'home-b'),
          args: ['--keys', join(dir.root, 'keys.txt')],
        }),
      ),
    ]);
  });
  afterAll(async () => {
    await dir?.cleanup();
  });

  it('reports latency, throughput, failures by kind and both endpoints’ images', async () => {
    const requests = join(dir.root, 'requests.json');
    const good = { size: '256*256', num_inference_steps: 1 };
    await writeFile(
      requests,
      JSON.stringify([
        { prompt: 'a red fox', ...good, seed: 7 },
        { prompt: 'a lighthouse', ...good, output_format: 'png' },
        { prompt: 'a bowl of ramen', ...good },
        { prompt: 'too small', size: '100*100' },
      ]),
    );
    const report = join(dir.root, 'report.html');
    const json = join(dir.root, 'figures.json');
    const stdout = await bench([
      ...['--base', a.base, '--compare', b.base, '--compare-key', 'sk-bench-b'],
      ...['--requests', requests, '--count', '4', '--concurrency', '2', '--poll-interval', '0.05'],
      ...['--report', report, '--json', json],
    ]);
    expect(stdout).toContain(`report: ${report}`);
    expect(stdout).toMatch(/3\/4 completed, 1 failed/);

    const figures = JSON.parse(await readFile(json, 'utf8')) as {
      endpoints: {
        base: string;
        completed: number;
        failures: Record<string, number>;
        requestsPerSecond: number;
        latency: Record<string, { p50: number; p90: number; p99: number; count: number }>;
      }[];
    };
    expect(figures.endpoints.map((e) => e.base)).toEqual([a.base, b.base]);
    for (const e of figures.endpoints) {
      expect(e.completed).toBe(3);
      expect(e.failures).toEqual({ submit_http_400: 1 });
      expect(e.requestsPerSecond).toBeGreaterThan(0);
      for (const stage of ['submit', 'queue', 'inference', 'endToEnd']) {
        const p = e.latency[stage];
        expect(p?.count, stage).toBe(3);
        expect(p?.p50, stage).toBeGreaterThanOrEqual(0);
        expect(p?.p99, stage).toBeGreaterThanOrEqual(p?.p50 as number);
      }
      expect(e.latency.endToEnd?.p50).toBeGreaterThan(e.latency.inference?.p50 as number);
    }

    const html = await readFile(report, 'utf8');
    expect(html).toContain(a.base);
    expect(html).toContain(b.base);
    expect(html).toMatch(/<th>p50<\/th><th>p90<\/th><th>p99<\/th>/);
    expect(html).toContain('submit_http_400');
    // Three completed requests on each endpoint, embedded; no image is fetched by URL.
    const jpegs = html.match(/src="data:image\/jpeg;base64,[A-Za-z0-9+/=]+"/g) ?? [];
    const pngs = html.match(/src="data:image\/png;base64,[A-Za-z0-9+/=]+"/g) ?? [];
    expect([jpegs.length, pngs.length]).toEqual([4, 2]);
    expect(html).not.toMatch(/src="http/);
    // Same model, prompt and seed on both servers: the same image, side by side.
    expect(jpegs[0]).toBe(jpegs[1]);
    expect(html).toContain('seed 7');
  });

  it('measures queue time client-side for an endpoint that reports only inference, and says so', async () => {
    const hosted = await recordingProxy(a.base, true);
    try {
      const json = join(dir.root, 'queue.json');
      const report = join(dir.root, 'queue.html');
      const stdout = await bench([
        ...['--base', a.base, '--compare', hosted.base, '--count', '2', '--sizes', '256*256', '--steps', '1'],
        ...['--poll-interval', '0.05', '--report', report, '--json', json],
      ]);
      expect(stdout.match(/queue \*/g)).toHaveLength(1);
      expect(stdout).toContain('* queue (client-measured');
      const figures = JSON.parse(await readFile(json, 'utf8')) as {
        endpoints: { queueSource: string; latency: Record<string, { count: number; max: number }> }[];
      };
      expect(figures.endpoints.map((e) => [e.queueSource, e.latency.queue?.count])).toEqual([
        ['task', 2],
        ['client', 2],
      ]);
      const hostedLatency = figures.endpoints[1]?.latency ?? {};
      expect(hostedLatency.queue?.max).toBeLessThanOrEqual(hostedLatency.endToEnd?.max as number);
      const html = await readFile(report, 'utf8');
      expect(html).toContain('queue (task timings.queue)');
      expect(html).toContain(
        'queue (client-measured: submit → first “processing” poll, else end to end − inference)',
      );
    } finally {
      await hosted.close();
    }
  });

  it('sends --key (or WAVESPEED_API_KEY) to --base only, and --compare-key to --compare only', async () => {
    // b needs its key; the compare endpoint is a (keyless) a behind a proxy that records what it is sent.
    const proxy = await recordingProxy(a.base);
    try {
      const common = ['--base', b.base, '--compare', proxy.base, '--count', '2', '--sizes', '256*256'];
      const fast = ['--steps', '1', '--poll-interval', '0.05', '--report', join(dir.root, 'keys.html')];
      const withEnvKey = await bench([...common, ...fast], { WAVESPEED_API_KEY: 'sk-bench-b' });
      expect(withEnvKey.match(/2\/2 completed/g)).toHaveLength(2);
      const withFlag = await bench([...common, ...fast, '--key', 'sk-bench-b']);
      expect(withFlag.match(/2\/2 completed/g)).toHaveLength(2);
      expect(proxy.seen.length).toBeGreaterThanOrEqual(8); // 2 submits and 2+ polls per run
      expect(new Set(proxy.seen)).toEqual(new Set([null]));

      proxy.seen.length = 0;
      const own = await bench([...common, ...fast, '--key', 'sk-bench-b', '--compare-key', 'sk-compare']);
      expect(own.match(/2\/2 completed/g)).toHaveLength(2);
      expect(new Set(proxy.seen)).toEqual(new Set(['Bearer sk-compare']));
    } finally {
      await proxy.close();
    }
  });
});

/** Runs `flux-serve bench` with `args` (and `env` added), resolving to its stdout. */
async function bench(args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), CLI, 'bench', ...args],
    { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, timeout: 90_000 },
  );
  return stdout;
}

/**
 * An HTTP proxy in front of `target` that records each request's Authorization header; with
 * `hostedTimings`, task answers lose `timings.queue`, as the hosted API's carry only inference.
 */
async function recordingProxy(
  target: string,
  hostedTimings = false,
): Promise<{ base: string; seen: (string | null)[]; close(): Promise<void> }> {
  const seen: (string | null)[] = [];
  const proxy = createServer(async (req, res) => {
    seen.push(req.headers.authorization ?? null);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const upstream = await fetch(`${target}${req.url}`, {
      method: req.method,
      headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
      ...(req.method === 'POST' && { body: Buffer.concat(chunks) }),
    });
    const type = upstream.headers.get('content-type') ?? 'text/plain';
    res.writeHead(upstream.status, { 'content-type': type });
    const body = Buffer.from(await upstream.arrayBuffer());
    if (!hostedTimings || !type.startsWith('application/json')) return res.end(body);
    const json = JSON.parse(body.toString('utf8'));
    if (json.data?.timings) json.data.timings = { inference: json.data.timings.inference };
    res.end(JSON.stringify(json));
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`,
    seen,
    close: () => new Promise<void>((r) => proxy.close(() => r())),
  };
}

describe('SDK retry rules', () => {
  let stub: Server;
  let base: string;
  /**
   * What the stub answers, in order, per route; the last answer repeats. A number is an HTTP status
   * (200: the task completed), 'drop' cuts the connection, any other string is a failed task's error.
   */
  let script: { submit: (number | string)[]; result: (number | string)[] };
  const hits = { submit: 0, result: 0 };

  beforeAll(async () => {
    stub = createServer((req, res) => {
      const route = req.method === 'POST' ? 'submit' : 'result';
      const list = script[route];
      const answer = list[Math.min(hits[route]++, list.length - 1)] as number | string;
      if (answer === 'drop') return void req.socket.destroy();
      const status = typeof answer === 'number' ? answer : 200;
      const data =
        typeof answer === 'string'
          ? { id: 't1', status: 'failed', outputs: [], error: answer }
          : { id: 't1', status: 'completed', outputs: [], timings: { inference: 5, queue: 1 } };
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: status, message: 'x', data: status === 200 ? data : null }));
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(stub.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => stub.close(() => r())));

  const rules: RetryRules = { ...SDK_RETRY_RULES, retryIntervalMs: 1, pollIntervalMs: 1, maxRetries: 2 };
  const run = (s: typeof script) => {
    script = s;
    hits.submit = 0;
    hits.result = 0;
    return runTask({ base, model: MODEL }, { prompt: 'x' }, rules);
  };

  it('retries result GETs on 503 and 429, and reports the task timings', async () => {
    const r = await run({ submit: [200], result: [503, 429, 200] });
    expect(r).toMatchObject({
      ok: true,
      retries: 2,
      queueMs: 1,
      queueSource: 'task',
      inferenceMs: 5,
      taskId: 't1',
    });
    expect(hits).toEqual({ submit: 1, result: 3 });
  });

  it('never retries a submission, even a 500', async () => {
    const r = await run({ submit: [500, 200], result: [200] });
    expect(r).toMatchObject({ ok: false, failure: 'submit_http_500', retries: 0 });
    expect(hits.submit).toBe(1);
  });

  it('retries the whole task once the result GETs run out on a 5xx, not on a 404', async () => {
    const r = await run({ submit: [200], result: [...Array(6).fill(502), 200] });
    expect(r).toMatchObject({ ok: true, retries: 6 });
    expect(hits.submit).toBe(2);
    const lost = await run({ submit: [200], result: [404] });
    expect(lost).toMatchObject({ ok: false, failure: 'poll_http_404' });
    expect(hits.submit).toBe(1);
  });

  it('does not retry the task after result GETs ran out on connection errors (the SDK error has no retry word)', async () => {
    const r = await run({ submit: [200], result: ['drop'] });
    expect(r).toMatchObject({ ok: false, failure: 'poll_connection', retries: 5 });
    expect(hits).toEqual({ submit: 1, result: 6 });
  });

  it('retries a failed task whose error has an SDK retry word, not another', async () => {
    const flaky = await run({ submit: [200], result: ['upstream connection reset', 200] });
    expect(flaky).toMatchObject({ ok: true, retries: 1 });
    expect(hits.submit).toBe(2);
    const bad = await run({ submit: [200], result: ['prompt: must not be empty'] });
    expect(bad).toMatchObject({ ok: false, failure: 'task_failed', retries: 0 });
    expect(hits.submit).toBe(1);
  });
});

describe('queue time of an endpoint that reports only inference (the hosted API)', () => {
  let stub: Server;
  let base: string;
  /** The statuses the result GETs answer, in order; the last repeats. */
  let statuses: string[];
  let polls = 0;

  beforeAll(async () => {
    stub = createServer((req, res) => {
      const status =
        req.method === 'POST' ? 'created' : (statuses[Math.min(polls++, statuses.length - 1)] as string);
      const data = {
        id: 'h1',
        status,
        outputs: [],
        ...(status === 'completed' && { timings: { inference: 5 } }),
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 200, message: 'success', data }));
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(stub.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => stub.close(() => r())));

  const POLL_MS = 30;
  const run = (s: string[]) => {
    statuses = s;
    polls = 0;
    return runTask({ base, model: MODEL }, { prompt: 'x' }, { ...SDK_RETRY_RULES, pollIntervalMs: POLL_MS });
  };

  it('is the time until a poll first shows processing', async () => {
    const r = await run(['created', 'created', 'processing', 'processing', 'completed']);
    expect(r).toMatchObject({ ok: true, queueSource: 'client', inferenceMs: 5 });
    // Two polls waited while created, two more after processing was seen.
    expect(r.queueMs).toBeGreaterThanOrEqual(2 * POLL_MS);
    expect((r.endToEndMs as number) - (r.queueMs as number)).toBeGreaterThanOrEqual(2 * POLL_MS);
  });

  it('is end to end minus inference when no poll saw the task processing', async () => {
    const r = await run(['created', 'created', 'completed']);
    expect(r).toMatchObject({ ok: true, queueSource: 'client', inferenceMs: 5 });
    expect(r.queueMs).toBeGreaterThanOrEqual(2 * POLL_MS - 5);
    expect(r.queueMs).toBeLessThanOrEqual((r.endToEndMs as number) - 5);
    expect(r.queueMs).toBeGreaterThan((r.endToEndMs as number) - 5 - POLL_MS);
  });
});

describe('bench helpers', () => {
  it('takes nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([50, 90, 99, 100].map((p) => percentile(sorted, p))).toEqual([50, 90, 99, 100]);
    expect(summarize([120, 80, 100])).toEqual({
      count: 3,
      p50: 100,
      p90: 120,
      p99: 120,
      mean: 100,
      min: 80,
      max: 120,
    });
    expect(summarize([])).toBeUndefined();
  });

  it('cycles prompts, sizes and LoRA mixes with consecutive seeds', async () => {
    const set = await requestSet({
      count: 3,
      sizes: ['512*512', '768*512'],
      steps: 2,
      loraMixes: [[], parseLoraMix('a.safetensors:0.5+owner/repo')],
      firstSeed: 10,
      outputFormat: 'png',
    });
    expect(set.map((r) => [r.input.size, r.input.seed, r.input.loras])).toEqual([
      ['512*512', 10, undefined],
      [
        '768*512',
        11,
        [
          { path: 'a.safetensors', scale: 0.5 },
          { path: 'owner/repo', scale: 1 },
        ],
      ],
      ['512*512', 12, undefined],
    ]);
  });

  it('escapes what the report shows', () => {
    const html = htmlReport({
      createdAt: new Date(0),
      requests: [{ index: 0, input: { prompt: '<script>alert(1)</script>' } }],
      results: [],
      images: [],
      settings: {},
    });
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;');
  });
});
