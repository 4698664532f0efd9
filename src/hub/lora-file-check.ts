/**
 * @module hub/lora-file-check
 * A first look at a downloaded or local LoRA: does it start like a safetensors file (an 8-byte
 * little-endian header length, a header that fits in the file, JSON `{ … }`)? This catches the
 * usual wrong downloads — a login or error page, a pickled `.pt`/`.ckpt`, a zip — with a message
 * naming the source, before src/lora parses the header for real.
 */
import { open } from 'node:fs/promises';
import { MAX_HEADER_BYTES } from '../weights/safetensors-header.js';
import { fetchError } from './fetch-errors.js';

/** Media types no LoRA file is served as: pages, documents, media, archives. */
const NOT_LORA_FAMILIES = /^(?:text|image|audio|video|multipart|font|message)\//;
const NOT_LORA_TYPES = new Set([
  'application/json',
  'application/xml',
  'application/javascript',
  'application/ecmascript',
  'application/pdf',
  'application/x-www-form-urlencoded',
  'application/zip',
  'application/gzip',
  'application/x-gzip',
  'application/x-tar',
]);

/**
 * Whether a LoRA download may have this media type (lower case, no parameters, '' when absent).
 * Hosts label safetensors loosely — the hub and Civitai send `application/octet-stream`, S3
 * buckets `binary/octet-stream`, some `application/x-safetensors` or nothing — so only types that
 * are clearly something else (a login page, a JSON error, an image, an archive) are refused, before
 * a byte of the body is kept.
 *
 * @example
 * loraContentType('application/octet-stream'); // true
 * loraContentType('text/html'); // false
 */
export function loraContentType(contentType: string): boolean {
  if (NOT_LORA_FAMILIES.test(contentType) || NOT_LORA_TYPES.has(contentType)) return false;
  return !/\+(?:json|xml)$/.test(contentType);
}

/** What the first bytes of a file that is not safetensors usually are. */
function sniff(head: Buffer): string {
  const text = head.subarray(0, 16).toString('latin1').trimStart().toLowerCase();
  if (text.startsWith('<')) return 'it looks like an HTML or XML page';
  if (text.startsWith('{')) return 'it looks like JSON (an error answer?)';
  if (head[0] === 0x50 && head[1] === 0x4b) return 'it is a zip archive (a PyTorch .pt/.ckpt?)';
  if (head[0] === 0x80) return 'it is a Python pickle';
  return 'its first bytes are not a safetensors header';
}

/**
 * Checks that `file` (of `bytes` bytes) starts like a safetensors file.
 *
 * @param what - the source as the message should name it (a URL, `owner/repo/file`, a folder name)
 * @throws FluxServeError FLUX_ERR_USAGE, e.g. `loras[0].path: https://… is not a safetensors file (it looks like an HTML page)`
 *
 * @example
 * await checkSafetensorsStart('loras[0].path', '/cache/blobs/ab….safetensors', 171_969_416, 'Octree/flux-schnell-lora');
 */
export async function checkSafetensorsStart(
  field: string,
  file: string,
  bytes: number,
  what: string,
): Promise<void> {
  const fail = (why: string) => fetchError(field, `${what} is not a safetensors file (${why})`);
  if (bytes < 10) throw fail(`it is only ${bytes} bytes`);
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(16);
    await handle.read(head, 0, head.length, 0);
    const n = head.readBigUInt64LE(0);
    if (n < 2n || n > BigInt(MAX_HEADER_BYTES) || n > BigInt(bytes - 8)) throw fail(sniff(head));
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, 8 + Number(n) - 1);
    // The header may be space-padded for alignment, so only its first byte and the end matter here.
    const tail = last.toString('latin1');
    if (head[8] !== 0x7b || (tail !== '}' && tail !== ' ')) throw fail('its header is not a JSON object');
  } finally {
    await handle.close();
  }
}
