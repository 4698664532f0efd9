/**
 * @module hub/safe-fetch
 * Downloads a user-supplied URL (an image, a LoRA) without becoming a proxy into private networks
 * (api.md, "URL fetching"): every hop is vetted by hub/fetch-target and connected to through
 * hub/pinned-lookup, redirects are followed by hand so each one is vetted again, and size, time
 * and content type are enforced before and while the body streams, never after it has arrived.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { FluxServeError } from '../errors.js';
import type { AddressPolicy } from './address-policy.js';
import { displayUrl, fetchError, formatBytes } from './fetch-errors.js';
import {
  type FetchTarget,
  type HostLookup,
  parseFetchUrl,
  resolveFetchTarget,
  systemLookup,
} from './fetch-target.js';
import { pinnedLookup } from './pinned-lookup.js';

export interface SafeFetchOptions {
  /** Largest body accepted, bytes; a larger Content-Length is refused before the body is read. */
  readonly maxBytes: number;
  /** Deadline for the whole fetch: lookups, connects, redirects and a slow body alike. */
  readonly timeoutMs: number;
  /** Redirects followed before giving up (default 5). */
  readonly maxRedirects?: number;
  /** Accepts the response's media type (lower case, parameters stripped, '' when absent). */
  readonly allowedContentTypes?: (contentType: string) => boolean;
  readonly policy: AddressPolicy;
  /** Resolves hostnames; defaults to the system resolver. Tests inject a stub. */
  readonly lookup?: HostLookup;
  /** Extra request headers (e.g. a Hub token); credentials are dropped on a cross-origin redirect. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Called for each body chunk with the bytes so far and the declared length, if any. */
  readonly onProgress?: (received: number, total: number | undefined) => void;
  /** The request field that named the URL, prefixed to every error ('image', 'loras[0].path'); default 'url'. */
  readonly field?: string;
  /** Cancels the fetch (e.g. the task was cancelled). */
  readonly signal?: AbortSignal;
}

export interface FetchedFile {
  readonly bytes: Buffer;
  /** The media type as passed to `allowedContentTypes`. */
  readonly contentType: string;
  /** The URL the body came from, after redirects. */
  readonly finalUrl: string;
}

const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
const DEFAULT_MAX_REDIRECTS = 5;
/** Headers that carry the caller's identity: they must not follow a redirect to another origin. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

function requestHeaders(extra: Readonly<Record<string, string>> | undefined): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { 'user-agent': 'flux-serve', accept: '*/*' };
  for (const [name, value] of Object.entries(extra ?? {})) headers[name.toLowerCase()] = value;
  // Host comes from the URL (the pinned socket must still ask for the vetted name), and the body
  // must arrive as stored: limits count the bytes we keep, and nothing here decompresses.
  delete headers.host;
  headers['accept-encoding'] = 'identity';
  return headers;
}

function withoutCredentials(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const copy = { ...headers };
  for (const name of CREDENTIAL_HEADERS) delete copy[name];
  return copy;
}

/** One GET to a vetted target over a fresh connection pinned to its addresses. */
function send(
  target: FetchTarget,
  headers: OutgoingHttpHeaders,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const { url } = target;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request({
      protocol: url.protocol,
      host: target.hostname, // Host header and TLS server name; the address comes from `lookup`
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers,
      lookup: pinnedLookup(target.addresses),
      // No pooled sockets: a kept-alive socket is keyed by hostname and could outlive the vetting.
      agent: false,
      signal,
    });
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}

