/**
 * @module cli/bench-command
 * `flux-serve bench`: a benchmark client for any WaveSpeed-compatible endpoint (the hosted API with
 * a key, or flux-serve). It sends a request set `--concurrency` at a time under the official SDKs'
 * retry rules, prints latency percentiles (submit, queue, inference, end to end), throughput and
 * failures by kind, and writes a self-contained HTML report; with `--compare` the same requests (same
 * prompts, sizes and seeds) go to a second endpoint, and the report shows both images side by side.
 */
import { writeFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { embedImage } from '../bench/embed-image.js';
import { htmlReport, QUEUE_LABELS } from '../bench/html-report.js';
import { type LoraMix, parseLoraMix, requestSet } from '../bench/request-set.js';
import { type EndpointResult, runBench } from '../bench/run-bench.js';
import { type Endpoint, type RetryRules, SDK_RETRY_RULES } from '../bench/task-client.js';
import type { Logger } from '../log.js';

interface BenchFlags {
  base: string;
  key?: string;
  compare?: string;
  compareKey?: string;
  model: string;
  requests?: string;
  count: number;
  concurrency: number;
  sizes: string;
  steps: number;
  loraMix: LoraMix[][];
  seed: number;
  format: string;
  pollInterval: number;
  timeout: number;
  maxRetries: number;
  maxConnectionRetries: number;
  retryInterval: number;
  report: string;
  json?: string;
  reportImages: number;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new InvalidArgumentError(`${value} is not a non-negative integer`);
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${value} is not a number of seconds`);
  return n;
}

const pad = (s: string, n: number) => s.padStart(n);

/** The figures of one endpoint as a few lines of text. */
function textSummary(r: EndpointResult): string {
  const s = r.summary;
  const lines = [
    `${r.endpoint.base}  ${s.completed}/${s.requests} completed, ${s.failed} failed, ${s.retries} retries, ` +
      `${s.wallSeconds.toFixed(1)} s, ${s.requestsPerSecond.toFixed(3)} req/s, ${s.imagesPerSecond.toFixed(3)} img/s`,
    `  ${'latency ms'.padEnd(12)}${pad('p50', 8)}${pad('p90', 8)}${pad('p99', 8)}${pad('mean', 8)}`,
  ];
  for (const [key, name] of [
    ['submit', 'submit'],
    ['queue', s.queueSource && s.queueSource !== 'task' ? 'queue *' : 'queue'],
    ['inference', 'inference'],
    ['endToEnd', 'end to end'],
  ] as const) {
    const p = s.latency[key];
    const cells = p ? [p.p50, p.p90, p.p99, p.mean].map((v) => pad(String(Math.round(v)), 8)) : [pad('–', 8)];
    lines.push(`  ${name.padEnd(12)}${cells.join('')}`);
  }
  if (s.queueSource && s.queueSource !== 'task') lines.push(`  * ${QUEUE_LABELS[s.queueSource]}`);
  const failures = Object.entries(s.failures).map(([k, n]) => `${k} ×${n}`);
  if (failures.length > 0) lines.push(`  failures: ${failures.join(', ')}`);
  return lines.join('\n');
}

export function registerBench(program: Command, log: Logger): void {
  program
    .command('bench')
    .description(
      'benchmark a WaveSpeed-compatible endpoint (hosted or flux-serve); --compare another; HTML report',
    )
    .option('--base <url>', 'endpoint base URL', 'http://127.0.0.1:8080')
    .addOption(new Option('--key <key>', 'API key of --base').env('WAVESPEED_API_KEY'))
    .option('--compare <url>', 'a second endpoint, sent the same requests after the first')
    .option(
      '--compare-key <key>',
      'API key of --compare (default: none; --key and WAVESPEED_API_KEY go to --base only)',
    )
    .option('--model <id>', 'hosted model id', 'wavespeed-ai/flux-schnell-lora')
    .option('--requests <file.json>', 'submit bodies to cycle through (array or {"requests": [...]})')
    .option('--count <n>', 'requests per endpoint', count, 8)
    .option('--concurrency <n>', 'requests in flight', count, 2)
    .option('--sizes <list>', 'comma-separated sizes, cycled', '1024*1024')
    .option('--steps <n>', 'num_inference_steps', count, 4)
    .option(
      '--lora-mix <path:scale+…>',
      'a LoRA set, cycled with the others (repeatable); default none',
      (v: string, prev: LoraMix[][]) => [...prev, parseLoraMix(v)],
      [],
    )
    .option('--seed <n>', 'seed of the first request (then +1 each)', count, 42)
    .addOption(new Option('--format <f>', 'output_format').choices(['jpeg', 'png', 'webp']).default('jpeg'))
    .option('--poll-interval <s>', 'seconds between result polls', seconds, 0.25)
    .option('--timeout <s>', 'longest wait for one task, seconds', seconds, 300)
    .option('--max-retries <n>', 'task-level retries (SDK maxRetries)', count, SDK_RETRY_RULES.maxRetries)
    .option(
      '--max-connection-retries <n>',
      'result GET retries (SDK maxConnectionRetries)',
      count,
      SDK_RETRY_RULES.maxConnectionRetries,
    )
    .option(
      '--retry-interval <s>',
      'base retry delay, seconds (SDK retryInterval)',
      seconds,
      SDK_RETRY_RULES.retryIntervalMs / 1000,
    )
    .option('--report <file.html>', 'HTML report to write', 'bench-report.html')
    .option('--json <file>', 'also write the figures as JSON')
    .option('--report-images <n>', 'requests whose images the report embeds', count, 8)
    .action(async (flags: BenchFlags) => {
      const rules: RetryRules = {
        ...SDK_RETRY_RULES,
        maxRetries: flags.maxRetries,
        maxConnectionRetries: flags.maxConnectionRetries,
        retryIntervalMs: flags.retryInterval * 1000,
        taskTimeoutMs: flags.timeout * 1000,
        pollIntervalMs: flags.pollInterval * 1000,
      };
      const requests = await requestSet({
        count: flags.count,
        sizes: flags.sizes.split(',').map((s) => s.trim()),
        steps: flags.steps,
        loraMixes: flags.loraMix.length > 0 ? flags.loraMix : [[]],
        firstSeed: flags.seed,
        outputFormat: flags.format,
        ...(flags.requests && { file: flags.requests }),
      });
      // Each key goes only to the endpoint it was given for: the hosted key must never reach the
      // compare server (often another host, over plain HTTP).
      const key = (k: string | undefined) => (k ? { key: k } : {});
      const endpoints: Endpoint[] = [
        { base: flags.base, model: flags.model, ...key(flags.key) },
        ...(flags.compare ? [{ base: flags.compare, model: flags.model, ...key(flags.compareKey) }] : []),
      ];
      const results: EndpointResult[] = [];
      // One endpoint at a time: two servers on one GPU box must not share it during the measurement.
      for (const endpoint of endpoints) {
        log.info(
          { base: endpoint.base, count: requests.length, concurrency: flags.concurrency },
          'bench started',
        );
        const result = await runBench(endpoint, requests, {
          concurrency: flags.concurrency,
          rules,
          onRun: (run, request) =>
            log.debug(
              { base: endpoint.base, index: request.index, ok: run.ok, failure: run.failure },
              'request done',
            ),
        });
        results.push(result);
        process.stdout.write(`${textSummary(result)}\n`);
      }
      // Images are fetched after the timed runs, so downloads do not skew the figures.
      const shown = requests.slice(0, flags.reportImages);
      const images = await Promise.all(
        results.map((r) =>
          Promise.all(
            requests.map((req) => {
              const first = r.runs[req.index]?.outputs[0];
              return req.index < flags.reportImages && first ? embedImage(first, r.endpoint) : undefined;
            }),
          ),
        ),
      );
      const settings = {
        model: flags.model,
        requests: flags.requests ?? 'built-in prompts',
        count: flags.count,
        concurrency: flags.concurrency,
        sizes: flags.requests ? 'from file' : flags.sizes,
        steps: flags.requests ? 'from file' : flags.steps,
        'poll interval, s': flags.pollInterval,
        'max retries (task / result GET)': `${rules.maxRetries} / ${rules.maxConnectionRetries}`,
        'retry interval, s': flags.retryInterval,
      };
      await writeFile(
        flags.report,
        htmlReport({ createdAt: new Date(), requests: shown, results, images, settings }),
      );
      if (flags.json) {
        const figures = results.map((r) => ({
          base: r.endpoint.base,
          model: r.endpoint.model,
          ...r.summary,
        }));
        await writeFile(flags.json, `${JSON.stringify({ settings, endpoints: figures }, null, 2)}\n`);
      }
      process.stdout.write(`report: ${flags.report}\n`);
    });
}
