/**
 * @module image/sniff
 * The format of an image file from its first bytes. Names, extensions and data-URI types are
 * chosen by the sender; the magic bytes are what the decoder will act on, so the allow-list
 * (PNG, JPEG, WebP) is enforced on them, before libvips sees the data. A few other common formats
 * are recognised only to name them in the error.
 */
import { errors } from '../errors.js';

/** The input formats the server decodes. */
export type InputFormat = 'png' | 'jpeg' | 'webp';

/** A sniffed format: one we decode, or the name of one we refuse (`'unknown'` when unrecognised). */
export type SniffedFormat =
  | { readonly supported: true; readonly format: InputFormat }
  | { readonly supported: false; readonly name: string };

const ascii = (bytes: Uint8Array, start: number, end: number) =>
  bytes.length >= end
    ? Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1')
    : '';

/**
 * The format of `bytes`, or FLUX_ERR_USAGE naming `field` and what the bytes look like.
 * @example checkImageFormat('image', pngBytes) // 'png'
 */
export function checkImageFormat(field: string, bytes: Uint8Array): InputFormat {
  const sniffed = sniffImageFormat(bytes);
  if (!sniffed.supported)
    throw errors.USAGE(
      `${field}: unsupported image format (${sniffed.name}); allowed formats are PNG, JPEG and WebP`,
    );
  return sniffed.format;
}

/**
 * Identifies `bytes` by signature: PNG `89 50 4E 47 0D 0A 1A 0A`, JPEG `FF D8 FF`, WebP
 * `RIFF····WEBP`.
 *
 * @example
 * sniffImageFormat(pngBytes); // { supported: true, format: 'png' }
 * sniffImageFormat(Buffer.from('GIF89a…')); // { supported: false, name: 'GIF' }
 */
export function sniffImageFormat(bytes: Uint8Array): SniffedFormat {
  if (ascii(bytes, 0, 8) === '\x89PNG\r\n\x1a\n') return { supported: true, format: 'png' };
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return { supported: true, format: 'jpeg' };
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP')
    return { supported: true, format: 'webp' };
  const head = ascii(bytes, 0, Math.min(bytes.length, 16));
  let name = 'unknown';
  if (head.startsWith('GIF8')) name = 'GIF';
  else if (head.startsWith('BM')) name = 'BMP';
  else if (head.startsWith('II*\0') || head.startsWith('MM\0*')) name = 'TIFF';
  else if (head.slice(4, 8) === 'ftyp') name = /avi[fs]/.test(head.slice(8, 12)) ? 'AVIF' : 'HEIF/ISO media';
  else if (head.startsWith('%PDF')) name = 'PDF';
  else if (/^\s*</.test(head)) name = 'SVG/XML/HTML';
  return { supported: false, name };
}
