/**
 * @module api/task-view
 * A task as the hosted API shows it (api.md, "Task data object"): the submit response, the result
 * routes, history items and webhook bodies all use this one shape, so clients see the same fields
 * everywhere. Extensions (seed, size, progress, queue position, stage timings, warnings) are added
 * only as extra keys, which hosted clients ignore.
 */
import type { Task, TaskStatus } from '../jobs/task.js';
import type { StepProgress } from '../pipeline/generate.js';

export interface TaskViewOptions {
  /** The configured public base URL, e.g. `https://gpu.example.com` (a path prefix is kept). */
  readonly publicBaseUrl: string;
  /** Where an output file is served: an absolute URL, or a path joined to `publicBaseUrl`. */
  readonly outputUrl: (name: string) => string;
  /** Data URIs in output order, when the request asked for `enable_base64_output`. */
  readonly base64Outputs?: readonly string[];
  /** Live state the store does not keep; shown only when given. */
  readonly progress?: StepProgress;
  readonly queuePosition?: number;
  readonly warnings?: readonly string[];
}

export interface TaskData {
  readonly id: string;
  readonly model: string;
  readonly outputs: string[];
  readonly urls: { readonly get: string };
  readonly has_nsfw_contents: boolean[];
  readonly status: TaskStatus;
  /** ISO 8601. */
  readonly created_at: string;
  /** `""` unless failed, as the hosted service answers. */
  readonly error: string;
  readonly timings: { readonly inference: number } & Readonly<Record<string, number>>;
  readonly seed: number | null;
  /** `"W*H"`: outputs are resized to exactly the requested size. */
  readonly size: string;
  readonly progress?: StepProgress;
  readonly queue_position?: number;
  readonly warnings?: string[];
}

function absolute(base: string, pathOrUrl: string): string {
  if (/^https?:\/\//i.test(pathOrUrl)) return pathOrUrl;
  return `${base.replace(/\/+$/, '')}/${pathOrUrl.replace(/^\/+/, '')}`;
}

/** Stage timings beyond `inference`, renamed to the contract's keys, only those measured. */
function timings(task: Task): TaskData['timings'] {
  const t = task.timings;
  const extra: Record<string, number> = {};
  for (const key of ['queue', 'text', 'denoise', 'decode', 'lora_load', 'safety', 'total'] as const) {
    const v = t[key];
    if (v !== undefined) extra[key] = v;
  }
  return { inference: t.inference ?? 0, ...extra };
}

/**
 * The hosted task data object for a task.
 * @example taskData(task, { publicBaseUrl: 'http://127.0.0.1:8080', outputUrl: (n) => `/outputs/${n}` })
 * // { id, model, outputs: ['http://127.0.0.1:8080/outputs/abc-0.jpeg'], urls: { get: '…/api/v3/predictions/abc/result' }, status: 'completed', … }
 */
export function taskData(task: Task, opts: TaskViewOptions): TaskData {
  const completed = task.status === 'completed';
  // Outputs only exist once the task completes; before that clients must see an empty list.
  const outputs = !completed
    ? []
    : opts.base64Outputs
      ? [...opts.base64Outputs]
      : task.outputs.map((name) => absolute(opts.publicBaseUrl, opts.outputUrl(name)));
  const { request } = task;
  return {
    id: task.id,
    model: task.model,
    outputs,
    urls: { get: absolute(opts.publicBaseUrl, `/api/v3/predictions/${encodeURIComponent(task.id)}/result`) },
    has_nsfw_contents: completed ? [...task.hasNsfwContents] : [],
    status: task.status,
    created_at: new Date(task.createdAt).toISOString(),
    error: task.status === 'failed' ? (task.error ?? 'failed') : '',
    timings: timings(task),
    // A fixed seed is known before the run; a random one (-1) only once the worker drew it.
    seed: task.seed ?? (request.seed >= 0 ? request.seed : null),
    size: `${request.width}*${request.height}`,
    ...(opts.progress && { progress: { ...opts.progress } }),
    ...(opts.queuePosition !== undefined && { queue_position: opts.queuePosition }),
    ...(opts.warnings && { warnings: [...opts.warnings] }),
  };
}
