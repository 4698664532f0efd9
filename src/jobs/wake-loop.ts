/**
 * @module jobs/wake-loop
 * A background loop of passes with a sleep between them that `notify` cuts short: the shape of
 * every store-polling worker here (the dispatcher claiming tasks, the webhook sender delivering).
 * A nudge lands when the work appears in this process; the sleep bounds how late work written by
 * another host (a shared Redis) or coming due with the clock is seen.
 */

/**
 * One round of work; it handles its own errors. It answers how long to sleep, ms (cut short by
 * `notify`): 0 to run again at once, Infinity until notified.
 */
export type Pass = () => Promise<number>;

/** Timers past 2^31 − 1 ms fire at once: a longer sleep is cut to that. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

export class WakeLoop {
  private running = false;
  private wake: (() => void) | undefined;
  /** A nudge that came during a pass: the pass may have looked before the work was written. */
  private nudged = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly pass: Pass) {}

  /** True from `start` until `stop`: a pass that retries checks it to give up when stopping. */
  get active(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Work may be waiting: end the current sleep now. */
  notify(): void {
    if (this.wake) this.wake();
    else this.nudged = true;
  }

  /** Resolves once the pass under way (if any) has returned. */
  async stop(): Promise<void> {
    this.running = false;
    this.notify();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.nudged = false;
      const ms = await this.pass();
      if (ms <= 0 || this.nudged || !this.running) {
        // A pass on a store that answers in microtasks (SQLite) must not starve the event loop.
        await new Promise((r) => setImmediate(r));
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(ms) ? setTimeout(resolve, Math.min(ms, LONGEST_TIMER_MS)) : undefined;
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}
