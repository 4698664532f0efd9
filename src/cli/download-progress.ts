/**
 * @module cli/download-progress
 * Progress of `flux-serve pull`: bytes, rate and time left, as a bar on an interactive terminal and
 * as a pino line every 5% otherwise (CI and service logs).
 */
import cliProgress from 'cli-progress';
import { formatBytes } from '../hub/fetch-errors.js';
import type { PullProgress } from '../hub/model-pull.js';
import type { Logger } from '../log.js';

export interface DownloadProgress {
  update(p: PullProgress): void;
  stop(): void;
}

/** Seconds as `1h02m`, `3m05s`, `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** Rate (bytes/s) and seconds left for `done` of `total` bytes after `elapsedMs`. */
export function rateAndEta(done: number, total: number, elapsedMs: number): { rate: number; etaS: number } {
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  return { rate, etaS: rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY };
}

/** @example const bar = downloadProgress(log, totalBytes); bar.update(p); bar.stop(); */
export function downloadProgress(
  log: Logger,
  totalBytes: number,
  tty = process.stderr.isTTY,
): DownloadProgress {
  const started = Date.now();
  const fields = (p: PullProgress) => {
    const { rate, etaS } = rateAndEta(p.bytesDone, totalBytes, Date.now() - started);
    return {
      done: formatBytes(p.bytesDone),
      rate: `${formatBytes(Math.round(rate))}/s`,
      eta: formatDuration(etaS),
    };
  };
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        format: 'pulling [{bar}] {percentage}% | {done} of {total} | {rate} | ETA {eta} | {file}',
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(totalBytes, 0, { done: '0 B', total: formatBytes(totalBytes), rate: '', eta: '?', file: '' });
    return {
      update: (p) => bar.update(p.bytesDone, { ...fields(p), file: p.file }),
      stop: () => bar.stop(),
    };
  }
  let nextStep = 1;
  return {
    update(p) {
      const fraction = totalBytes === 0 ? 1 : p.bytesDone / totalBytes;
      if (fraction * 20 < nextStep) return;
      nextStep = Math.floor(fraction * 20) + 1;
      const f = fields(p);
      log.info(
        { file: p.file, bytes: p.bytesDone, totalBytes, percent: Math.round(fraction * 100) },
        `pulling: ${f.done} of ${formatBytes(totalBytes)}, ${f.rate}, ETA ${f.eta}`,
      );
    },
    stop() {},
  };
}
