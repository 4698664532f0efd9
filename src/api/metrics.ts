/**
 * @module api/metrics
 * Prometheus metrics at `GET /metrics` (prom-client): what an operator of a GPU box watches —
 * queue depth, task latency by stage, outcomes and failures by kind, worker readiness, LoRA cache
 * hits, and HTTP answers by route — plus the Node process defaults. One registry per app, so tests
 * and several apps in one process never share counters.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Task } from '../jobs/task.js';

/** Seconds: from a 1-step tiny model on a GPU to an 8-step 1536² batch of four on a CPU. */
const STAGE_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120];
const STAGES = ['queue', 'lora_load', 'text', 'denoise', 'decode', 'inference', 'total'] as const;

export interface MetricsSources {
  readonly queueDepth: () => Promise<number>;
  readonly workerReady: () => boolean;
}

/** The failure kinds a dashboard separates; the task's error text is too varied for a label. */
function failureKind(error: string | null): string {
  const e = error ?? '';
  if (e === 'cancelled') return 'cancelled';
  if (e.startsWith('interrupted') || e.includes('worker process died')) return 'worker_lost';
  if (e.includes('ran longer than')) return 'timeout';
  if (/^(image|mask_image|loras\[\d+\]\.path|prompt)\b/.test(e)) return 'input';
  return 'other';
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly finished: Counter<'status'>;
  private readonly failures: Counter<'kind'>;
  private readonly stages: Histogram<'stage'>;
  private readonly http: Histogram<'method' | 'route' | 'status'>;
  readonly loraCache: Counter<'result'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'flux_serve_' });
    new Gauge({
      name: 'flux_serve_queue_depth',
      help: 'Tasks waiting in the queue (status created)',
      registers,
      async collect() {
        this.set(await sources.queueDepth());
      },
    });
    new Gauge({
      name: 'flux_serve_worker_ready',
      help: '1 while the worker has its model loaded',
      registers,
      collect() {
        this.set(sources.workerReady() ? 1 : 0);
      },
    });
    this.finished = new Counter({
      name: 'flux_serve_tasks_finished_total',
      help: 'Tasks that reached a final status',
      labelNames: ['status'],
      registers,
    });
    this.failures = new Counter({
      name: 'flux_serve_task_failures_total',
      help: 'Failed tasks by kind (cancelled, worker_lost, timeout, input, other)',
      labelNames: ['kind'],
      registers,
    });
    this.stages = new Histogram({
      name: 'flux_serve_task_stage_seconds',
      help: 'Completed tasks: time per stage (queue wait, LoRA load, text encoders, denoising, VAE decode, inference, total)',
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS,
      registers,
    });
    this.loraCache = new Counter({
      name: 'flux_serve_lora_cache_total',
      help: 'LoRA lookups by result (hit: already parsed in memory, miss: read and converted)',
      labelNames: ['result'],
      registers,
    });
    this.http = new Histogram({
      name: 'flux_serve_http_request_seconds',
      help: 'HTTP answers by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
  }

  /** Records a task that reached `completed` or `failed`. */
  taskFinished(task: Task): void {
    this.finished.inc({ status: task.status });
    if (task.status === 'failed') {
      this.failures.inc({ kind: failureKind(task.error) });
      return;
    }
    for (const stage of STAGES) {
      const ms = task.timings[stage];
      if (ms !== undefined) this.stages.observe({ stage }, ms / 1000);
    }
  }

  /** Records one HTTP answer; `route` is the pattern (`/api/v3/predictions/:id/result`), never the raw URL. */
  httpAnswered(method: string, route: string, status: number, seconds: number): void {
    this.http.observe({ method, route, status: String(status) }, seconds);
  }
}
