/**
 * @module jobs/retention
 * Deletes what a server no longer owes anyone: finished tasks older than the retention setting,
 * their output files, and uploads as old. Runs at start-up and then periodically; records go
 * first, then their files, so a result URL never points at a task that claims outputs it lost.
 */
import type { Logger } from '../log.js';
import type { LocalMediaStore } from './media-store.js';
import type { LocalOutputStore } from './output-store.js';
import type { TaskStore } from './task.js';

export interface RetentionOptions {
  readonly store: TaskStore;
  readonly outputs: LocalOutputStore;
  readonly media: LocalMediaStore;
  /** Age past which finished tasks and uploads are deleted, ms; 0 keeps everything. */
  readonly retentionMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

/** One pass; returns what it deleted. @example await purgeExpired({ store, outputs, media, retentionMs: 7 * 86_400_000, log }) */
export async function purgeExpired(o: RetentionOptions): Promise<{ outputs: number; uploads: number }> {
  if (o.retentionMs <= 0) return { outputs: 0, uploads: 0 };
  const cutoff = (o.now ?? Date.now)() - o.retentionMs;
  const names = await o.store.purgeFinishedBefore(cutoff);
  await o.outputs.remove(names);
  const uploads = await o.media.removeOlderThan(cutoff);
  if (names.length + uploads > 0)
    o.log.info({ outputs: names.length, uploads }, 'retention: deleted expired files');
  return { outputs: names.length, uploads };
}

/** Purges now and every `intervalMs` (default hourly) until stopped. */
export function startRetention(o: RetentionOptions, intervalMs = 3_600_000): { stop: () => void } {
  const pass = () =>
    purgeExpired(o).catch((err) => o.log.error({ err }, 'retention pass failed; will retry next interval'));
  void pass();
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
