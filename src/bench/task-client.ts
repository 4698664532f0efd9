/**
 * @module bench/task-client
 * One benchmark request against a WaveSpeed-compatible endpoint (the hosted API or flux-serve),
 * timed, with the retry rules of the official SDKs (wavespeed npm 0.3.2 `dist/api/client.js`,
 * mirrored by the Python SDK):
 * - the submit POST is sent once and never retried (the task may already exist);
 * - a result GET is retried up to `maxConnectionRetries` times on a connection error, a request
 *   timeout or HTTP 429/500/502/503/504, after `retryInterval × attempt` seconds;
 * - the whole task (submit + wait) is retried up to `maxRetries` times (default 0) when the error the
 *   SDK would raise contains one of its retry words (`_isRetryableError`: "timeout", "connection",
 *   "http 5", "429", not "sync mode timed out"), judged on the SDK's own wording of that error: so
 *   after result GETs that ran out on a 5xx or a 429, or a task that failed with such words in its
 *   error — never after a failed submission, result GETs that ran out on a connection error ("Failed
 *   to get result … after N attempts: fetch failed" has none of the words), or the task's own time
 *   limit ("Prediction timed out …").
 * Failures are sorted into kinds (`submit_http_400`, `poll_connection`, `task_failed`, `timeout`…).
 *
 * Queue time is the task's own `timings.queue` where the endpoint reports it (flux-serve). The hosted
 * API reports only `timings.inference`, so there it is measured here: from the submit POST to the
 * first result GET that shows `processing` (an upper bound, by up to one poll interval), or, when no
 * poll caught the task processing, end to end minus inference (which also counts the upload of the
 * outputs and the last poll's delay). Runs say which (`queueSource`).
 */

/** HTTP statuses of a result GET worth another try (the SDKs' RETRYABLE_STATUS_CODES). */
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

export interface Endpoint {
  /** e.g. `https://api.wavespeed.ai` or `http://127.0.0.1:8080`. */
  readonly base: string;
  readonly key?: string;
  /** Hosted model id, e.g. `wavespeed-ai/flux-schnell-lora`. */
  readonly model: string;
}

export interface RetryRules {
  /** Task-level retries (SDK `maxRetries`, default 0). */
  readonly maxRetries: number;
  /** Result-GET retries (SDK `maxConnectionRetries`, default 5). */
  readonly maxConnectionRetries: number;
  /** Base delay between retries, ms (SDK `retryInterval` 1 s); try n waits n × this. */
  readonly retryIntervalMs: number;
  /** One HTTP request's limit, ms (SDK `connectionTimeout` 10 s for GETs). */
  readonly requestTimeoutMs: number;
  /** Longest wait for a task to finish, ms (the SDK's `timeout`). */
  readonly taskTimeoutMs: number;
  readonly pollIntervalMs: number;
}

export const SDK_RETRY_RULES: RetryRules = {
  maxRetries: 0,
  maxConnectionRetries: 5,
  retryIntervalMs: 1000,
  requestTimeoutMs: 10_000,
  taskTimeoutMs: 300_000,
  pollIntervalMs: 250,
};

export type QueueSource = 'task' | 'client';

export interface TaskRun {
  readonly ok: boolean;
  /** Failure kind, e.g. `submit_http_429`; undefined when ok. */
  readonly failure?: string;
  readonly error?: string;
  readonly taskId?: string;
  /** Submit POST round trip of the last attempt, ms. */
  readonly submitMs?: number;
  /** From the first POST to seeing the task final, ms (what a client waits, retries included). */
  readonly endToEndMs?: number;
  /** Time the task waited to start, ms: the task's `timings.queue`, else measured here (module header). */
  readonly queueMs?: number;
  /** `task`: the endpoint's `timings.queue`; `client`: measured by this client. */
  readonly queueSource?: QueueSource;
  /** The task's own `timings.inference`, ms, where the endpoint reports it. */
  readonly inferenceMs?: number;
  readonly outputs: readonly string[];
  /** Result GETs and task attempts retried. */
  readonly retries: number;
}

