/**
 * @module jobs/dispatcher
 * Moves tasks from the queue to the executor one at a time: claim the oldest `created` task, run
 * it, write its outputs to the output store, and only then mark it `completed`. A retryable
 * failure (the worker crashed or hung) puts the task back in the queue, up to the attempt limit;
 * any other failure fails the task with the error's message.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import type { GenerationRequest } from '../pipeline/generation-request.js';
import type { LocalOutputStore } from './output-store.js';
import type { Task, TaskStore } from './task.js';

export interface ExecutorResult {
  readonly outputs: Buffer[];
  readonly seed: number;
  readonly timings: Readonly<Record<string, number>>;
}

/** What runs a request: a worker thread or process that owns the model. */
export interface Executor {
  generate(
    request: GenerationRequest,
    onStep?: (step: number, total: number) => void,
  ): Promise<ExecutorResult>;
}

export interface DispatcherOptions {
  readonly maxAttempts: number;
  readonly log: Logger;
}

function retryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;
}

export class Dispatcher extends EventEmitter<{ finished: [Task] }> {
  private readonly progressById = new Map<string, { step: number; total: number }>();
  private wake: (() => void) | undefined;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly store: TaskStore,
    private readonly outputs: LocalOutputStore,
    private readonly executor: Executor,
    private readonly options: DispatcherOptions,
  ) {
    super();
  }

  /** Live step progress of the running task. */
  progress(id: string): { step: number; total: number } | undefined {
    return this.progressById.get(id);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** A task was queued: wake the loop if it waits. */
  notify(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.notify();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const task = this.store.claimNext();
      if (!task) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      await this.execute(task);
    }
  }

  private async execute(task: Task): Promise<void> {
    const log = this.options.log.child({ taskId: task.id });
    log.info({ attempt: task.attempts }, 'task started');
    try {
      const result = await this.executor.generate(task.request, (step, total) =>
        this.progressById.set(task.id, { step, total }),
      );
      const ext = task.request.outputFormat;
      const names = [];
      for (const [i, bytes] of result.outputs.entries())
        names.push(await this.outputs.write(task.id, i, bytes, ext));
      const t = result.timings;
      const done = this.store.complete(task.id, {
        outputs: names,
        hasNsfwContents: [],
        seed: result.seed,
        timings: {
          inference: Math.round(t.totalMs ?? 0),
          queue: task.startedAt !== null ? task.startedAt - task.createdAt : 0,
          text: Math.round(t.textMs ?? 0),
          denoise: Math.round(t.denoiseMs ?? 0),
          decode: Math.round(t.decodeMs ?? 0),
          total: Date.now() - task.createdAt,
        },
      });
      log.info({ outputs: names.length, seed: result.seed }, 'task completed');
      this.emit('finished', done);
    } catch (error) {
      if (retryable(error)) {
        const { requeued, failed } = this.store.recoverInterrupted(this.options.maxAttempts);
        log.warn({ err: error, requeued, failed }, 'worker lost the task');
        for (const id of failed) {
          const t = this.store.get(id);
          if (t) this.emit('finished', t);
        }
      } else {
        const failed = this.store.fail(task.id, (error as Error).message);
        log.warn({ err: error }, 'task failed');
        this.emit('finished', failed);
      }
    } finally {
      this.progressById.delete(task.id);
    }
  }
}
