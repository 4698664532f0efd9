/** Error measures and timing summaries shared by the GPU proof's phases and its report. */

export interface ErrorStats {
  /** max |got − ref| / max |ref|: the measure the graph tests use. */
  readonly maxRel: number;
  /** ‖got − ref‖₂ / ‖ref‖₂. */
  readonly rmsRel: number;
  /** False when `got` holds a NaN or an infinity (an fp16 overflow shows up here first). */
  readonly finite: boolean;
}

export function errorStats(got: ArrayLike<number>, ref: ArrayLike<number>): ErrorStats {
  if (got.length !== ref.length)
    throw new Error(`compared arrays differ in length: ${got.length} vs ${ref.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  let sumDiff = 0;
  let sumRef = 0;
  let finite = true;
  for (let i = 0; i < got.length; i++) {
    const g = got[i] as number;
    const r = ref[i] as number;
    if (!Number.isFinite(g)) finite = false;
    const d = Math.abs(g - r);
    if (d > maxDiff) maxDiff = d;
    if (Math.abs(r) > maxRef) maxRef = Math.abs(r);
    sumDiff += d * d;
    sumRef += r * r;
  }
  return { maxRel: maxDiff / maxRef, rmsRel: Math.sqrt(sumDiff / sumRef), finite };
}

export interface Timing {
  /** Median of the timed runs, ms. */
  readonly ms: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly runs: number;
}

export function timing(samples: readonly number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    ms: sorted[Math.floor(sorted.length / 2)] as number,
    minMs: sorted[0] as number,
    maxMs: sorted[sorted.length - 1] as number,
    runs: sorted.length,
  };
}

/** `warmup` untimed calls, then `runs` timed ones. */
export async function timeRuns(warmup: number, runs: number, step: () => Promise<unknown>): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await step();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await step();
    samples.push(performance.now() - t);
  }
  return timing(samples);
}

export interface PerBlock {
  readonly doubleMs: number;
  readonly singleMs: number;
  /** Embedders, final layer and everything around the blocks. */
  readonly restMs: number;
}

/**
 * Per-block times from three depths of one model: 2 + 2, one double block fewer, one single block
 * fewer. Each block of a kind costs the same (same shapes), so the differences are one block each.
 */
export function perBlock(
  full: number,
  oneDoubleLess: number,
  oneSingleLess: number,
  depth = { double: 2, single: 2 },
): PerBlock {
  const doubleMs = full - oneDoubleLess;
  const singleMs = full - oneSingleLess;
  return { doubleMs, singleMs, restMs: full - depth.double * doubleMs - depth.single * singleMs };
}

/** A step of a model `depth` deep from per-block times. */
export function extrapolate(p: PerBlock, depth: { double: number; single: number }): number {
  return p.restMs + depth.double * p.doubleMs + depth.single * p.singleMs;
}
