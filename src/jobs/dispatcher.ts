/**
 * @module jobs/dispatcher
 * Moves tasks from the queue to the executor one at a time: claim the oldest `created` task, run
 * it, write its outputs to the output store, and only then mark it `completed`. A retryable
 * failure (the worker crashed or hung) puts the task back in the queue, up to the attempt limit;
 * any other failure fails the task with the error's message.
 */
import { EventEmitter } from 'node:events';
import { errors, isStoreUnavailable } from '../errors.js';
import type { Logger } from '../log.js';
import type { StepProgress } from '../pipeline/generate.js';
import type { GenerationRequest, LoraRequest } from '../pipeline/generation-request.js';
import type { LocalOutputStore } from './output-store.js';
import type { Task, TaskStore } from './task.js';
import { WakeLoop } from './wake-loop.js';

export interface ExecutorResult {
  readonly outputs: Buffer[];
  /** One flag per output (api.md `has_nsfw_contents`); absent = not checked (all false). */
  readonly hasNsfwContents?: readonly boolean[];
  readonly seed: number;
  readonly timings: Readonly<Record<string, number>>;
  readonly warnings?: readonly string[];
  /** LoRAs the executor found parsed in memory / had to read and convert. */
  readonly loraCache?: { readonly hits: number; readonly misses: number };
  /** Prompt tokens past what each encoder reads (CLIP 77, T5 the model's maximum), dropped. */
  readonly droppedTokens?: { readonly clip: number; readonly t5: number };
}

/**
 * Makes a request's LoRAs local before the worker sees them (downloads, cache lookups): each entry
 * comes back with `file` and `sha256`. It runs as the first part of the task (bounded by the
 * download limits); a failure fails the task with its message.
 */
export type LoraResolver = (
  loras: readonly LoraRequest[],
  signal: AbortSignal,
  log: Logger,
  /** Aborted when the task ends: until then the resolved files must stay (no cache eviction). */
  heldUntil?: AbortSignal,
) => Promise<LoraRequest[]>;

/** What runs a request: a worker thread or process that owns the model. */
export interface Executor {
  /**
   * False while no task can start (the model is loading, or the worker is restarting): nothing is
   * claimed meanwhile, so queued tasks stay `created` and spend no attempt on a worker that is not there.
   */
  ready?(): boolean;
  generate(
    request: GenerationRequest,
    onStep?: (p: StepProgress) => void,
    options?: { readonly signal?: AbortSignal },
  ): Promise<ExecutorResult>;
}

export interface DispatcherOptions {
  readonly maxAttempts: number;
  readonly log: Logger;
  /** Required for requests with LoRAs; without it they fail with a clear error. */
  readonly resolveLoras?: LoraResolver;
  /** With nothing to claim, look again after this long even if not notified, ms (default: only when notified). */
  readonly pollMs?: number;
}

function retryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;
}

/** How often the outcome of a finished task is offered again to a store that does not answer, ms. */
const RECORD_RETRY_MS = 250;
/** How often a dispatcher whose executor is not ready looks again, ms. */
const READY_POLL_MS = 200;

/**
 * `finished`: a task reached `completed` or `failed`. `changed`: something a watcher of task `id`
 * may show changed (it started, stepped or finished; a start also moves everyone's queue position).
 */
export interface DispatcherEvents {
  finished: [Task];
  changed: [id: string];
  loraCache: [hits: number, misses: number];
}

/**
 * What the API needs of the machinery that runs tasks: its events, live progress, a nudge after a
 * submit, and cancel. The Dispatcher is one (embedded mode); `jobs/redis-task-events` is the other,
 * relaying the dispatchers of every worker host over Redis pub/sub (scale-out mode).
 */
