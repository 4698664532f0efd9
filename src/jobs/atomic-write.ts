/**
 * @module jobs/atomic-write
 * Publishes a file under its final name only once its bytes are on disk: a crash or a concurrent
 * reader never sees a half-written file under a served name.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes `bytes` to `dir/name` through a temp file in the same directory (so the rename is atomic,
 * never across file systems), fsyncs the data before the rename and the directory after it.
 * The temp name starts with a dot and ends in `.tmp`, so it never matches a served name.
 * @example await writeFileAtomic('data/outputs', 'abc-0.jpg', bytes);
 */
export async function writeFileAtomic(dir: string, name: string, bytes: Buffer): Promise<void> {
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(temp, 'wx');
    try {
      await file.writeFile(bytes);
      // Data on disk before the rename publishes it: otherwise a power cut can leave the final
      // name pointing at an empty file.
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, join(dir, name));
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  await syncDir(dir);
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
