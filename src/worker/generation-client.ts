/**
 * @module worker/generation-client
 * The owner's side of a generation thread: start it (the model loads there), send requests, get
 * step progress and results as promises. A crashed thread rejects every pending request.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { FluxServeError } from '../errors.js';
import type { StepProgress } from '../pipeline/generate.js';
import type { GenerationRequest } from '../pipeline/generation-request.js';

import type { Provider } from '../runtime/session.js';
import type {
  RunOptions,
  ThreadCommand,
  ThreadInit,
  ThreadMessage,
  ThreadResult,
} from './generation-protocol.js';
import { progressOf } from './generation-protocol.js';

interface Pending {
  resolve: (r: ThreadResult) => void;
  reject: (e: Error) => void;
  onStep?: (p: StepProgress) => void;
}

/**
 * Starts the thread's module: the compiled .js as is; the .ts source (tsx, vitest) through tsx's
 * register API, because Node 20 ignores `--import` loaders in a worker's execArgv.
 */
function spawn(workerData: ThreadInit): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./generation-thread.js', import.meta.url), { workerData });
  const api = import.meta.resolve('tsx/esm/api');
  const thread = new URL('./generation-thread.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(thread)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export class GenerationThread {
  private readonly pending = new Map<string, Pending>();

  private constructor(
    private readonly worker: Worker,
    readonly provider: Provider,
  ) {
    worker.on('message', (m: ThreadMessage) => this.dispatch(m));
    const failAll = (error: Error) => {
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`generation thread exited with code ${code}`)));
  }

  /** Starts the thread and resolves once its model is loaded. @example const t = await GenerationThread.start(init); */
  static start(init: ThreadInit): Promise<GenerationThread> {
    const worker = spawn(init);
    return new Promise((resolve, reject) => {
      const onMessage = (m: ThreadMessage) => {
        if (m.type !== 'ready') return;
        worker.off('error', reject);
        worker.off('message', onMessage);
        resolve(new GenerationThread(worker, m.provider));
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  }

  private dispatch(m: ThreadMessage): void {
    if (m.type === 'ready') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type === 'step') p.onStep?.(progressOf(m));
    else {
      this.pending.delete(m.id);
      if (m.type === 'done') p.resolve(m.result);
      else p.reject(new FluxServeError(m.error.code, m.error.statusCode, m.error.message));
    }
  }

  generate(
    request: GenerationRequest,
    onStep?: (p: StepProgress) => void,
    { signal, ...options }: RunOptions = {},
  ): Promise<ThreadResult> {
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...(onStep ? { onStep } : {}) });
      this.worker.postMessage({ type: 'task', id, request, ...options } satisfies ThreadCommand);
      signal?.addEventListener(
        'abort',
        () => this.worker.postMessage({ type: 'cancel', id } satisfies ThreadCommand),
        {
          once: true,
        },
      );
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