export function declaredLength(res: IncomingMessage): number | undefined {
  const value = res.headers['content-length'];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

async function readBody(
  res: IncomingMessage,
  field: string,
  url: URL,
  maxBytes: number,
  total: number | undefined,
  onProgress: SafeFetchOptions['onProgress'],
  signal: AbortSignal,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received = 0;
  const cutShort = (cause?: unknown) => {
    // A timeout or cancellation also ends the stream early: the caller words those.
    if (signal.aborted) return signal.reason;
    const why =
      cause === undefined ? '' : ` (${(cause as { code?: string }).code ?? (cause as Error).message})`;
    return fetchError(
      field,
      `download of ${displayUrl(url)} was cut short after ${received} bytes${why}`,
      cause,
    );
  };
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      received += chunk.length;
      // Leaving the loop destroys the response, so the rest of an oversized body is never read.
      if (received > maxBytes)
        throw fetchError(field, `download exceeds the limit of ${formatBytes(maxBytes)}`);
      chunks.push(chunk);
      onProgress?.(received, total);
    }
  } catch (error) {
    throw error instanceof FluxServeError ? error : cutShort(error);
  }
  if (!res.complete) throw cutShort();
  return Buffer.concat(chunks, received);
}

/** The signal a fetch runs under, and how to tell a timeout from a cancellation when it fires. */
export interface FetchDeadline {
  readonly signal: AbortSignal;
  /** Phrase for a timeout, e.g. 'took longer than the 30000 ms limit'; undefined while no timeout fired. */
  readonly timedOut: () => string | undefined;
  /** The caller's own signal, if any (a cancelled task). */
  readonly cancel?: AbortSignal | undefined;
}

/**
 * Words a failure of a fetch of `url` for a task's `error`: refusals pass through, a timeout or
 * cancellation says so, anything else is "cannot fetch" with the low-level code (chained as `cause`).
 */
export function fetchFailure(
  field: string,
  url: URL,
  error: unknown,
  deadline: FetchDeadline,
): FluxServeError {
  if (error instanceof FluxServeError) return error;
  const timedOut = deadline.timedOut();
  if (timedOut !== undefined) return fetchError(field, `download of ${displayUrl(url)} ${timedOut}`, error);
  if (deadline.cancel?.aborted)
    return fetchError(field, `download of ${displayUrl(url)} was cancelled`, error);
  const why = (error as { code?: string }).code ?? (error as Error).message;
  return fetchError(field, `cannot download ${displayUrl(url)} (${why})`, error);
}

/**
 * A deadline for a whole fetch: `timeoutMs` from now (none when undefined), or sooner when `cancel`
 * aborts.
 *
 * @example
 * const { res } = await openSafe(url, options, totalDeadline(30_000, task.signal));
 */
export function totalDeadline(timeoutMs: number | undefined, cancel?: AbortSignal): FetchDeadline {
  const timeout = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  const signals = [timeout, cancel].filter((s): s is AbortSignal => s !== undefined);
  return {
    signal: signals.length === 1 ? (signals[0] as AbortSignal) : AbortSignal.any(signals),
    timedOut: () => (timeout?.aborted ? `took longer than the ${timeoutMs} ms limit` : undefined),
    cancel,
  };
}

/** What `openSafe` needs: the policy side of SafeFetchOptions. */
export type OpenSafeOptions = Pick<
  SafeFetchOptions,
  'policy' | 'lookup' | 'headers' | 'maxRedirects' | 'field'
>;

/** The first answer that is not a redirect, with its body unread. */
export interface SafeResponse {
  readonly res: IncomingMessage;
  readonly status: number;
  /** The URL that answered, after redirects. */
  readonly url: URL;
  /** Media type, lower case, parameters stripped, '' when absent. */
  readonly contentType: string;
}

/**
 * Requests `url` under the address policy, following (and vetting) redirects, and returns the first
 * answer that is not a redirect, whatever its status; the caller reads or destroys its body.
 * Request headers (e.g. `Range`) travel with every hop; credentials only within the origin.
 *
 * @throws FluxServeError FLUX_ERR_USAGE as safeFetch does, worded by `fetchFailure`
 *
 * @example
 * const { res, status } = await openSafe(url, { policy, field: 'loras[0].path' }, deadline);
 */
