/**
 * @module worker/worker-supervisor
 * The server's side of the worker process: it forks the child that owns the model, reports
 * readiness (false until the model is loaded), sends one task at a time and watches it. When the
 * child dies or a task runs past `taskTimeoutMs`, the task is rejected with a retryable
 * `FLUX_ERR_WORKER_CRASHED` / `FLUX_ERR_TASK_TIMEOUT` (the caller re-queues it), the child is
 * killed and a fresh one is started, and readiness is false until its model is loaded again.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { errors, FluxServeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StepProgress } from '../pipeline/generate.js';
import type { GenerationRequest } from '../pipeline/generation-request.js';
import type { Provider } from '../runtime/session.js';
import type {
  RenderOptions,
  RunOptions,
  ThreadInit,
  ThreadMessage,
  ThreadResult,
} from './generation-protocol.js';
import { progressOf } from './generation-protocol.js';
import { forwardChildLine, type WorkerCommand, workerErrors } from './worker-ipc.js';

export interface WorkerSupervisorOptions {
  /** The longest one task may run in the child before it is killed and the task fails. */
  readonly taskTimeoutMs: number;
  readonly log: Logger;
  /** Delay before a dead child is replaced (doubled after each child that dies before it is ready, up to 30 s). Default 200 ms. */
  readonly restartDelayMs?: number;
  /**
   * How long a cancelled task may take to stop at its next step before the child is killed (and
   * restarted) instead: a step or a VAE decode at full size can take seconds. Default 10 s.
   */
  readonly cancelGraceMs?: number;
}

interface Running {
  readonly id: string;
  readonly resolve: (r: ThreadResult) => void;
  readonly reject: (e: Error) => void;
  readonly onStep: ((p: StepProgress) => void) | undefined;
  readonly timer: NodeJS.Timeout;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // nobody waiting is not an unhandled rejection
  return { promise, resolve, reject };
}

/**
 * Forks the worker: the compiled .js as is; the .ts source (tsx, vitest) with tsx's loader, which a
 * child process (unlike a worker thread) accepts through `--import`.
 */
