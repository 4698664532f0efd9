/**
 * @module build/source-files
 * Records which files a model was built from (size and sha256), so a model dir can be traced to
 * and checked against its checkpoint.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import type { SourceFile } from '../runtime/manifest.js';

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 8 * 1024 * 1024 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Expands shard indexes into their shards (plus the index itself). */
async function expand(files: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    out.push(f);
    if (f.endsWith('.index.json')) {
      const index = JSON.parse(await readFile(f, 'utf8')) as { weight_map: Record<string, string> };
      const shards = [...new Set(Object.values(index.weight_map))].sort();
      out.push(...shards.map((s) => join(dirname(f), basename(s))));
    }
  }
  return out;
}

export async function describeSources(baseDir: string, files: readonly string[]): Promise<SourceFile[]> {
  const all = await expand(files);
  return Promise.all(
    all.map(async (f) => ({
      path: relative(baseDir, f),
      bytes: (await stat(f)).size,
      sha256: await sha256(f),
    })),
  );
}
