/**
 * @module pipeline/timed-run
 * Every session.run of a generation goes through here, so the time spent inside ONNX Runtime is
 * known and the pipeline's own overhead can be measured (bench/generate.ts).
 */
import type * as ort from 'onnxruntime-node';
import type { ModelSession } from '../runtime/model-session.js';

export type TimedRun = (
  session: ModelSession,
  feeds: Record<string, ort.Tensor>,
) => Promise<Record<string, ort.OnnxValue>>;

export interface RunClock {
  readonly run: TimedRun;
  /** Milliseconds spent inside session.run so far. */
  readonly runtimeMs: () => number;
}

export function runClock(): RunClock {
  let total = 0;
  return {
    run: async (session, feeds) => {
      const t = performance.now();
      try {
        return await session.run(feeds);
      } finally {
        total += performance.now() - t;
      }
    },
    runtimeMs: () => total,
  };
}