function forkWorker(): ChildProcess {
  const ts = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(ts ? './worker-process.ts' : './worker-process.js', import.meta.url));
  return fork(entry, [], {
    serialization: 'advanced',
    execArgv: ts ? ['--import', import.meta.resolve('tsx')] : [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
}

export class WorkerSupervisor {
  private child: ChildProcess | undefined;
  private running: Running | undefined;
  private readiness = deferred();
  private isReady = false;
  /** Whether the current child got as far as loading its model (a failed load backs off). */
  private childLoaded = false;
  private closed = false;
  private failedStarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;
  /** The execution provider the current child loaded its model on (once ready). */
  provider: Provider | undefined;

  private constructor(
    private readonly init: ThreadInit,
    private readonly options: WorkerSupervisorOptions,
  ) {
    this.log = options.log.child({ component: 'worker-supervisor' });
  }

  /** Forks the worker and returns at once; `ready` turns true when its model is loaded. @example const w = WorkerSupervisor.start(init, { taskTimeoutMs: 600_000, log }); await w.waitReady(); */
  static start(init: ThreadInit, options: WorkerSupervisorOptions): WorkerSupervisor {
    const supervisor = new WorkerSupervisor(init, options);
    supervisor.spawn();
    return supervisor;
  }

  /** True while a child with a loaded model is up. */
  get ready(): boolean {
    return this.isReady;
  }

  /** The current child's process id (for diagnostics and tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves when a child has its model loaded; rejects if the supervisor is closed first. */
  waitReady(): Promise<void> {
    return this.readiness.promise;
  }

  /**
   * Renders a request in the child. Tasks run one at a time, in call order; each waits for a ready
   * child, and its timeout starts when the child receives it.
   */
  run(
    request: GenerationRequest,
    onStep?: (p: StepProgress) => void,
    options: RunOptions = {},
  ): Promise<ThreadResult> {
    const task = this.tail.then(() => this.execute(request, onStep, options));
    this.tail = task.catch(() => {});
    return task;
  }

  /** Kills the child and rejects the running and waiting tasks. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.isReady = false;
    clearTimeout(this.restartTimer);
    this.readiness.reject(workerErrors.CLOSED());
    this.fail(workerErrors.CLOSED());
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }

  private async execute(
    request: GenerationRequest,
    onStep: ((p: StepProgress) => void) | undefined,
    { signal, ...options }: RunOptions,
  ): Promise<ThreadResult> {
    signal?.throwIfAborted();
    await this.waitReady();
    signal?.throwIfAborted();
    const child = this.child;
    if (this.closed || !child) throw workerErrors.CLOSED();
    const id = randomUUID();
    const onAbort = () => this.cancel(child, id);
    signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise<ThreadResult>((resolve, reject) => {
      const timer = setTimeout(() => this.timeout(id), this.options.taskTimeoutMs);
      this.running = { id, resolve, reject, onStep, timer };
      child.send(
        { type: 'task', id, request, ...(options satisfies RenderOptions) } satisfies WorkerCommand,
        (error) => {
          if (error) this.log.warn({ err: error, id }, 'could not send the task to the worker');
        },
      );
    }).finally(() => signal?.removeEventListener('abort', onAbort));
  }

  /** Asks the child to stop the task at its next step; kills the child if it has not within the grace. */
  private cancel(child: ChildProcess, id: string): void {
    if (this.running?.id !== id) return;
    child.send({ type: 'cancel', id } satisfies WorkerCommand, () => {});
    setTimeout(() => {
      if (this.running?.id !== id || child !== this.child) return;
      this.log.warn({ worker: child.pid, id }, 'cancelled task did not stop in time; killing the worker');
      this.markDown();
      this.fail(errors.CANCELLED());
      child.kill('SIGKILL');
    }, this.options.cancelGraceMs ?? 10_000).unref();
  }

  private spawn(): void {
    if (this.closed) return;
    const started = performance.now();
    const child = forkWorker();
    this.child = child;
    const log = this.log.child({ worker: child.pid });
    log.info({ modelDir: this.init.modelDir }, 'worker process started; loading the model');
    for (const stream of [child.stdout, child.stderr])
      if (stream) createInterface({ input: stream }).on('line', (line) => forwardChildLine(line, log));
    child.on('message', (m: ThreadMessage) => {
      if (child !== this.child) return;
      if (m.type === 'ready') {
        this.isReady = true;
        this.childLoaded = true;
        this.failedStarts = 0;
        this.provider = m.provider;
        log.info({ provider: m.provider, loadMs: Math.round(performance.now() - started) }, 'worker ready');
        this.readiness.resolve();
        return;
      }
      const r = this.running;
      if (!r || r.id !== m.id) return;
      if (m.type === 'step') r.onStep?.(progressOf(m));
      else if (m.type === 'done') this.settle(() => r.resolve(m.result));
      else this.settle(() => r.reject(new FluxServeError(m.error.code, m.error.statusCode, m.error.message)));
    });
    child.on('error', (error) => log.error({ err: error }, 'worker process error'));
    child.on('exit', (code, signal) => this.exited(child, code, signal));
    child.send({ type: 'init', init: this.init } satisfies WorkerCommand);
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child || this.closed) return;
    const loaded = this.childLoaded;
    this.markDown();
    this.child = undefined;
    this.childLoaded = false;
    if (!loaded) this.failedStarts++;
    const why = signal ? `killed by ${signal}` : `exit code ${code}`;
    this.log.error({ worker: child.pid, code, signal, loaded }, `worker process exited (${why}); restarting`);
    this.fail(workerErrors.CRASHED(why));
    const base = this.options.restartDelayMs ?? 200;
    const delay = Math.min(30_000, base * 2 ** Math.min(this.failedStarts, 8));
    this.restartTimer = setTimeout(() => this.spawn(), this.failedStarts ? delay : base);
  }

  /** Readiness goes false (and `waitReady` waits for the next child) the moment a child is lost. */
  private markDown(): void {
    if (this.isReady) this.readiness = deferred();
    this.isReady = false;
  }

  private timeout(id: string): void {
    if (this.running?.id !== id) return;
    const ms = this.options.taskTimeoutMs;
    this.log.error({ worker: this.child?.pid, id, ms }, 'task timed out; killing the worker');
    this.markDown();
    this.fail(workerErrors.TASK_TIMEOUT(ms));
    // The exit handler starts the replacement.
    this.child?.kill('SIGKILL');
  }

  private settle(finish: () => void): void {
    const r = this.running;
    if (!r) return;
    clearTimeout(r.timer);
    this.running = undefined;
    finish();
  }

  private fail(error: Error): void {
    const r = this.running;
    if (r) this.settle(() => r.reject(error));
  }
}
