/**
 * @module hub/lora-resolve
 * `resolveLora(path, options)`: a request's `loras[i].path` (hub/lora-source says which forms and in
 * which order) → a verified local `.safetensors` file with its SHA-256.
 *
 * - LoRA folder files are used in place (never copied); their hash is remembered per path, size and
 *   mtime, so a repeated LoRA is not re-read.
 * - URLs and hub files are downloaded once into the cache (hub/lora-cache), streamed, resumed after
 *   an interruption, limited in time between bytes and in all, refused early when served as a
 *   clearly-wrong media type (a page, JSON, an image), checked to start like safetensors; hub
 *   files are also checked against the LFS SHA-256 the hub lists. A cached URL or pinned hub file costs no request at all. After each
 *   download the cache is cut back to `cacheMaxBytes`, least recently used first (hub/lora-cache);
 *   a blob held with holdLoraBlob stays, so a request's early LoRAs survive its later downloads.
 * - `owner/repo` (revision `main` or a branch/tag) is turned into a commit by listing the repo; that
 *   answer (commit + chosen file) is cached for `refTtlMs` (default 10 minutes), so a burst of tasks
 *   with one LoRA costs no request, while a push to the repo is seen within that time.
 *   `owner/repo@<40-hex commit>/file.safetensors` never needs the listing.
 * - Offline (`HF_HUB_OFFLINE`): only the cache answers, whatever the age of a cached listing; a
 *   source not in it is a clear error.
 *
 * Environment → options (read by src/config.ts, never here): `HF_TOKEN` → `hfToken`,
 * `HF_HUB_OFFLINE=1` → `offline`, `HF_ENDPOINT` → `hubEndpoint`.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { AddressPolicy } from './address-policy.js';
import { displayUrl, fetchError, formatBytes } from './fetch-errors.js';
import type { HostLookup } from './fetch-target.js';
import { parseFetchUrl } from './fetch-target.js';
import { type BlobEntry, LoraDownloadCache } from './lora-cache.js';
import { checkSafetensorsStart, loraContentType } from './lora-file-check.js';
import { chooseLoraFile } from './lora-file-choice.js';
import {
  DEFAULT_HUB_ENDPOINT,
  type HubFile,
  hubErrorCode,
  hubFileUrl,
  hubHeaders,
  hubStatusMessage,
  listRepo,
} from './lora-hub.js';
import { InFlight, type Progress, type SharedContext } from './lora-inflight.js';
import { type LoraSource, localLoraFile, parseLoraSource } from './lora-source.js';
import { discardPart, hashFileInto, safeDownload } from './safe-download.js';

export interface ResolvedLora {
  /** Absolute path of the `.safetensors` file (a cache blob or a LoRA folder file). */
  readonly file: string;
  /** Lower-case hex SHA-256 of the file. */
  readonly sha256: string;
  readonly bytes: number;
  /** Where it came from, for people: a URL, `owner/repo/file @ commit`, or a LoRA folder name. */
  readonly source: string;
  /** True when no byte was downloaded for this call. */
  readonly cached: boolean;
}

export interface ResolveLoraOptions {
  /** The download cache (blobs, index, partial downloads). */
  readonly cacheDir: string;
  /** The configured LoRA folder; undefined when none is configured. */
  readonly loraDir?: string | undefined;
  /** Largest LoRA file accepted, bytes (default 2 GiB). */
  readonly maxBytes?: number | undefined;
  /** Limit for each hub API request, and the longest a download may go without receiving data, ms. */
  readonly timeoutMs: number;
  /** Longest one download may take in all, ms (`FLUX_SERVE_LORA_DOWNLOAD_TIMEOUT_MS`); unlimited when undefined. */
  readonly downloadTimeoutMs?: number | undefined;
  readonly policy: AddressPolicy;
  /** Hostname resolver (tests inject a stub); defaults to the system resolver. */
  readonly lookup?: HostLookup | undefined;
  /** The hub, default https://huggingface.co (`HF_ENDPOINT`). */
  readonly hubEndpoint?: string | undefined;
  /** Sent as `Authorization: Bearer` to the hub's origin only (`HF_TOKEN`). */
  readonly hfToken?: string | undefined;
  /** Use only the cache (`HF_HUB_OFFLINE`). */
  readonly offline?: boolean | undefined;
  /**
   * Disk for downloaded blobs, bytes (`FLUX_SERVE_LORA_CACHE_BYTES`): after each download the least
   * recently used blobs beyond it are deleted (never one held with holdLoraBlob). Unbounded when undefined.
   */
  readonly cacheMaxBytes?: number | undefined;
  /** How long a repo listing (branch → commit, chosen file) is reused without asking again, ms (default 10 min). */
  readonly refTtlMs?: number | undefined;
  readonly onProgress?: Progress | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Prefixed to every error message, e.g. `loras[2].path` (default `lora`). */
  readonly field?: string | undefined;
}