export interface TaskControl {
  on<K extends keyof DispatcherEvents>(event: K, listener: (...args: DispatcherEvents[K]) => void): unknown;
  off<K extends keyof DispatcherEvents>(event: K, listener: (...args: DispatcherEvents[K]) => void): unknown;
  progress(id: string): StepProgress | undefined;
  notify(): void;
  /**
   * Cancels a task (api.md extension): a queued one fails at once with `cancelled`; a running one
   * is stopped at its next step and then fails the same way. Resolves to the task as it is now.
   * @throws FLUX_ERR_TASK_NOT_FOUND, or FLUX_ERR_TASK_STATE (409) for a finished task
   */
  cancel(id: string): Promise<Task>;
}

export class Dispatcher extends EventEmitter<DispatcherEvents> implements TaskControl {
  private readonly progressById = new Map<string, StepProgress>();
  private current: { readonly id: string; readonly abort: AbortController } | undefined;
  private readonly loop = new WakeLoop(() => this.pass());

  constructor(
    private readonly store: TaskStore,
    private readonly outputs: LocalOutputStore,
    private readonly executor: Executor,
    private readonly options: DispatcherOptions,
  ) {
    super();
  }

  /** Live step progress of the running task. */
  progress(id: string): StepProgress | undefined {
    return this.progressById.get(id);
  }

  start(): void {
    this.loop.start();
  }

  /** A task was queued: wake the loop if it waits. */
  notify(): void {
    this.loop.notify();
  }

  /** TaskControl.cancel, for the task this dispatcher runs. */
  async cancel(id: string): Promise<Task> {
    const task = await this.store.get(id);
    if (!task) throw errors.TASK_NOT_FOUND(id);
    if (task.status === 'created') {
      const failed = await this.store.fail(id, errors.CANCELLED().message);
      this.options.log.info({ taskId: id }, 'task cancelled while queued');
      this.finish(failed);
      return failed;
    }
    if (task.status === 'processing' && this.abortRunning(id)) return task;
    throw errors.TASK_STATE(id, task.status, 'cancelled');
  }

  /** Stops task `id` at its next step if this dispatcher runs it; false when it does not. */
  abortRunning(id: string): boolean {
    if (this.current?.id !== id) return false;
    this.current.abort.abort(errors.CANCELLED());
    return true;
  }

  private async localLoras(
    request: GenerationRequest,
    signal: AbortSignal,
    log: Logger,
    heldUntil: AbortSignal,
  ): Promise<GenerationRequest> {
    if (!request.loras?.length) return request;
    if (!this.options.resolveLoras) throw errors.USAGE('loras: this server has no LoRA source configured');
    return { ...request, loras: await this.options.resolveLoras(request.loras, signal, log, heldUntil) };
  }