/** The SDKs' task-level retry test on the text of the error they raise (`_isRetryableError`). */
function sdkRetries(sdkError: string): boolean {
  const s = sdkError.toLowerCase();
  if (s.includes('sync mode timed out')) return false;
  return ['timeout', 'connection', 'http 5', '429'].some((word) => s.includes(word));
}

/**
 * A failed step, with its kind and whether the SDK rules retry the task after it: `sdkError` is
 * the SDK's wording of the same failure, which its retry test reads (undefined: never retried).
 */
class StepError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly kind: string,
    message: string,
    sdkError: string | undefined,
    readonly taskId?: string,
  ) {
    super(message);
    this.name = 'StepError';
    this.retryable = sdkError !== undefined && sdkRetries(sdkError);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function headers(e: Endpoint): Record<string, string> {
  return {
    'content-type': 'application/json',
    ...(e.key ? { authorization: `Bearer ${e.key}` } : {}),
  };
}

const trimBase = (base: string) => base.replace(/\/+$/, '');

async function fetchJson(
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): keep the text for the message.
  }
  return { status: res.status, body };
}

interface TaskData {
  readonly id?: string;
  readonly status?: string;
  readonly outputs?: string[];
  readonly error?: string;
  readonly timings?: Record<string, number>;
}

const dataOf = (body: unknown): TaskData => ((body as { data?: TaskData } | null)?.data ?? {}) as TaskData;

const short = (body: unknown) => (typeof body === 'string' ? body : JSON.stringify(body)).slice(0, 300);

async function submit(e: Endpoint, input: Record<string, unknown>, r: RetryRules): Promise<string> {
  let res: { status: number; body: unknown };
  try {
    res = await fetchJson(
      `${trimBase(e.base)}/api/v3/${e.model}`,
      { method: 'POST', headers: headers(e), body: JSON.stringify(input) },
      r.taskTimeoutMs,
    );
  } catch (err) {
    throw new StepError('submit_connection', `submit: ${(err as Error).message}`, undefined);
  }
  if (res.status < 200 || res.status >= 300)
    throw new StepError(
      `submit_http_${res.status}`,
      `submit: HTTP ${res.status}: ${short(res.body)}`,
      undefined,
    );
  const id = dataOf(res.body).id;
  if (!id) throw new StepError('submit_no_id', `submit: no task id in ${short(res.body)}`, undefined);
  return id;
}

/** One result GET with the SDK's connection retries; counts retries into `tally`. */
async function result(e: Endpoint, id: string, r: RetryRules, tally: { retries: number }): Promise<TaskData> {
  const url = `${trimBase(e.base)}/api/v3/predictions/${encodeURIComponent(id)}/result`;
  for (let attempt = 0; ; attempt++) {
    let failure: StepError;
    try {
      const res = await fetchJson(url, { method: 'GET', headers: headers(e) }, r.requestTimeoutMs);
      if (res.status >= 200 && res.status < 300) return dataOf(res.body);
      const body = short(res.body);
      failure = new StepError(
        `poll_http_${res.status}`,
        `result: HTTP ${res.status}: ${body}`,
        `Failed to get result for task ${id}: HTTP ${res.status}: ${body}`,
        id,
      );
      if (!RETRYABLE_STATUS.has(res.status)) throw failure;
    } catch (err) {
      if (err instanceof StepError) throw err;
      const why = (err as Error).message;
      const tries = r.maxConnectionRetries + 1;
      failure = new StepError(
        'poll_connection',
        `result: ${why}`,
        `Failed to get result for task ${id} after ${tries} attempts: ${why}`,
        id,
      );
    }
    if (attempt >= r.maxConnectionRetries) throw failure;
    tally.retries++;
    await sleep(r.retryIntervalMs * (attempt + 1));
  }
}

