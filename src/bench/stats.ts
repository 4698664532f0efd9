/**
 * @module bench/stats
 * Latency percentiles and the per-endpoint summary of a benchmark run.
 */

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
}

/**
 * Nearest-rank percentile of ascending-sorted values (p in 0–100): the smallest value with at least
 * p% of the values at or below it, so every figure reported is one that was measured.
 * @example percentile([10, 20, 30, 40], 50) // 20
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

/**
 * The middle value of repeated timings (the upper middle of an even count: a measured one).
 * @example median([3, 1, 2]) // 2
 */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/**
 * p50/p90/p99, mean, min and max of the values; undefined when there are none (e.g. the queue time of
 * an endpoint that does not report it).
 * @example summarize([120, 80, 100]) // { count: 3, p50: 100, p90: 120, p99: 120, mean: 100, min: 80, max: 120 }
 */
export function summarize(values: readonly number[]): Percentiles | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
  };
}
