/**
 * Retention: finished tasks older than the setting go with their output files and old uploads;
 * unfinished tasks, recent ones and a retention of 0 keep everything.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalMediaStore } from '../../src/jobs/media-store.js';
import { LocalOutputStore } from '../../src/jobs/output-store.js';
import { purgeExpired } from '../../src/jobs/retention.js';
import { openSqliteTaskStore } from '../../src/jobs/sqlite-task-store.js';
import type { TaskStore } from '../../src/jobs/task.js';
import { createLogger } from '../../src/log.js';
import { manualClock, newTask, work } from './task-fixtures.js';

const DAY = 86_400_000;
let root: string;
let store: TaskStore;
let outputs: LocalOutputStore;
let media: LocalMediaStore;
const clock = manualClock(10 * DAY);

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'retention-'));
  store = openSqliteTaskStore(':memory:', { maxQueued: 10, now: clock.now });
  outputs = new LocalOutputStore(join(root, 'outputs'));
  media = new LocalMediaStore(join(root, 'media'));
});
afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

async function completedAt(ms: number): Promise<{ id: string; file: string }> {
  clock.set(ms);
  const { id } = await store.create(newTask());
  await store.claimNext();
  const file = await outputs.write(id, 0, Buffer.from('jpeg bytes'), 'jpeg');
  await store.complete(id, work([file]));
  return { id, file };
}

describe('purgeExpired', () => {
  it('deletes old finished tasks, their outputs and old uploads; keeps the rest', async () => {
    const old = await completedAt(1 * DAY);
    const recent = await completedAt(9 * DAY);
    clock.set(2 * DAY);
    const queued = await store.create(newTask());
    const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const oldUpload = await media.put(png, 'file');
    const newUpload = await media.put(png, 'file');
    await utimes(media.path(oldUpload.name) as string, 1, 1); // written in 1970
    const log = createLogger('silent');
    const now = () => 10 * DAY;
    expect(await purgeExpired({ store, outputs, media, retentionMs: 7 * DAY, log, now })).toEqual({
      outputs: 1,
      uploads: 1,
    });
    expect(await store.get(old.id)).toBeUndefined();
    expect(existsSync(outputs.path(old.file))).toBe(false);
    expect((await store.get(recent.id))?.status).toBe('completed');
    expect(existsSync(outputs.path(recent.file))).toBe(true);
    expect((await store.get(queued.id))?.status).toBe('created');
    expect(existsSync(media.path(oldUpload.name) as string)).toBe(false);
    expect(existsSync(media.path(newUpload.name) as string)).toBe(true);
  });

  it('a retention of 0 keeps everything', async () => {
    const old = await completedAt(1 * DAY);
    const log = createLogger('silent');
    expect(await purgeExpired({ store, outputs, media, retentionMs: 0, log })).toEqual({
      outputs: 0,
      uploads: 0,
    });
    expect(await store.get(old.id)).toBeDefined();
  });
});
