/**
 * @module jobs/media-store
 * Images that clients upload (api.md, `POST /api/v3/media/upload/binary`, and the SDK's ticket +
 * PUT route) to use as `image`/`mask_image` by URL. Only PNG, JPEG and WebP are kept, judged by their
 * magic bytes; a name is 32 random hex digits and nothing else — the SDKs' two-step upload hands
 * out the URL before the bytes (and so the format) are known — so a URL cannot be guessed and a
 * name from outside cannot leave the folder. Files are written atomically.
 */
import { randomBytes } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.js';
import { UPLOAD_NAME } from '../image/image-input.js';
import { type InputFormat, sniffImageFormat } from '../image/sniff.js';
import { writeFileAtomic } from './atomic-write.js';

export interface StoredMedia {
  readonly name: string;
  readonly format: InputFormat;
  readonly size: number;
}

/** A fresh unguessable media id (the name without its extension). */
export function newMediaId(): string {
  return randomBytes(16).toString('hex');
}

export class LocalMediaStore {
  constructor(readonly dir: string) {}

  /**
   * Stores an upload under `id` (default: a fresh one) if its bytes are a PNG, JPEG or WebP.
   * @throws FLUX_ERR_USAGE (400) naming `field` for anything else
   * @example const { name } = await media.put(bytes, 'file'); // '3f…9a'
   */
  async put(bytes: Buffer, field: string, id = newMediaId()): Promise<StoredMedia> {
    const sniffed = sniffImageFormat(bytes);
    if (!sniffed.supported) {
      throw errors.USAGE(`${field}: only PNG, JPEG and WebP images can be uploaded, not ${sniffed.name}`);
    }
    if (!UPLOAD_NAME.test(id)) throw errors.USAGE(`${field}: invalid upload id`);
    const name = id;
    await writeFileAtomic(this.dir, name, bytes);
    return { name, format: sniffed.format, size: bytes.length };
  }

  /** The path of a stored upload; undefined for anything that is not a media name. */
  path(name: string): string | undefined {
    return UPLOAD_NAME.test(name) ? join(this.dir, name) : undefined;
  }

  /** Deletes uploads last written before the cutoff (retention); returns how many. */
  async removeOlderThan(cutoffMs: number): Promise<number> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      const path = this.path(name);
      if (!path) continue;
      const info = await stat(path).catch(() => undefined);
      if (info && info.mtimeMs < cutoffMs) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }
}
