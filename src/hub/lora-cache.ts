/**
 * @module hub/lora-cache
 * The LoRA download cache on disk:
 *
 * ```
 * <cacheDir>/blobs/<sha256>.safetensors   content-addressed files, each stored once
 * <cacheDir>/index/<sha256 of key>.json   { key, value }: what a source key resolved to
 * <cacheDir>/partial/<sha256 of key>.part an interrupted download (+ .part.json), resumed next time
 * ```
 *
 * Keys are plain strings built by the caller (`url <href>`, `hub-file <endpoint> <repo>@<sha> <file>`,
 * `hub-ref …`); the record repeats its key so that a hash collision can never serve another source.
 * Every write is a rename of a finished temporary file, so a crash leaves the old state or the new
 * one, never half a file. A blob is trusted by name and size on a hit (re-hashing 2 GB per task
 * would defeat the cache); an entry whose blob is missing or of the wrong size is a miss.
 * One process downloads into a cache directory at a time (the server's dispatcher); two processes
 * sharing one would race on a `.part`.
 *
 * The blobs are bounded (`FLUX_SERVE_LORA_CACHE_BYTES`): after a download, the least recently used
 * go first, by mtime, which every hit moves to now. Blobs the caller is using are never deleted;
 * index records of a deleted blob become misses. A `.part` untouched for a day is an abandoned
 * download (a source nobody asks for again) and is deleted too.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { discardPart } from './safe-download.js';

/** A finished file in the cache. */
export interface BlobEntry {
  readonly sha256: string;
  readonly bytes: number;
  /** Where it came from, for people (logs, the load report). */
  readonly source: string;
}

/** Age after which an untouched `.part` counts as abandoned, ms. */
const STALE_PART_MS = 24 * 60 * 60 * 1000;

const keyName = (key: string) => createHash('sha256').update(key).digest('hex');

/** Writes `data` to `file` through a temporary file and a rename. */
async function writeAtomic(file: string, data: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

export class LoraDownloadCache {
  constructor(readonly dir: string) {}

  /** Where the blob with this SHA-256 lives (whether or not it exists). */
  blobPath(sha256: string): string {
    return join(this.dir, 'blobs', `${sha256}.safetensors`);
  }

  /** Where a download for `key` is written until it is complete. */
  async partPath(key: string): Promise<string> {
    const folder = join(this.dir, 'partial');
    await mkdir(folder, { recursive: true });
    return join(folder, `${keyName(key)}.part`);
  }

  private indexPath(key: string): string {
    return join(this.dir, 'index', `${keyName(key)}.json`);
  }

  /** The record stored for `key`, or undefined (none, unreadable, or another key's). */
  async get<T>(key: string): Promise<T | undefined> {
    try {
      const record = JSON.parse(await readFile(this.indexPath(key), 'utf8')) as { key?: unknown; value?: T };
      return record.key === key ? record.value : undefined;
    } catch {
      return undefined;
    }
  }

  async put(key: string, value: unknown): Promise<void> {
    await writeAtomic(this.indexPath(key), JSON.stringify({ key, value }));
  }

  /**
   * The blob `key` resolved to, if its record and a blob of the recorded size both exist.
   *
   * @example
   * const hit = await cache.lookup('url https://example.com/a.safetensors'); // BlobEntry | undefined
   */
  async lookup(key: string): Promise<(BlobEntry & { readonly file: string }) | undefined> {
    const entry = await this.get<BlobEntry>(key);
    if (entry === undefined || !/^[0-9a-f]{64}$/.test(entry.sha256)) return undefined;
    const file = this.blobPath(entry.sha256);
    try {
      if ((await stat(file)).size !== entry.bytes) return undefined;
    } catch {
      return undefined;
    }
    // Evicted since the stat: a miss, not a path to a file that is gone.
    return (await this.touch(file)) ? { ...entry, file } : undefined;
  }

  /** Records a use of `file` for the least-recently-used order; false when it is gone. */
  private async touch(file: string): Promise<boolean> {
    const now = new Date();
    return utimes(file, now, now).then(
      () => true,
      () => false,
    );
  }

  /**
   * Deletes the least recently used blobs until the rest take at most `maxBytes`, never one that
   * `keep` (asked at the moment of deleting) holds or that was used since the listing, and deletes
   * `.part` downloads untouched for STALE_PART_MS, never one in `busyParts`. Returns the deleted
   * blobs' paths, oldest first.
   *
   * @example
   * await cache.evict(20 * 1024 ** 3, new Set([justDownloaded]), new Set());
   */
  async evict(
    maxBytes: number,
    keep: { has(path: string): boolean },
    busyParts: ReadonlySet<string>,
  ): Promise<string[]> {
    const blobs = await this.listed('blobs', (name) => name.endsWith('.safetensors'));
    let total = blobs.reduce((sum, b) => sum + b.size, 0);
    const deleted: string[] = [];
    for (const blob of blobs.sort((a, b) => a.mtimeMs - b.mtimeMs)) {
      if (total <= maxBytes) break;
      if (keep.has(blob.path)) continue;
      const now = await stat(blob.path).catch(() => undefined);
      if (now !== undefined && now.mtimeMs !== blob.mtimeMs) continue; // a hit meanwhile
      await rm(blob.path, { force: true });
      total -= blob.size;
      deleted.push(blob.path);
    }
    const stale = Date.now() - STALE_PART_MS;
    for (const part of await this.listed('partial', (name) => name.endsWith('.part'))) {
      if (part.mtimeMs < stale && !busyParts.has(part.path)) await discardPart(part.path);
    }
    return deleted;
  }

  /** Files of one cache folder whose name passes `wanted`, with size and mtime (none when absent). */
  private async listed(
    folder: string,
    wanted: (name: string) => boolean,
  ): Promise<{ path: string; size: number; mtimeMs: number }[]> {
    const dir = join(this.dir, folder);
    const names = await readdir(dir).catch(() => [] as string[]);
    const files = await Promise.all(
      names.filter(wanted).map(async (name) => {
        const path = join(dir, name);
        const info = await stat(path).catch(() => undefined); // deleted meanwhile
        return info?.isFile() ? { path, size: info.size, mtimeMs: info.mtimeMs } : undefined;
      }),
    );
    return files.filter((f) => f !== undefined);
  }

  /**
   * Moves a finished `.part` into the blob store (a rename: atomic, and harmless when the same
   * content is already there) and records `key` → blob. Returns the blob's path.
   */
  async store(key: string, part: string, entry: BlobEntry): Promise<string> {
    const file = this.blobPath(entry.sha256);
    await mkdir(dirname(file), { recursive: true });
    await rename(part, file);
    await discardPart(part);
    await this.put(key, entry);
    await this.touch(file);
    return file;
  }
}