/** The SDKs treat these as final failures (`TERMINAL_FAILURE_STATUSES`). */
const FAILED = new Set(['failed', 'cancelled', 'timeout', 'deleted']);

interface Attempt {
  readonly data: TaskData;
  readonly id: string;
  readonly submitMs: number;
  /** From the submit POST to seeing the task completed, ms. */
  readonly attemptMs: number;
  /** From the submit POST to the first result that showed `processing`, ms; undefined if none did. */
  readonly untilProcessingMs?: number;
}

async function attempt(
  e: Endpoint,
  input: Record<string, unknown>,
  r: RetryRules,
  tally: { retries: number },
): Promise<Attempt> {
  const started = performance.now();
  const id = await submit(e, input, r);
  const submitMs = performance.now() - started;
  let untilProcessingMs: number | undefined;
  for (;;) {
    const data = await result(e, id, r, tally);
    if (data.status === 'processing') untilProcessingMs ??= performance.now() - started;
    if (data.status === 'completed')
      return {
        data,
        id,
        submitMs,
        attemptMs: performance.now() - started,
        ...(untilProcessingMs !== undefined && { untilProcessingMs }),
      };
    if (data.status && FAILED.has(data.status))
      throw new StepError(
        'task_failed',
        `task ${id} ${data.status}: ${data.error ?? ''}`,
        `Prediction failed (task_id: ${id}): ${data.error || `Task ${data.status}`}`,
        id,
      );
    if (performance.now() - started >= r.taskTimeoutMs)
      throw new StepError(
        'timeout',
        `task ${id} not final after ${r.taskTimeoutMs} ms`,
        `Prediction timed out after ${r.taskTimeoutMs / 1000} seconds (task_id: ${id})`,
        id,
      );
    await sleep(r.pollIntervalMs);
  }
}

/** The task's queue time, or the client's measure of it (module header); nothing if neither is known. */
function queueTime(
  done: Attempt,
  t: Readonly<Record<string, number>>,
): { queueMs?: number; queueSource?: QueueSource } {
  if (typeof t.queue === 'number') return { queueMs: t.queue, queueSource: 'task' };
  if (done.untilProcessingMs !== undefined) return { queueMs: done.untilProcessingMs, queueSource: 'client' };
  if (typeof t.inference === 'number')
    return { queueMs: Math.max(0, done.attemptMs - t.inference), queueSource: 'client' };
  return {};
}

/**
 * Submits `input` and waits for the task, under the SDK retry rules; never throws.
 * @example const run = await runTask({ base: 'http://127.0.0.1:8080', model: 'wavespeed-ai/flux-schnell-lora' }, { prompt: 'a cat' }, SDK_RETRY_RULES);
 */
export async function runTask(e: Endpoint, input: Record<string, unknown>, r: RetryRules): Promise<TaskRun> {
  const started = performance.now();
  const tally = { retries: 0 };
  for (let n = 0; ; n++) {
    try {
      const done = await attempt(e, input, r, tally);
      const t = done.data.timings ?? {};
      return {
        ok: true,
        taskId: done.id,
        submitMs: done.submitMs,
        endToEndMs: performance.now() - started,
        ...queueTime(done, t),
        ...(typeof t.inference === 'number' && { inferenceMs: t.inference }),
        outputs: done.data.outputs ?? [],
        retries: tally.retries,
      };
    } catch (err) {
      const step =
        err instanceof StepError ? err : new StepError('client_error', (err as Error).message, undefined);
      if (!step.retryable || n >= r.maxRetries)
        return {
          ok: false,
          failure: step.kind,
          error: step.message,
          ...(step.taskId && { taskId: step.taskId }),
          outputs: [],
          retries: tally.retries,
        };
      tally.retries++;
      await sleep(r.retryIntervalMs * (n + 1));
    }
  }
}