export async function openSafe(
  url: string,
  options: OpenSafeOptions,
  deadline: FetchDeadline,
): Promise<SafeResponse> {
  const field = options.field ?? 'url';
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const lookup = options.lookup ?? systemLookup;
  const { signal } = deadline;
  let current = parseFetchUrl(field, url);
  let headers = requestHeaders(options.headers);
  try {
    for (let redirects = 0; ; redirects++) {
      const target = await resolveFetchTarget(field, current, options.policy, lookup, signal);
      const res = await send(target, headers, signal);
      const status = res.statusCode ?? 0;
      if (!REDIRECTS.has(status)) {
        const contentType = (res.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
        return { res, status, url: current, contentType };
      }
      res.destroy(); // a redirect's body is never wanted
      const location = res.headers.location;
      if (location === undefined) {
        throw fetchError(field, `${displayUrl(current)} answered HTTP ${status} without a Location`);
      }
      if (redirects >= maxRedirects) {
        throw fetchError(
          field,
          `too many redirects downloading ${displayUrl(url)} (more than ${maxRedirects})`,
        );
      }
      const next = parseFetchUrl(field, location, current);
      if (next.origin !== current.origin) headers = withoutCredentials(headers);
      current = next;
    }
  } catch (error) {
    throw fetchFailure(field, current, error, deadline);
  }
}

/**
 * Refuses a media type `allowed` does not accept (nothing is refused when `allowed` is undefined).
 *
 * @throws FluxServeError FLUX_ERR_USAGE, e.g. `image: https://… has content type "text/html", which is not accepted`
 */
export function checkContentType(
  field: string,
  answer: SafeResponse,
  allowed: SafeFetchOptions['allowedContentTypes'],
): void {
  if (allowed === undefined || allowed(answer.contentType)) return;
  answer.res.destroy();
  const { contentType } = answer;
  const what = contentType === '' ? 'no content type' : `content type ${JSON.stringify(contentType)}`;
  throw fetchError(field, `${displayUrl(answer.url)} has ${what}, which is not accepted`);
}

/**
 * Refuses a body sent with a content encoding (limits count stored bytes; nothing here decodes).
 *
 * @throws FluxServeError FLUX_ERR_USAGE naming the encoding
 */
export function checkIdentityEncoding(field: string, answer: SafeResponse): void {
  const encoding = (answer.res.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== '') {
    answer.res.destroy();
    throw fetchError(
      field,
      `${displayUrl(answer.url)} was sent with content encoding ${encoding}, not plain bytes`,
    );
  }
}

/**
 * Downloads `url` under the address policy and limits of `options`.
 *
 * @throws FluxServeError FLUX_ERR_USAGE (400) for an invalid or refused URL (also after a
 *   redirect), a failed lookup or connection (`cause` chained), a non-2xx answer, a refused
 *   content type or encoding, a body over `maxBytes`, the timeout, or cancellation
 *
 * @example
 * const { bytes, contentType } = await safeFetch('https://example.com/cat.png', {
 *   field: 'image',
 *   maxBytes: 20 * 1024 * 1024,
 *   timeoutMs: 30_000,
 *   policy: { allowLoopback: false, allowPrivate: false },
 *   allowedContentTypes: (ct) => ct.startsWith('image/'),
 * });
 */
export async function safeFetch(url: string, options: SafeFetchOptions): Promise<FetchedFile> {
  const field = options.field ?? 'url';
  const deadline = totalDeadline(options.timeoutMs, options.signal);
  const { signal } = deadline;
  const answer = await openSafe(url, options, deadline);
  const { res, status, contentType, url: current } = answer;
  try {
    if (status < 200 || status > 299) {
      res.destroy();
      throw fetchError(field, `${displayUrl(current)} answered HTTP ${status}`);
    }
    checkContentType(field, answer, options.allowedContentTypes);
    checkIdentityEncoding(field, answer);
    const total = declaredLength(res);
    if (total !== undefined && total > options.maxBytes) {
      res.destroy();
      throw fetchError(field, `download exceeds the limit of ${formatBytes(options.maxBytes)}`);
    }
    const onAbort = () => res.destroy(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const bytes = await readBody(res, field, current, options.maxBytes, total, options.onProgress, signal);
      return { bytes, contentType, finalUrl: current.href };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  } catch (error) {
    throw fetchFailure(field, current, error, deadline);
  }
}
