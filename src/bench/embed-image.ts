/**
 * @module bench/embed-image
 * A task's output as a data URI for the self-contained report: data URIs pass through, URLs are
 * downloaded (with the endpoint's key only when the URL is on the endpoint's own origin, so a key
 * never leaks to a CDN). Failures give undefined: a missing image must not sink the report.
 */
import { toDataUri } from '../image/encode.js';
import { sniffImageFormat } from '../image/sniff.js';
import type { Endpoint } from './task-client.js';

/** Largest output embedded (a 1536² PNG is about 5 MB). */
const MAX_IMAGE_BYTES = 16 * 1024 * 1024;
const DOWNLOAD_TIMEOUT_MS = 60_000;

/**
 * @example await embedImage('http://127.0.0.1:8080/outputs/abc-0.jpeg', endpoint) // 'data:image/jpeg;base64,/9j/…'
 */
export async function embedImage(output: string, endpoint: Endpoint): Promise<string | undefined> {
  if (output.startsWith('data:image/')) return output;
  try {
    const url = new URL(output);
    const sameOrigin = url.origin === new URL(endpoint.base).origin;
    const res = await fetch(url, {
      headers: sameOrigin && endpoint.key ? { authorization: `Bearer ${endpoint.key}` } : {},
      signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS),
    });
    if (!res.ok) return undefined;
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length > MAX_IMAGE_BYTES) return undefined;
    const sniffed = sniffImageFormat(bytes);
    if (!sniffed.supported) return undefined;
    return toDataUri(bytes, sniffed.format);
  } catch {
    return undefined;
  }
}
