/**
 * @module hub/safe-download
 * Streams a user-supplied URL to a `.part` file under the same guard as safeFetch (hub/safe-fetch:
 * vetted addresses, vetted redirects, size limit), hashing as it writes, so that a 2 GB LoRA never
 * sits in memory. Two clocks run: an idle limit between bytes, and a total limit for the whole
 * download, so a server trickling a byte now and then cannot hold a task (and the queue behind it)
 * for hours. A `.part` left by an interrupted attempt is resumed with `Range: bytes=N-` and
 * `If-Range` when the first answer carried a strong ETag or a Last-Modified date, and downloaded
 * again from the start when it carried neither (nothing would tell a changed file); the resumed
 * bytes are used only on a 206 whose Content-Range starts at N, otherwise the download restarts
 * cleanly. The caller moves the finished `.part` into place (hub/lora-cache does it atomically).
 *
 * Beside `x.part` lies `x.part.json`: the URL and validator of the bytes in `x.part`, so a `.part`
 * of another URL (or without a record) is never resumed.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FluxServeError } from '../errors.js';
import { displayUrl, fetchError, formatBytes } from './fetch-errors.js';
import {
  checkContentType,
  checkIdentityEncoding,
  declaredLength,
  type FetchDeadline,
  fetchFailure,
  type OpenSafeOptions,
  openSafe,
  type SafeFetchOptions,
  type SafeResponse,
  totalDeadline,
} from './safe-fetch.js';

export interface SafeDownloadOptions extends OpenSafeOptions {
  /** Largest file accepted, bytes (the whole file, also when resuming). */
  readonly maxBytes: number;
  /**
   * Longest wait for a connection, an answer or the next bytes of the body, ms. An idle limit, not a
   * deadline: a 2 GB body legitimately takes minutes, a stalled one should not.
   */
  readonly idleTimeoutMs: number;
  /**
   * Longest the whole download may take, ms (both attempts, when a resume restarts): a server
   * trickling a byte now and then never trips the idle limit. Unlimited when undefined.
   */
  readonly totalTimeoutMs?: number | undefined;
  /** Accepts the media type of a 200/206 answer (as SafeFetchOptions); anything when undefined. */
  readonly allowedContentTypes?: SafeFetchOptions['allowedContentTypes'];
  /** Called for each body chunk with the bytes in the file so far and the whole file's size, if known. */
  readonly onProgress?: (received: number, total: number | undefined) => void;
  readonly signal?: AbortSignal;
  /** Words a non-2xx answer (e.g. a hub's 401 as "set HF_TOKEN"); undefined for the default wording. */
  readonly describeStatus?: (status: number, answer: SafeResponse) => string | undefined;
}

export interface DownloadedFile {
  /** Size of the finished `.part`. */
  readonly bytes: number;
  /** Lower-case hex SHA-256 of the whole file. */
  readonly sha256: string;
  /** The URL the (last) body came from, after redirects. */
  readonly finalUrl: string;
  /** The file name from Content-Disposition, if the answer named one (e.g. a Civitai download). */
  readonly fileName: string | undefined;
  /** Bytes kept from an earlier attempt (0 when the download started from scratch). */
  readonly resumedFrom: number;
}

interface PartRecord {
  readonly url: string;
  /** A strong ETag or a Last-Modified date: sent as If-Range when resuming. */
  readonly validator?: string;
}

const sidecar = (part: string) => `${part}.json`;

/** Removes a `.part` and its record. */
export async function discardPart(part: string): Promise<void> {
  await Promise.all([rm(part, { force: true }), rm(sidecar(part), { force: true })]);
}

/**
 * Bytes of `part` that may be resumed for `url`: 0 when there is none, it belongs to another URL, or
 * its first answer had no validator (without If-Range, a file changed meanwhile would be spliced
 * onto the old bytes; a hub file would fail its hash check, a plain URL would not).
 */
async function resumable(part: string, url: string): Promise<{ start: number; validator?: string }> {
  try {
    const record = JSON.parse(await readFile(sidecar(part), 'utf8')) as PartRecord;
    const { size } = await stat(part);
    if (record.url === url && record.validator !== undefined && size > 0)
      return { start: size, validator: record.validator };
  } catch {
    // no record or no part: start over
  }
  await discardPart(part);
  return { start: 0 };
}

function validatorOf(res: IncomingMessage): string | undefined {
  const etag = res.headers.etag;
  if (etag !== undefined && !etag.startsWith('W/')) return etag; // If-Range needs a strong validator
  return res.headers['last-modified'];
}

/**
 * The file name a Content-Disposition header gives (RFC 6266: `filename*` first), base name only.
 *
 * @example
 * dispositionName(`attachment; filename="a b.safetensors"`); // 'a b.safetensors'
 */
export function dispositionName(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  let name: string | undefined;
  const extended = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  if (extended?.[2] !== undefined) {
    try {
      name = decodeURIComponent(extended[2].trim());
    } catch {
      name = undefined;
    }
  }
  if (name === undefined) {
    const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/i.exec(header);
    name = plain?.[1]?.replace(/\\(.)/g, '$1') ?? plain?.[2]?.trim();
  }
  const base = name?.split(/[\\/]/).pop()?.trim();
  return base === undefined || base === '' || base === '.' || base === '..' ? undefined : base;
}

/** `bytes a-b/total` → { first: a, total } (total undefined for `*`). */
function contentRange(header: string | undefined): { first: number; total: number | undefined } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (!m) return undefined;
  return { first: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** Feeds the bytes of `file` to `hash`. */
export async function hashFileInto(file: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) hash.update(chunk);
}

/**
 * A deadline that fires after `ms` without activity (`touch` restarts it), or when `whole` (the
 * download's total deadline and the caller's cancellation) fires.
 */
