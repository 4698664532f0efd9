/**
 * @module hub/fetch-errors
 * How a refused or failed fetch reads in a task's `error`: one constructor, so that every fetch
 * failure carries the same code (FLUX_ERR_USAGE, 400, until errors.ts grows a fetch-specific one)
 * and chains the low-level failure as `cause`.
 */
import { errors, type FluxServeError } from '../errors.js';

/** Longest URL echoed in a message: the rest of a signed URL is noise in a task error. */
const MAX_URL_CHARS = 200;

/**
 * A fetch error for `field`, e.g. `image: download exceeds the limit of 20 MiB`.
 *
 * @example
 * throw fetchError('image', 'download exceeds the limit of 20 MiB');
 */
export function fetchError(field: string, why: string, cause?: unknown): FluxServeError {
  const err = errors.USAGE(`${field}: ${why}`);
  if (cause !== undefined) err.cause = cause;
  return err;
}

/**
 * A URL as it may appear in a message: never with credentials, and cut short when long.
 *
 * @example
 * displayUrl(new URL('http://u:p@example.com/a.png')); // 'http://example.com/a.png'
 */
export function displayUrl(url: URL | string): string {
  let text = String(url);
  if (typeof url !== 'string' && (url.username || url.password)) {
    const copy = new URL(url.href);
    copy.username = '';
    copy.password = '';
    text = copy.href;
  }
  return text.length > MAX_URL_CHARS ? `${text.slice(0, MAX_URL_CHARS)}…` : text;
}

/**
 * A byte count in the unit a person would write it in.
 *
 * @example
 * formatBytes(20 * 1024 * 1024); // '20 MiB'
 * formatBytes(2 * 1024 ** 3); // '2 GiB'
 * formatBytes(1000); // '1000 bytes'
 */
export function formatBytes(n: number): string {
  if (n >= 2 ** 30 && n % 2 ** 30 === 0) return `${n / 2 ** 30} GiB`;
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${n} bytes`;
}