export const DEFAULT_LORA_MAX_BYTES = 2 * 1024 ** 3; // 2 GiB
export const DEFAULT_REF_TTL_MS = 10 * 60 * 1000; // 10 min

const SHA1 = /^[0-9a-f]{40}$/;

/** A repo listing remembered in the cache: what `owner/repo[@rev]` resolved to. */
interface RefEntry {
  readonly sha: string;
  readonly file: string;
  readonly lfsSha256?: string | undefined;
  /** When the hub was asked, ms since the epoch. */
  readonly checkedAt: number;
}

/** Resolves under way, by source as spelled (one repo listing for a burst of equal requests). */
const inFlight = new InFlight<ResolvedLora>();
/** Downloads under way, by cache key: the file they write, however the sources were spelled. */
const downloads = new InFlight<ResolvedLora>();
/** Blobs in use (absolute path → holders): eviction keeps them. */
const held = new Map<string, number>();
/** `.part` files being written now: stale-part cleanup keeps them. */
const writing = new Set<string>();

/**
 * Keeps cache eviction away from `file` (a resolved blob) until the returned function is called,
 * e.g. while the other LoRAs of the same request are still downloading.
 *
 * @example
 * const release = holdLoraBlob(resolved.file);
 * try { await resolveTheOthers(); } finally { release(); }
 */
