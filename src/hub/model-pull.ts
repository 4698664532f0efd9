/**
 * @module hub/model-pull
 * `flux-serve pull`: a model repo from the Hugging Face hub into the hub cache (hub/hf-cache), pinned
 * to the commit its revision points to, downloading only the files the caller selects. Each file is
 * streamed through the guarded downloader (hub/safe-download: Range resume of `blobs/<etag>.incomplete`,
 * SHA-256 while writing), checked against the listing (LFS SHA-256, or the git blob id of small
 * files), and only then renamed into `blobs/` and linked from `snapshots/<commit>/`. The free disk
 * space is checked before the first byte.
 *
 * Why not `@huggingface/hub`'s downloadFileToCacheDir: it neither resumes nor reports progress, and
 * with a branch revision it files each file under that file's last commit rather than the repo's
 * head (dependencies.md §3); one listing call here gives the head commit, the sizes and the hashes.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../errors.js';
import type { AddressPolicy } from './address-policy.js';
import { fetchError, formatBytes } from './fetch-errors.js';
import type { HostLookup } from './fetch-target.js';
import {
  blobPath,
  cachedCommit,
  hasSnapshotFile,
  linkSnapshotFile,
  repoCacheDir,
  snapshotDir,
  writeRef,
} from './hf-cache.js';
import {
  DEFAULT_HUB_ENDPOINT,
  type HubFile,
  hubErrorCode,
  hubFileUrl,
  hubHeaders,
  hubStatusMessage,
  listRepo,
} from './lora-hub.js';
import { discardPart, hashFileInto, safeDownload } from './safe-download.js';

/** Room left free beyond the files themselves, bytes (filesystem overhead, logs, the build's temp files). */
const SPACE_MARGIN = 256 * 1024 * 1024;

export interface PullProgress {
  /** Bytes of this pull received so far (resumed bytes included). */
  readonly bytesDone: number;
  /** Bytes this pull downloads in all (files already in the cache excluded). */
  readonly bytesTotal: number;
  readonly file: string;
}

export interface PullPlan {
  readonly commit: string;
  readonly files: readonly HubFile[];
  /** Files whose blob is already in the cache. */
  readonly cached: readonly string[];
  /** Bytes still to download (partial downloads count what is left). */
  readonly bytesToDownload: number;
}

export interface PullOptions {
  readonly cacheDir: string;
  /** Branch, tag or commit (default `main`). */
  readonly revision?: string | undefined;
  /** `HF_ENDPOINT` (default https://huggingface.co). */
  readonly endpoint?: string | undefined;
  readonly token?: string | undefined;
  /** `HF_HUB_OFFLINE`: answer from the cache with no request at all. */
  readonly offline?: boolean | undefined;
  /** The files to download, from the repo's paths (default: all). */
  readonly select?: (paths: readonly string[]) => readonly string[];
  /** The hub is the operator's choice (HF_ENDPOINT may be a mirror on the LAN), not a user's URL. */
  readonly policy: AddressPolicy;
  readonly lookup?: HostLookup;
  /** Deadline of the listing and idle limit of each download, ms. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly onPlan?: (plan: PullPlan) => void;
  readonly onProgress?: (progress: PullProgress) => void;
  /** Free bytes on the filesystem of `dir` (default `fs.statfs`; tests replace it). */
  readonly freeBytes?: (dir: string) => Promise<number>;
}

export interface PulledRepo {
  readonly repo: string;
  readonly commit: string;
  /** `snapshots/<commit>`: the checkpoint dir a build reads. */
  readonly dir: string;
  readonly files: readonly string[];
  readonly downloadedBytes: number;
}

async function systemFreeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

const sizeOf = (path: string) =>
  stat(path).then(
    (s) => s.size,
    () => undefined,
  );

/** The cache key of a file: its LFS SHA-256, else its git blob id (as huggingface_hub names blobs). */
function etagOf(file: HubFile): string | undefined {
  return file.lfsSha256 ?? file.blobId;
}

/** Git's blob id of a file: SHA-1 of `blob <size>\0<content>`. */
async function gitBlobId(path: string, size: number): Promise<string> {
  const hash = createHash('sha1').update(`blob ${size}\0`);
  await hashFileInto(path, hash);
  return hash.digest('hex');
}

/** Files of a snapshot whose blobs are there (a link to a missing blob does not count), relative paths. */
async function presentFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  const present: string[] = [];
  for (const path of entries)
    if ((await stat(join(dir, path)).catch(() => undefined))?.isFile()) present.push(path);
  return present.sort();
}

async function cachedRepo(repo: string, options: PullOptions, revision: string): Promise<PulledRepo> {
  const commit = await cachedCommit(options.cacheDir, repo, revision);
  const dir = commit && snapshotDir(options.cacheDir, repo, commit);
  const offline = `offline mode (HF_HUB_OFFLINE) is on`;
  if (!commit || !dir || (await stat(dir).catch(() => undefined)) === undefined) {
    throw errors.USAGE(
      `${repo}@${revision} is not in the Hugging Face cache ${options.cacheDir}, and ${offline}`,
    );
  }
  const present = await presentFiles(dir);
  let files: readonly string[] = present;
  try {
    if (options.select) files = options.select(present);
  } catch (e) {
    throw errors.USAGE(
      `${repo}@${commit} is only partly in the Hugging Face cache (${(e as Error).message}), and ${offline}`,
    );
  }
  return { repo, commit, dir, files, downloadedBytes: 0 };
}

