/**
 * @module worker/worker-ipc
 * The messages between the worker process and its supervisor, over a `child_process.fork` IPC
 * channel with `serialization: 'advanced'`: Buffers and typed arrays cross as structured clones
 * (V8 serializer), never as JSON. Replies reuse the generation thread's {@link ThreadMessage}.
 */
import { FluxServeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ThreadCommand, ThreadInit } from './generation-protocol.js';

export type { ThreadInit, ThreadMessage, ThreadResult } from './generation-protocol.js';

/** Supervisor → worker. `init` is the first message (unless the init came as argv JSON). */
export type WorkerCommand = { readonly type: 'init'; readonly init: ThreadInit } | ThreadCommand;

/** A failure of the worker process rather than of the request: the task may run again elsewhere. */
export class WorkerFailure extends FluxServeError {
  readonly retryable = true;
}

export const workerErrors = {
  /** The worker process exited (crash, OOM kill, signal) while it ran the task. */
  CRASHED: (why: string) =>
    new WorkerFailure('FLUX_ERR_WORKER_CRASHED', 503, `the worker process died during the task: ${why}`),
  /** The task ran longer than the per-task limit; the worker was killed and restarts. */
  TASK_TIMEOUT: (ms: number) =>
    new WorkerFailure(
      'FLUX_ERR_TASK_TIMEOUT',
      503,
      `the task ran longer than ${ms} ms; the worker was restarted`,
    ),
  /** The supervisor was closed before the task could finish. */
  CLOSED: () => new FluxServeError('FLUX_ERR_WORKER_CLOSED', 503, 'the worker supervisor is closed'),
} as const;

const pinoLevels: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/**
 * Re-emits one line of the worker's stderr through the supervisor's logger: pino JSON lines keep
 * their level, message and fields; anything else (a native crash report) is logged as a warning.
 * @example forwardChildLine('{"level":30,"msg":"loaded"}', log);
 */
export function forwardChildLine(line: string, log: Logger): void {
  const text = line.trim();
  if (!text) return;
  if (text.startsWith('{')) {
    try {
      const {
        level,
        msg,
        time: _time,
        pid: _pid,
        hostname: _host,
        app: _app,
        worker: _worker,
        ...fields
      } = JSON.parse(text);
      const name = typeof level === 'number' ? pinoLevels[level] : undefined;
      if (name) {
        log[name](fields, typeof msg === 'string' ? msg : '');
        return;
      }
    } catch {
      // not JSON: fall through
    }
  }
  log.warn({ stderr: text }, 'worker stderr');
}
