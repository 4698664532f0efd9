/**
 * @module build/progress
 * Progress of long work (conversion, writing weights): a bar on an interactive terminal, and a pino
 * line every 10% otherwise, so CI logs and service logs show it too.
 */
import cliProgress from 'cli-progress';
import type { Logger } from '../log.js';

export interface Progress {
  update(done: number, detail?: string): void;
  stop(): void;
}

const GIB = 1024 ** 3;

/** @example const p = progress(log, 'writing transformer', totalBytes); p.update(bytes); p.stop(); */
export function progress(log: Logger, label: string, totalBytes: number): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {percentage}% | {done}/{total} GiB | {detail}`, stream: process.stderr },
      cliProgress.Presets.shades_classic,
    );
    bar.start(totalBytes, 0, { done: '0.00', total: (totalBytes / GIB).toFixed(2), detail: '' });
    return {
      update: (done, detail = '') => bar.update(done, { done: (done / GIB).toFixed(2), detail }),
      stop: () => bar.stop(),
    };
  }
  let nextTenth = 1;
  const started = Date.now();
  return {
    update(done, detail) {
      const fraction = totalBytes === 0 ? 1 : done / totalBytes;
      if (fraction * 10 < nextTenth) return;
      nextTenth = Math.floor(fraction * 10) + 1;
      log.info(
        {
          label,
          percent: Math.round(fraction * 100),
          bytes: done,
          totalBytes,
          detail,
          elapsedMs: Date.now() - started,
        },
        label,
      );
    },
    stop() {},
  };
}
