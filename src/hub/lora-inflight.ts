/**
 * @module hub/lora-inflight
 * Requests for the same LoRA source share one resolution: the first starts the work, later ones
 * wait on the same promise and see the same progress. Each waiter keeps its own identity: its
 * errors carry its own field name, its cancellation ends only its own wait, and the shared work is
 * aborted only when every waiter has gone. A new request arriving after such an abort waits for the
 * aborted work to let go of its files before starting again.
 */
import { FluxServeError } from '../errors.js';
import { fetchError } from './fetch-errors.js';

export type Progress = (received: number, total: number | undefined) => void;

/** What the shared work gets: the first waiter's field, and a signal and progress shared by all. */
export interface SharedContext {
  readonly field: string;
  readonly signal: AbortSignal;
  readonly onProgress: Progress;
}

interface Shared<T> {
  readonly promise: Promise<T>;
  readonly field: string;
  readonly controller: AbortController;
  readonly listeners: Set<Progress>;
  waiters: number;
}

/** `error` as the waiter named `to` should see it (the shared work named the first waiter's field). */
function refield(error: unknown, from: string, to: string): unknown {
  if (!(error instanceof FluxServeError) || from === to || !error.message.startsWith(`${from}: `))
    return error;
  const copy = new FluxServeError(
    error.code,
    error.statusCode,
    `${to}: ${error.message.slice(from.length + 2)}`,
  );
  if (error.cause !== undefined) copy.cause = error.cause;
  return copy;
}

export class InFlight<T> {
  private readonly shared = new Map<string, Shared<T>>();

  /** Number of distinct works under way (for tests and metrics). */
  get size(): number {
    return this.shared.size;
  }

  /**
   * Joins the work for `key`, starting it if none is under way.
   *
   * @param what - the source as a cancellation message should name it
   * @example
   * const file = await inFlight.run(key, 'loras[0].path', url, { signal }, (ctx) => download(url, ctx));
   */
  run(
    key: string,
    field: string,
    what: string,
    caller: { readonly signal?: AbortSignal | undefined; readonly onProgress?: Progress | undefined },
    work: (ctx: SharedContext) => Promise<T>,
  ): Promise<T> {
    const { signal, onProgress } = caller;
    if (signal?.aborted) return Promise.reject(fetchError(field, `resolving ${what} was cancelled`));
    let shared = this.shared.get(key);
    if (shared === undefined || shared.controller.signal.aborted) {
      const before = shared?.promise.catch(() => undefined);
      shared = this.start(key, field, before, work);
    }
    const mine = shared;
    mine.waiters++;
    if (onProgress !== undefined) mine.listeners.add(onProgress);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const leave = () => {
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        if (onProgress !== undefined) mine.listeners.delete(onProgress);
        mine.waiters--;
      };
      const onAbort = () => {
        if (settled) return;
        leave();
        if (mine.waiters === 0) mine.controller.abort(signal?.reason);
        reject(fetchError(field, `resolving ${what} was cancelled`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      mine.promise.then(
        (value) => {
          if (settled) return;
          leave();
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          leave();
          reject(refield(error, mine.field, field));
        },
      );
    });
  }

  private start(
    key: string,
    field: string,
    before: Promise<unknown> | undefined,
    work: (ctx: SharedContext) => Promise<T>,
  ): Shared<T> {
    const controller = new AbortController();
    const listeners = new Set<Progress>();
    const ctx: SharedContext = {
      field,
      signal: controller.signal,
      onProgress: (received, total) => {
        for (const listener of listeners) listener(received, total);
      },
    };
    const promise = (before ?? Promise.resolve()).then(() => work(ctx));
    const shared: Shared<T> = { promise, field, controller, listeners, waiters: 0 };
    this.shared.set(key, shared);
    const forget = () => {
      if (this.shared.get(key) === shared) this.shared.delete(key);
    };
    promise.then(forget, forget);
    return shared;
  }
}
