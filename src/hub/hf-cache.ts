/**
 * @module hub/hf-cache
 * The Hugging Face hub cache, in the layout Python's huggingface_hub writes and reads, so that a
 * model pulled here is found by diffusers and the other way round:
 *
 * ```
 * <cache>/models--<owner>--<name>/
 *   blobs/<sha256 for LFS files, git blob id otherwise>      the bytes, once per content
 *   blobs/<etag>.incomplete                                   a download in progress (resumed)
 *   snapshots/<commit>/<path in repo> → ../../blobs/<etag>    relative symlinks (copies if refused)
 *   refs/<branch or tag>                                      the commit it pointed to when pulled
 * ```
 */
import { copyFile, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

const COMMIT = /^[0-9a-f]{40}$/;

/** @example repoCacheDir('/c', 'black-forest-labs/FLUX.1-schnell'); // '/c/models--black-forest-labs--FLUX.1-schnell' */
export function repoCacheDir(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.split('/').join('--')}`);
}

export function blobPath(cacheDir: string, repo: string, etag: string): string {
  return join(repoCacheDir(cacheDir, repo), 'blobs', etag);
}

export function snapshotDir(cacheDir: string, repo: string, commit: string): string {
  return join(repoCacheDir(cacheDir, repo), 'snapshots', commit);
}

/** The commit `revision` (a commit, or a branch or tag pulled before) points to in the cache. */
export async function cachedCommit(
  cacheDir: string,
  repo: string,
  revision: string,
): Promise<string | undefined> {
  if (COMMIT.test(revision)) return revision;
  try {
    const sha = (await readFile(join(repoCacheDir(cacheDir, repo), 'refs', revision), 'utf8')).trim();
    return COMMIT.test(sha) ? sha : undefined;
  } catch {
    return undefined;
  }
}

/** Records that `revision` points to `commit` (no trailing newline, as huggingface_hub writes it). */
export async function writeRef(
  cacheDir: string,
  repo: string,
  revision: string,
  commit: string,
): Promise<void> {
  if (revision === commit) return;
  const ref = join(repoCacheDir(cacheDir, repo), 'refs', revision);
  await mkdir(dirname(ref), { recursive: true });
  await writeFile(ref, commit);
}

/** Makes `snapshots/<commit>/<path>` point at the blob `etag` (a relative symlink, a copy where refused). */
export async function linkSnapshotFile(
  cacheDir: string,
  repo: string,
  commit: string,
  path: string,
  etag: string,
): Promise<string> {
  const link = join(snapshotDir(cacheDir, repo, commit), ...path.split('/'));
  const blob = blobPath(cacheDir, repo, etag);
  await mkdir(dirname(link), { recursive: true });
  await rm(link, { force: true });
  try {
    await symlink(relative(dirname(link), blob), link);
  } catch {
    await copyFile(blob, link); // e.g. Windows without developer mode, some network filesystems
  }
  return link;
}

/** True when the snapshot has `path` and it resolves to a file (a dangling link is not there). */
export async function hasSnapshotFile(
  cacheDir: string,
  repo: string,
  commit: string,
  path: string,
): Promise<boolean> {
  const file = join(snapshotDir(cacheDir, repo, commit), ...path.split('/'));
  return stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
}

export interface CachedRepo {
  readonly repo: string;
  readonly dir: string;
  /** Commits with a snapshot folder. */
  readonly snapshots: readonly string[];
  /** Branches and tags → commits. */
  readonly refs: Readonly<Record<string, string>>;
}

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** The model repos in the cache (whatever tool pulled them). */
export async function listCachedRepos(cacheDir: string): Promise<CachedRepo[]> {
  const repos: CachedRepo[] = [];
  for (const entry of (await names(cacheDir)).sort()) {
    if (!entry.startsWith('models--')) continue;
    const dir = join(cacheDir, entry);
    const repo = entry.slice('models--'.length).split('--').join('/'); // as huggingface_hub's scan_cache_dir
    const refs: Record<string, string> = {};
    for (const ref of await names(join(dir, 'refs'))) {
      const sha = await cachedCommit(cacheDir, repo, ref);
      if (sha) refs[ref] = sha;
    }
    const snapshots = (await names(join(dir, 'snapshots'))).filter((s) => COMMIT.test(s));
    repos.push({ repo, dir, snapshots, refs });
  }
  return repos;
}
