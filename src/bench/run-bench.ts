/**
 * @module bench/run-bench
 * Runs a request set against one endpoint with a fixed number of requests in flight, and sums the
 * runs up: latency percentiles per stage, throughput, failures by kind, retries.
 */
import type { BenchRequest } from './request-set.js';
import { type Percentiles, summarize } from './stats.js';
import { type Endpoint, type QueueSource, type RetryRules, runTask, type TaskRun } from './task-client.js';

export interface EndpointResult {
  readonly endpoint: Endpoint;
  readonly runs: readonly TaskRun[];
  readonly summary: EndpointSummary;
}

export interface EndpointSummary {
  readonly requests: number;
  readonly completed: number;
  readonly failed: number;
  /** Failure kind → count, e.g. `{ submit_http_429: 2 }`. */
  readonly failures: Readonly<Record<string, number>>;
  readonly retries: number;
  readonly wallSeconds: number;
  /** Completed requests and images per second of wall time. */
  readonly requestsPerSecond: number;
  readonly imagesPerSecond: number;
  /**
   * Where `latency.queue` comes from: the tasks' `timings.queue`, this client's measure (endpoints
   * that report only inference, like the hosted API), or both across the runs.
   */
  readonly queueSource?: QueueSource | 'mixed';
  /** ms; `inference` is the task's own `timings.inference`, `queue` see `queueSource` (absent where unknown). */
  readonly latency: {
    readonly submit?: Percentiles;
    readonly queue?: Percentiles;
    readonly inference?: Percentiles;
    readonly endToEnd?: Percentiles;
  };
}

export interface RunOptions {
  readonly concurrency: number;
  readonly rules: RetryRules;
  /** Called after each request, e.g. for a progress line. */
  readonly onRun?: (run: TaskRun, request: BenchRequest) => void;
}

function values<T>(runs: readonly TaskRun[], pick: (r: TaskRun) => T | undefined): T[] {
  return runs.map(pick).filter((v): v is T => v !== undefined);
}

/** The summary of finished runs over `wallSeconds`. */
export function summarizeRuns(runs: readonly TaskRun[], wallSeconds: number): EndpointSummary {
  const ok = runs.filter((r) => r.ok);
  const failures: Record<string, number> = {};
  for (const r of runs) if (!r.ok && r.failure) failures[r.failure] = (failures[r.failure] ?? 0) + 1;
  const images = ok.reduce((n, r) => n + r.outputs.length, 0);
  const latency = {
    submit: summarize(values(ok, (r) => r.submitMs)),
    queue: summarize(values(ok, (r) => r.queueMs)),
    inference: summarize(values(ok, (r) => r.inferenceMs)),
    endToEnd: summarize(values(ok, (r) => r.endToEndMs)),
  };
  const sources = new Set(values(ok, (r) => r.queueSource));
  const [onlySource] = sources;
  return {
    requests: runs.length,
    completed: ok.length,
    failed: runs.length - ok.length,
    failures,
    retries: runs.reduce((n, r) => n + r.retries, 0),
    wallSeconds,
    requestsPerSecond: wallSeconds > 0 ? ok.length / wallSeconds : 0,
    imagesPerSecond: wallSeconds > 0 ? images / wallSeconds : 0,
    ...(sources.size > 0 && { queueSource: sources.size === 1 ? onlySource : 'mixed' }),
    latency: Object.fromEntries(Object.entries(latency).filter(([, v]) => v !== undefined)),
  };
}

/**
 * Sends every request, `concurrency` at a time, and returns the runs in request order.
 * @example const result = await runBench(endpoint, requests, { concurrency: 4, rules: SDK_RETRY_RULES });
 */
export async function runBench(
  endpoint: Endpoint,
  requests: readonly BenchRequest[],
  o: RunOptions,
): Promise<EndpointResult> {
  const runs: TaskRun[] = new Array(requests.length);
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < requests.length) {
      const request = requests[next++] as BenchRequest;
      const run = await runTask(endpoint, { ...request.input }, o.rules);
      runs[request.index] = run;
      o.onRun?.(run, request);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, requests.length)) }, lane));
  const wallSeconds = (performance.now() - started) / 1000;
  return { endpoint, runs, summary: summarizeRuns(runs, wallSeconds) };
}
