/**
 * @module cli/shutdown-grace
 * The bounded wait of a stop (SIGTERM): work still going when the grace ends is left, not awaited —
 * a task still running stays claimed in the store and runs again after the restart, as after a crash.
 */

/**
 * True when `work` settled within `ms`, false when the grace ran out first.
 * @example if (!(await settledWithin(backend.stop(), 8000))) log.warn('left the running task');
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const outOfTime = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([work.then(() => true), outOfTime]);
  } finally {
    clearTimeout(timer);
  }
}