export function holdLoraBlob(file: string): () => void {
  held.set(file, (held.get(file) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (held.get(file) ?? 1) - 1;
    if (left > 0) held.set(file, left);
    else held.delete(file);
  };
}
/** SHA-256 of LoRA folder files by path, size, mtime and inode. */
const localHashes = new Map<string, string>();

async function resolveLocal(field: string, name: string, options: ResolveLoraOptions): Promise<ResolvedLora> {
  const file = await localLoraFile(field, name, options.loraDir);
  const info = await stat(file);
  const maxBytes = options.maxBytes ?? DEFAULT_LORA_MAX_BYTES;
  const source = `LoRA folder file ${name}`;
  if (info.size > maxBytes) {
    throw fetchError(
      field,
      `${source} is ${formatBytes(info.size)}, above the limit of ${formatBytes(maxBytes)}`,
    );
  }
  await checkSafetensorsStart(field, file, info.size, source);
  const memo = `${file}\0${info.size}\0${info.mtimeMs}\0${info.ino}`;
  let sha256 = localHashes.get(memo);
  if (sha256 === undefined) {
    const hash = createHash('sha256');
    await hashFileInto(file, hash);
    sha256 = hash.digest('hex');
    localHashes.set(memo, sha256);
  }
  return { file, sha256, bytes: info.size, source, cached: true };
}

/** Everything one resolution needs, with defaults applied. */
interface Run {
  readonly options: ResolveLoraOptions;
  readonly ctx: SharedContext;
  readonly cache: LoraDownloadCache;
  readonly endpoint: string;
  readonly maxBytes: number;
}

function hit(entry: BlobEntry & { readonly file: string }): ResolvedLora {
  return { file: entry.file, sha256: entry.sha256, bytes: entry.bytes, source: entry.source, cached: true };
}

function offlineMiss(run: Run, what: string): Error {
  return fetchError(
    run.ctx.field,
    `${what} is not in the LoRA cache, and offline mode (HF_HUB_OFFLINE) is on`,
  );
}

interface DownloadExtra {
  readonly headers?: Record<string, string>;
  readonly expectSha256?: string | undefined;
  readonly describeStatus?: (status: number, code: string | undefined) => string | undefined;
}

/** Downloads `url` into `part`, checks it, stores it under `key`, and evicts beyond the limit. */
async function download(
  run: Run,
  key: string,
  part: string,
  url: string,
  what: string,
  extra: DownloadExtra,
): Promise<ResolvedLora> {
  const { ctx, options } = run;
  const got = await safeDownload(url, part, {
    field: ctx.field,
    maxBytes: run.maxBytes,
    idleTimeoutMs: options.timeoutMs,
    totalTimeoutMs: options.downloadTimeoutMs,
    allowedContentTypes: loraContentType,
    policy: options.policy,
    lookup: options.lookup,
    headers: extra.headers,
    onProgress: ctx.onProgress,
    signal: ctx.signal,
    describeStatus:
      extra.describeStatus && ((status, answer) => extra.describeStatus?.(status, hubErrorCode(answer.res))),
  });
  try {
    if (extra.expectSha256 !== undefined && got.sha256 !== extra.expectSha256) {
      throw fetchError(
        ctx.field,
        `${what} downloaded with SHA-256 ${got.sha256}, but the hub lists ${extra.expectSha256}`,
      );
    }
    await checkSafetensorsStart(ctx.field, part, got.bytes, what);
  } catch (error) {
    await discardPart(part);
    throw error;
  }
  const source =
    got.fileName === undefined || what.endsWith(got.fileName) ? what : `${what} (${got.fileName})`;
  const entry: BlobEntry = { sha256: got.sha256, bytes: got.bytes, source };
  const file = await run.cache.store(key, part, entry);
  if (options.cacheMaxBytes !== undefined) {
    const release = holdLoraBlob(file);
    try {
      await run.cache.evict(options.cacheMaxBytes, held, writing);
    } finally {
      release();
    }
  }
  return { ...entry, file, cached: false };
}

/**
 * The blob cached under `key`, else one download of `url` shared by every resolve that arrives at
 * the same key: `owner/repo`, `owner/repo/file` and `owner/repo@main/file` may all name one hub
 * file, and two downloads into its one `.part` would interleave. The cache is looked up inside the
 * shared work, so a resolve arriving just after a download finished finds the blob.
 */
function cachedOrDownload(
  run: Run,
  key: string,
  url: string,
  what: string,
  extra: DownloadExtra,
): Promise<ResolvedLora> {
  const { ctx } = run;
  const caller = { signal: ctx.signal, onProgress: ctx.onProgress };
  return downloads.run(`${run.cache.dir}\0${key}`, ctx.field, what, caller, async (shared) => {
    const mine: Run = { ...run, ctx: shared };
    const cached = await run.cache.lookup(key);
    if (cached !== undefined) return hit(cached);
    if (run.options.offline) throw offlineMiss(mine, what);
    const part = await run.cache.partPath(key);
    writing.add(part);
    try {
      return await download(mine, key, part, url, what, extra);
    } finally {
      writing.delete(part);
    }
  });
}

async function resolveUrl(run: Run, raw: string): Promise<ResolvedLora> {
  const url = parseFetchUrl(run.ctx.field, raw);
  // A hub `resolve` link may need the token; no other host ever sees it.
  const headers = url.origin === new URL(run.endpoint).origin ? hubHeaders(run.options.hfToken) : {};
  return cachedOrDownload(run, `url ${url.href}`, url.href, displayUrl(url), { headers });
}

/** The commit and file `owner/repo[@rev][/file]` stands for: cached listing, or a fresh one. */
async function resolveRef(run: Run, source: Extract<LoraSource, { kind: 'hub' }>): Promise<RefEntry> {
  const { options, ctx, endpoint } = run;
  const revision = source.revision ?? 'main';
  const shown = `${source.repo}${source.revision === undefined ? '' : `@${revision}`}`;
  const refKey = `hub-ref ${endpoint} ${source.repo}@${revision} ${source.file ?? '*'}`;
  const known = await run.cache.get<RefEntry>(refKey);
  const ttl = options.refTtlMs ?? DEFAULT_REF_TTL_MS;
  if (known !== undefined && (options.offline || Date.now() - known.checkedAt < ttl)) return known;
  if (options.offline) throw offlineMiss(run, source.file === undefined ? shown : `${shown}/${source.file}`);
  const listing = await listRepo(source.repo, revision, {
    endpoint,
    token: options.hfToken,
    timeoutMs: options.timeoutMs,
    signal: ctx.signal,
    policy: options.policy,
    lookup: options.lookup,
    field: ctx.field,
  });
  const loras = listing.files.filter((f) => /\.safetensors$/i.test(f.path)).map((f) => f.path);
  let chosen: HubFile | undefined;
  if (source.file !== undefined) {
    chosen = listing.files.find((f) => f.path === source.file);
    if (chosen === undefined) {
      const there =
        loras.length === 0 ? 'it has no .safetensors files' : `its .safetensors files: ${loras.join(', ')}`;
      throw fetchError(ctx.field, `${shown} has no file ${source.file} (${there})`);
    }
  } else {
    const choice = chooseLoraFile(listing.files);
    if ('file' in choice) {
      chosen = listing.files.find((f) => f.path === choice.file.path);
    } else if (choice.why === 'none') {
      const there = loras.length === 0 ? 'none at all' : `only ${loras.join(', ')}`;
      throw fetchError(ctx.field, `${shown} holds no LoRA .safetensors file (${there})`);
    } else {
      const names = choice.candidates.map((f) => f.path).join(', ');
      throw fetchError(
        ctx.field,
        `${shown} holds several LoRA files; name one as ${source.repo}/<file>: ${names}`,
      );
    }
  }
  const entry: RefEntry = {
    sha: listing.sha,
    file: chosen?.path ?? '',
    lfsSha256: chosen?.lfsSha256,
    checkedAt: Date.now(),
  };
  await run.cache.put(refKey, entry);
  return entry;
}

async function resolveHub(run: Run, source: Extract<LoraSource, { kind: 'hub' }>): Promise<ResolvedLora> {
  const { options, endpoint } = run;
  const pinned = source.revision !== undefined && SHA1.test(source.revision) && source.file !== undefined;
  const ref: Omit<RefEntry, 'checkedAt'> = pinned
    ? { sha: source.revision as string, file: source.file as string }
    : await resolveRef(run, source);
  const what = `${source.repo}/${ref.file} @ ${ref.sha.slice(0, 12)}`;
  const key = `hub-file ${endpoint} ${source.repo}@${ref.sha} ${ref.file}`;
  const url = hubFileUrl(endpoint, source.repo, ref.sha, ref.file);
  return cachedOrDownload(run, key, url, what, {
    headers: hubHeaders(options.hfToken),
    expectSha256: ref.lfsSha256,
    describeStatus: (status, code) => hubStatusMessage(status, source.repo, options.hfToken, code, ref.file),
  });
}

/**
 * Resolves a request's LoRA `path` to a verified local `.safetensors` file, downloading it into the
 * cache when needed. Concurrent calls that arrive at the same file (same cache) download it once,
 * however its source was spelled.
 *
 * @throws FluxServeError FLUX_ERR_USAGE (400) with a message starting with `options.field`: a path
 *   escaping the LoRA folder or not found there, a refused or failed download, a file over
 *   `maxBytes`, a hub refusal (401/403 mention HF_TOKEN), an ambiguous repo (the candidates listed),
 *   a file that is not safetensors, an offline miss, cancellation
 *
 * @example
 * const lora = await resolveLora('Octree/flux-schnell-lora', {
 *   field: 'loras[0].path',
 *   cacheDir: join(config.home, 'loras'),
 *   timeoutMs: config.fetchTimeoutMs,
 *   policy: config.fetchPolicy,
 *   hfToken: config.hfToken,
 * });
 * // { file: '…/blobs/142d57….safetensors', sha256: '142d57…', bytes: 171969416, source: 'Octree/flux-schnell-lora/flux-schnell-lora.safetensors @ ecae74bd84d3', cached: false }
 */
export async function resolveLora(path: string, options: ResolveLoraOptions): Promise<ResolvedLora> {
  const field = options.field ?? 'lora';
  const source = await parseLoraSource(field, path, options.loraDir);
  if (source.kind === 'local') return resolveLocal(field, source.name, options);
  const endpoint = (options.hubEndpoint ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
  const what = source.kind === 'url' ? displayUrl(source.url) : path;
  const key = `${options.cacheDir}\0${endpoint}\0${JSON.stringify(source)}`;
  return inFlight.run(key, field, what, options, (ctx) => {
    const run: Run = {
      options,
      ctx,
      cache: new LoraDownloadCache(options.cacheDir),
      endpoint,
      maxBytes: options.maxBytes ?? DEFAULT_LORA_MAX_BYTES,
    };
    return source.kind === 'url' ? resolveUrl(run, source.url) : resolveHub(run, source);
  });
}