/**
 * @throws FluxServeError FLUX_ERR_USAGE for a hub refusal (gated or private repo, worded for
 *   HF_TOKEN), a failed or cut download (its bytes are kept and resumed next time), a checksum
 *   mismatch, too little disk space, or an offline miss
 *
 * @example
 * const { dir, commit } = await pullRepo('black-forest-labs/FLUX.1-schnell', {
 *   cacheDir, token, policy: { allowLoopback: true, allowPrivate: true }, timeoutMs: 30_000,
 *   select: checkpointFiles,
 * });
 */
export async function pullRepo(repo: string, options: PullOptions): Promise<PulledRepo> {
  const revision = options.revision ?? 'main';
  if (options.offline) return cachedRepo(repo, options, revision);
  const endpoint = (options.endpoint ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
  const field = repo;
  const listing = await listRepo(repo, revision, {
    endpoint,
    token: options.token,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    policy: options.policy,
    ...(options.lookup ? { lookup: options.lookup } : {}),
    field,
  });
  const wanted = new Set(options.select ? options.select(listing.files.map((f) => f.path)) : []);
  const files = options.select ? listing.files.filter((f) => wanted.has(f.path)) : listing.files;
  const { cacheDir } = options;
  await mkdir(`${repoCacheDir(cacheDir, repo)}/blobs`, { recursive: true });

  const cached: string[] = [];
  let bytesToDownload = 0;
  for (const f of files) {
    const etag = etagOf(f);
    const have = etag && (await sizeOf(blobPath(cacheDir, repo, etag)));
    if (etag && have !== undefined && (f.size === undefined || have === f.size)) {
      cached.push(f.path);
      continue;
    }
    const partial = etag ? ((await sizeOf(`${blobPath(cacheDir, repo, etag)}.incomplete`)) ?? 0) : 0;
    bytesToDownload += Math.max(0, (f.size ?? 0) - partial);
  }
  const plan: PullPlan = { commit: listing.sha, files, cached, bytesToDownload };
  options.onPlan?.(plan);
  const free = await (options.freeBytes ?? systemFreeBytes)(repoCacheDir(cacheDir, repo));
  if (bytesToDownload + SPACE_MARGIN > free) {
    throw errors.USAGE(
      `${repo}: ${formatBytes(bytesToDownload)} to download but only ${formatBytes(free)} free in ${cacheDir}; ` +
        'free some space or point HF_HUB_CACHE (or HF_HOME) at a larger disk',
    );
  }

  let done = 0;
  let downloadedBytes = 0;
  for (const f of files) {
    const known = etagOf(f);
    if (known && cached.includes(f.path)) {
      await linkSnapshotFile(cacheDir, repo, listing.sha, f.path, known);
      continue;
    }
    // A file the listing gives no hash for is named by its SHA-256 once downloaded.
    const partName =
      known ?? `unnamed-${createHash('sha256').update(`${listing.sha}/${f.path}`).digest('hex')}`;
    const part = `${blobPath(cacheDir, repo, partName)}.incomplete`;
    const before = done;
    const resumed = (await sizeOf(part)) ?? 0; // bytesToDownload left these out
    const got = await safeDownload(hubFileUrl(endpoint, repo, listing.sha, f.path), part, {
      field,
      policy: options.policy,
      ...(options.lookup ? { lookup: options.lookup } : {}),
      headers: hubHeaders(options.token),
      maxBytes: f.size ?? Number.MAX_SAFE_INTEGER,
      idleTimeoutMs: options.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (received) => {
        done = before + Math.max(0, received - resumed);
        options.onProgress?.({ bytesDone: done, bytesTotal: bytesToDownload, file: f.path });
      },
      describeStatus: (status, answer) =>
        hubStatusMessage(status, repo, options.token, hubErrorCode(answer.res), f.path),
    });
    done = before + Math.max(0, got.bytes - resumed);
    downloadedBytes += got.bytes - got.resumedFrom;
    const mismatch =
      (f.size !== undefined && got.bytes !== f.size && `${got.bytes} bytes, the listing says ${f.size}`) ||
      (f.lfsSha256 !== undefined &&
        got.sha256 !== f.lfsSha256 &&
        `SHA-256 ${got.sha256}, expected ${f.lfsSha256}`) ||
      (f.lfsSha256 === undefined &&
        f.blobId !== undefined &&
        (await gitBlobId(part, got.bytes)) !== f.blobId &&
        `its git blob id is not ${f.blobId}`);
    if (mismatch) {
      await discardPart(part);
      throw fetchError(
        field,
        `${f.path} failed its checksum (${mismatch}); the download was discarded, pull again`,
      );
    }
    const etag = known ?? got.sha256;
    await rename(part, blobPath(cacheDir, repo, etag));
    await rm(`${part}.json`, { force: true });
    await linkSnapshotFile(cacheDir, repo, listing.sha, f.path, etag);
  }
  await writeRef(cacheDir, repo, revision, listing.sha);
  return {
    repo,
    commit: listing.sha,
    dir: snapshotDir(cacheDir, repo, listing.sha),
    files: files.map((f) => f.path),
    downloadedBytes,
  };
}

/** The snapshot of `repo@revision` in the cache, if it holds every one of `paths` (no request). */
export async function findSnapshot(
  cacheDir: string,
  repo: string,
  revision: string,
  paths: readonly string[],
): Promise<string | undefined> {
  const commit = await cachedCommit(cacheDir, repo, revision);
  if (!commit) return undefined;
  for (const p of paths) if (!(await hasSnapshotFile(cacheDir, repo, commit, p))) return undefined;
  return snapshotDir(cacheDir, repo, commit);
}