function idleDeadline(ms: number, whole: FetchDeadline) {
  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(new Error(`no data for ${ms} ms`)), ms);
  };
  touch();
  const deadline: FetchDeadline = {
    signal: AbortSignal.any([idle.signal, whole.signal]),
    timedOut: () => (idle.signal.aborted ? `stalled: no data for ${ms} ms` : whole.timedOut()),
    cancel: whole.cancel,
  };
  return { deadline, touch, stop: () => clearTimeout(timer) };
}

type Attempt = DownloadedFile | 'restart';

async function attempt(
  url: string,
  part: string,
  options: SafeDownloadOptions,
  from: { start: number; validator?: string },
  whole: FetchDeadline,
): Promise<Attempt> {
  const field = options.field ?? 'url';
  const { deadline, touch, stop } = idleDeadline(options.idleTimeoutMs, whole);
  const headers: Record<string, string> = { ...options.headers };
  if (from.start > 0) {
    headers.range = `bytes=${from.start}-`;
    if (from.validator !== undefined) headers['if-range'] = from.validator;
  }
  try {
    const answer = await openSafe(url, { ...options, headers }, deadline);
    const { res, status, url: current } = answer;
    touch();
    let start = 0;
    let total: number | undefined;
    if (status === 206 && from.start > 0) {
      const range = contentRange(res.headers['content-range']);
      if (range?.first !== from.start) {
        res.destroy(); // a range we did not ask for: start over without one
        return 'restart';
      }
      start = from.start;
      total = range.total;
    } else if (status === 416 && from.start > 0) {
      res.destroy(); // the server's file is shorter than our part: it changed
      return 'restart';
    } else if (status >= 200 && status <= 299 && status !== 206) {
      total = declaredLength(res);
    } else {
      res.destroy();
      const why =
        options.describeStatus?.(status, answer) ?? `${displayUrl(current)} answered HTTP ${status}`;
      throw fetchError(field, why);
    }
    try {
      checkContentType(field, answer, options.allowedContentTypes);
    } catch (error) {
      await discardPart(part); // the server now answers with something else: its old bytes are no use
      throw error;
    }
    checkIdentityEncoding(field, answer);
    if (total !== undefined && total > options.maxBytes) {
      res.destroy();
      await discardPart(part);
      throw fetchError(
        field,
        `${displayUrl(url)} is ${formatBytes(total)}, above the limit of ${formatBytes(options.maxBytes)}`,
      );
    }
    const hash = createHash('sha256');
    if (start > 0) {
      await hashFileInto(part, hash);
    } else {
      const validator = validatorOf(res);
      const record: PartRecord = validator === undefined ? { url } : { url, validator };
      await writeFile(sidecar(part), JSON.stringify(record));
    }
    let received = start;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        touch();
        received += chunk.length;
        if (received > options.maxBytes) {
          done(fetchError(field, `${displayUrl(url)} exceeds the limit of ${formatBytes(options.maxBytes)}`));
          return;
        }
        hash.update(chunk);
        options.onProgress?.(received, total);
        done(null, chunk);
      },
    });
    try {
      await pipeline(res, count, createWriteStream(part, { flags: start > 0 ? 'a' : 'w' }), {
        signal: deadline.signal,
      });
    } catch (error) {
      if (error instanceof FluxServeError) {
        await discardPart(part); // over the limit: nothing worth resuming
        throw error;
      }
      if (deadline.signal.aborted) throw error; // a stall or a cancellation, worded below
      const why = (error as { code?: string }).code ?? (error as Error).message;
      throw fetchError(
        field,
        `download of ${displayUrl(current)} was cut short after ${received} bytes (${why})`,
        error,
      );
    }
    if (!res.complete || (total !== undefined && received !== total)) {
      throw fetchError(field, `download of ${displayUrl(current)} was cut short after ${received} bytes`);
    }
    return {
      bytes: received,
      sha256: hash.digest('hex'),
      finalUrl: current.href,
      fileName: dispositionName(res.headers['content-disposition']),
      resumedFrom: start,
    };
  } catch (error) {
    // Keep the .part: a cut or stalled download resumes on the next attempt.
    if (error instanceof FluxServeError) throw error;
    throw fetchFailure(field, new URL(url), error, deadline);
  } finally {
    stop();
  }
}

/**
 * Downloads `url` into `part` (resuming what an earlier attempt left there) and returns its size and
 * SHA-256. On failure the bytes received so far stay in `part` for the next attempt, except when the
 * file is over `maxBytes`.
 *
 * @throws FluxServeError FLUX_ERR_USAGE for a refused URL or redirect, a non-2xx answer (worded by
 *   `describeStatus` when given), a media type `allowedContentTypes` refuses, a file over `maxBytes` (declared or counted), a body cut short,
 *   the idle limit, the total limit (`took longer than the N ms limit`), or cancellation
 *
 * @example
 * const { sha256, bytes } = await safeDownload(url, '/cache/partial/abc.part', {
 *   field: 'loras[0].path', maxBytes: 2 * 1024 ** 3, idleTimeoutMs: 30_000, policy: {},
 * });
 */
export async function safeDownload(
  url: string,
  part: string,
  options: SafeDownloadOptions,
): Promise<DownloadedFile> {
  const whole = totalDeadline(options.totalTimeoutMs, options.signal);
  const from = await resumable(part, url);
  const first = await attempt(url, part, options, from, whole);
  if (first !== 'restart') return first;
  await discardPart(part);
  const second = await attempt(url, part, options, { start: 0 }, whole);
  if (second === 'restart') throw new Error('unreachable: a download from byte 0 never restarts');
  return second;
}
