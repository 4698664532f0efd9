/**
 * @module jobs/output-store
 * Generated images on local disk, one file per output, named `<taskId>-<index>.<jpg|png|webp>`.
 * Writes are atomic (temp file, fsync, rename), so a crash or a concurrent reader never sees a
 * half-written image under a served name; names from outside are checked before touching the disk.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';

export type OutputExt = 'jpeg' | 'png' | 'webp';

const FILE_EXT: Readonly<Record<OutputExt, string>> = { jpeg: 'jpg', png: 'png', webp: 'webp' };
/** Ids are letters, digits, '_' and '-' (no '.' or '/'), so a valid name can never leave the dir. */
const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const OUTPUT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}-\d{1,4}\.(?:jpg|png|webp)$/;
const MAX_INDEX = 9999;

/**
 * @example
 * const outputs = new LocalOutputStore('data/outputs');
 * const name = await outputs.write(task.id, 0, jpegBytes, 'jpeg'); // '<id>-0.jpg'
 * createReadStream(outputs.path(name));
 */
export class LocalOutputStore {
  constructor(readonly dir: string) {}

  /** Writes one output and returns its file name; an existing file of that name is replaced. */
  async write(taskId: string, index: number, bytes: Buffer, ext: OutputExt): Promise<string> {
    if (!TASK_ID.test(taskId))
      throw new RangeError(`invalid task id for an output name: ${JSON.stringify(taskId)}`);
    if (!Number.isInteger(index) || index < 0 || index > MAX_INDEX) {
      throw new RangeError(`invalid output index ${index}`);
    }
    const name = `${taskId}-${index}.${FILE_EXT[ext]}`;
    await writeFileAtomic(this.dir, name, bytes);
    return name;
  }

  /** The absolute-or-relative path of an output; throws for anything that is not an output name. */
  path(name: string): string {
    if (name.includes('/') || name.includes('\\') || name.includes('..') || !OUTPUT_NAME.test(name)) {
      throw errors.USAGE(`invalid output name ${JSON.stringify(name)}`);
    }
    return join(this.dir, name);
  }

  /** Deletes outputs (retention, a purged task); names already gone are not an error. */
  async remove(names: readonly string[]): Promise<void> {
    const paths = names.map((n) => this.path(n)); // all checked before any is deleted
    await Promise.all(paths.map((p) => rm(p, { force: true })));
  }
}
