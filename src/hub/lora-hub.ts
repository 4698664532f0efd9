/**
 * @module hub/lora-hub
 * The Hugging Face hub side of LoRA sources: listing a repo at a revision (the model-info API,
 * `GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true`, which answers the commit `sha` and
 * `siblings[] = { rfilename, size, lfs?: { sha256, size } }`), the download URL of a file pinned to
 * a commit, and how the hub's refusals read (401/403 → what to do about HF_TOKEN). Every request
 * goes through the guarded fetcher, with the token only ever sent to the hub's own origin.
 */
import type { IncomingMessage } from 'node:http';
import { fetchError } from './fetch-errors.js';
import type { RepoFile } from './lora-file-choice.js';
import {
  fetchFailure,
  type OpenSafeOptions,
  openSafe,
  type SafeResponse,
  totalDeadline,
} from './safe-fetch.js';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';
/** Largest model-info answer read (a repo with thousands of files is a few MiB). */
const MAX_LISTING_BYTES = 32 * 1024 * 1024;

export interface HubFile extends RepoFile {
  /** SHA-256 of the file's content when it is stored in LFS (all LoRAs are). */
  readonly lfsSha256?: string | undefined;
  /** The git blob id (SHA-1 of `blob <size>\0<content>`): the cache key of files not in LFS. */
  readonly blobId?: string | undefined;
}

export interface RepoListing {
  /** The commit the revision points to. */
  readonly sha: string;
  readonly files: readonly HubFile[];
}

export interface HubRequestOptions extends OpenSafeOptions {
  readonly endpoint: string;
  readonly token?: string | undefined;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
}

/** `Authorization` for the hub when a token is set (openSafe drops it on a cross-origin redirect). */
export function hubHeaders(token: string | undefined): Record<string, string> {
  return token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` };
}

/**
 * How a hub refusal reads, or undefined for statuses without a hub-specific meaning.
 *
 * @example
 * hubStatusMessage(401, 'acme/secret', undefined, 'GatedRepo');
 * // 'acme/secret is gated on the hub (HTTP 401): set HF_TOKEN to a token of an account that accepted its conditions'
 */
export function hubStatusMessage(
  status: number,
  repo: string,
  token: string | undefined,
  errorCode: string | undefined,
  what = repo,
): string | undefined {
  const hasToken = token !== undefined && token !== '';
  if (errorCode === 'GatedRepo' || status === 403) {
    return hasToken
      ? `${repo} is gated on the hub (HTTP ${status}) and the account of HF_TOKEN has no access: accept its conditions on the repo's page`
      : `${repo} is gated on the hub (HTTP ${status}): set HF_TOKEN to a token of an account that accepted its conditions`;
  }
  if (status === 401) {
    return hasToken
      ? `${repo} is private or does not exist, or HF_TOKEN is not valid for it (HTTP 401)`
      : `${repo} is private or does not exist on the hub (HTTP 401); for a private repo set HF_TOKEN`;
  }
  if (status === 404) {
    if (errorCode === 'RevisionNotFound') return `${what}: no such revision in ${repo} (HTTP 404)`;
    if (errorCode === 'EntryNotFound') return `${what} does not exist in ${repo} (HTTP 404)`;
    return `${what} was not found on the hub (HTTP 404)`;
  }
  return undefined;
}

/** The hub's machine-readable reason for a refusal. */
export function hubErrorCode(res: IncomingMessage): string | undefined {
  const code = res.headers['x-error-code'];
  return typeof code === 'string' ? code : undefined;
}

async function readJson(answer: SafeResponse, field: string): Promise<unknown> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of answer.res as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > MAX_LISTING_BYTES) {
      answer.res.destroy();
      throw fetchError(field, `the hub's answer for ${answer.url.pathname} is unreasonably large`);
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (cause) {
    throw fetchError(field, `the hub's answer for ${answer.url.pathname} is not JSON`, cause);
  }
}

/**
 * The commit that `revision` of `repo` points to and the repo's files.
 *
 * @throws FluxServeError FLUX_ERR_USAGE for a refused or failed request, a hub refusal (worded by
 *   hubStatusMessage), or an answer without a commit sha
 *
 * @example
 * const { sha, files } = await listRepo('Octree/flux-schnell-lora', 'main', { endpoint, policy, timeoutMs: 30_000 });
 */
export async function listRepo(
  repo: string,
  revision: string,
  options: HubRequestOptions,
): Promise<RepoListing> {
  const field = options.field ?? 'url';
  const url = `${options.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
  const deadline = totalDeadline(options.timeoutMs, options.signal);
  const answer = await openSafe(url, { ...options, headers: hubHeaders(options.token) }, deadline);
  const { status, res } = answer;
  if (status !== 200) {
    res.destroy();
    const why =
      hubStatusMessage(status, repo, options.token, hubErrorCode(res), `revision ${revision}`) ??
      `listing ${repo} at ${revision} on the hub failed (HTTP ${status})`;
    throw fetchError(field, why);
  }
  let body: unknown;
  try {
    body = await readJson(answer, field);
  } catch (error) {
    throw fetchFailure(field, answer.url, error, deadline);
  }
  const info = body as { sha?: unknown; siblings?: unknown };
  if (typeof info.sha !== 'string' || !/^[0-9a-f]{40}$/.test(info.sha) || !Array.isArray(info.siblings)) {
    throw fetchError(field, `the hub's listing of ${repo} has no commit sha or file list`);
  }
  const files: HubFile[] = [];
  type Sibling = { rfilename?: unknown; size?: unknown; blobId?: unknown; lfs?: { sha256?: unknown } };
  for (const s of info.siblings as Sibling[]) {
    if (typeof s?.rfilename !== 'string') continue;
    const lfsSha256 = typeof s.lfs?.sha256 === 'string' ? s.lfs.sha256.toLowerCase() : undefined;
    const blobId = typeof s.blobId === 'string' && /^[0-9a-f]{40}$/i.test(s.blobId) ? s.blobId : undefined;
    files.push({
      path: s.rfilename,
      size: typeof s.size === 'number' ? s.size : undefined,
      lfsSha256,
      ...(blobId ? { blobId: blobId.toLowerCase() } : {}),
    });
  }
  return { sha: info.sha, files };
}

/**
 * The download URL of `file` in `repo` at commit `sha` (302 to the CDN for LFS files).
 *
 * @example
 * hubFileUrl('https://huggingface.co', 'acme/lora', 'ab12…', 'dir/a b.safetensors');
 * // 'https://huggingface.co/acme/lora/resolve/ab12…/dir/a%20b.safetensors'
 */
export function hubFileUrl(endpoint: string, repo: string, sha: string, file: string): string {
  return `${endpoint}/${repo}/resolve/${sha}/${file.split('/').map(encodeURIComponent).join('/')}`;
}