  private finish(task: Task): void {
    this.emit('finished', task);
    this.emit('changed', task.id);
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** Runs the next task; with none, sleeps until a submit nudges (or, on a shared queue, a poll). */
  private async pass(): Promise<number> {
    if (this.executor.ready?.() === false) return READY_POLL_MS;
    const task = await this.claim();
    // A shared queue (Redis) gets tasks from other hosts: look again now and then.
    if (!task) return this.options.pollMs ?? Number.POSITIVE_INFINITY;
    // A task the store refused to finish (it was finished elsewhere: a worker that lost its lock
    // and had the task run again on another host) must not stop the loop.
    await this.execute(task).catch((err) =>
      this.options.log.error({ err, taskId: task.id }, 'task outcome not recorded'),
    );
    return 0;
  }

  /** The next task, or none; a store that cannot answer (Redis unreachable) is retried by the poll. */
  private async claim(): Promise<Task | undefined> {
    try {
      return await this.store.claimNext();
    } catch (err) {
      this.options.log.error({ err }, 'cannot claim a task; will retry');
      await new Promise((r) => setTimeout(r, this.options.pollMs ?? 1000));
      return undefined;
    }
  }

  /**
   * Records a task's outcome, offering it again while the store does not answer (Redis restarting):
   * the outputs are written, so the task must neither fail for it nor be left `processing`.
   */
  private async record(log: Logger, write: () => Promise<Task>): Promise<Task> {
    for (let tries = 1; ; tries++) {
      try {
        return await write();
      } catch (err) {
        // The store does not answer (Redis unreachable): the outcome waits, the task is not failed for it.
        if (!isStoreUnavailable(err) || !this.loop.active) throw err;
        if (tries === 1) log.warn({ err }, 'task store unavailable; recording the outcome when it is back');
        await new Promise((r) => setTimeout(r, RECORD_RETRY_MS));
      }
    }
  }

  private async execute(task: Task): Promise<void> {
    const log = this.options.log.child({ taskId: task.id });
    log.info({ attempt: task.attempts }, 'task started');
    const abort = new AbortController();
    const ended = new AbortController();
    this.current = { id: task.id, abort };
    // Every queued task moved up one place.
    this.emit('changed', task.id);
    try {
      const loraStarted = Date.now();
      const request = await this.localLoras(task.request, abort.signal, log, ended.signal);
      const loraResolveMs = Date.now() - loraStarted;
      const result = await this.executor.generate(
        request,
        (p) => {
          this.progressById.set(task.id, p);
          this.emit('changed', task.id);
        },
        { signal: abort.signal },
      );
      const ext = task.request.outputFormat;
      const names: string[] = [];
      for (const [i, bytes] of result.outputs.entries())
        names.push(await this.outputs.write(task.id, i, bytes, ext));
      const t = result.timings;
      if (result.loraCache) this.emit('loraCache', result.loraCache.hits, result.loraCache.misses);
      const done = await this.record(log, () =>
        this.store.complete(task.id, {
          outputs: names,
          // One entry per output, as the hosted API answers: false when nothing was checked.
          hasNsfwContents: names.map((_, i) => result.hasNsfwContents?.[i] ?? false),
          seed: result.seed,
          warnings: result.warnings ?? [],
          timings: {
            ...(request.loras?.length ? { lora_load: loraResolveMs + Math.round(t.loraMs ?? 0) } : {}),
            inference: Math.round(t.totalMs ?? 0),
            queue: task.startedAt !== null ? task.startedAt - task.createdAt : 0,
            text: Math.round(t.textMs ?? 0),
            denoise: Math.round(t.denoiseMs ?? 0),
            decode: Math.round(t.decodeMs ?? 0),
            ...(t.safetyMs !== undefined ? { safety: Math.round(t.safetyMs) } : {}),
            total: Date.now() - task.createdAt,
          },
        }),
      );
      if (result.droppedTokens && (result.droppedTokens.clip > 0 || result.droppedTokens.t5 > 0))
        log.warn({ droppedTokens: result.droppedTokens }, 'prompt truncated to what the text encoders read');
      log.info({ outputs: names.length, seed: result.seed }, 'task completed');
      this.finish(done);
    } catch (error) {
      if (abort.signal.aborted) {
        const cancelled = await this.record(log, () => this.store.fail(task.id, errors.CANCELLED().message));
        log.info('task cancelled while running');
        this.finish(cancelled);
      } else if (retryable(error) && task.attempts < this.options.maxAttempts) {
        const { requeued, failed } = await this.store.recoverInterrupted(this.options.maxAttempts);
        log.warn({ err: error, requeued, failed }, 'worker lost the task');
        for (const id of failed) {
          const t = await this.store.get(id);
          if (t) this.finish(t);
        }
        for (const id of requeued) this.emit('changed', id);
      } else {
        // A worker failure on the last attempt fails with what went wrong, not a generic interruption.
        const last = retryable(error)
          ? ` (attempt ${task.attempts} of ${this.options.maxAttempts}, not retried)`
          : '';
        const failed = await this.record(log, () =>
          this.store.fail(task.id, `${(error as Error).message}${last}`),
        );
        log.warn({ err: error }, 'task failed');
        this.finish(failed);
      }
    } finally {
      ended.abort();
      this.progressById.delete(task.id);
      this.current = undefined;
    }
  }
}
