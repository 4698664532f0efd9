/**
 * @module image/encode
 * Generated RGB to the requested output file with sharp. No metadata is written (sharp strips it
 * by default; dependencies.md §4), so outputs carry no EXIF, ICC or prompt. Defaults, chosen for
 * a server that encodes on every request (1024² timings on a 2-core box in the report):
 * - JPEG quality 90, 4:2:0, Huffman-optimised, without the `mozjpeg` preset: trellis
 *   quantisation saved ~15% of bytes but took ~7× longer (≈95 ms vs ≈14 ms).
 * - WebP quality 90 (lossy, effort 4).
 * - PNG compression level 6 (zlib's default balance; lossless, so level only trades time for size).
 * `resizeTo` stretches to an exact size with Lanczos3: it serves sizes off FLUX's 16-pixel grid,
 * where the image was generated at the nearest multiple of 16 and differs by < 16 pixels a side,
 * so no crop is wanted.
 */
import sharp, { type Sharp } from 'sharp';
import { requireInt, requireLength } from '../arguments.js';
import { errors } from '../errors.js';

/** The output formats of the contract (`output_format`). */
export type ImageFormat = 'jpeg' | 'png' | 'webp';

export interface EncodeOptions {
  /** Resize (Lanczos3, stretched to fill) to exactly this size before encoding. */
  readonly resizeTo?: { readonly width: number; readonly height: number };
  /** JPEG and WebP quality, integer 1–100 (default `DEFAULT_QUALITY`); PNG ignores it. */
  readonly quality?: number;
}

/** JPEG and WebP quality used when none is given. */
export const DEFAULT_QUALITY = 90;
/** zlib level of PNG outputs. */
export const PNG_COMPRESSION_LEVEL = 6;

function rawPipeline(rgb: Uint8Array, width: number, height: number): Sharp {
  requireInt('width', width, 1);
  requireInt('height', height, 1);
  requireLength('rgb', rgb, width * height * 3);
  // A view, not a copy: sharp only reads it.
  return sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), {
    raw: { width, height, channels: 3 },
  });
}

function resized(p: Sharp, from: { width: number; height: number }, to: { width: number; height: number }) {
  requireInt('resize width', to.width, 1);
  requireInt('resize height', to.height, 1);
  if (to.width === from.width && to.height === from.height) return p;
  return p.resize(to.width, to.height, { fit: 'fill', kernel: 'lanczos3' });
}

/**
 * Resizes HWC RGB to exactly `to` (Lanczos3, stretched: the sizes differ by < 16 px a side), for
 * callers that need the pixels, e.g. to composite kept inpainting pixels at the requested size.
 *
 * @example
 * const sized = await resizeRgb(rgb, 1008, 1008, { width: 1000, height: 1000 }); // Uint8Array(1000 * 1000 * 3)
 */
export async function resizeRgb(
  rgb: Uint8Array,
  width: number,
  height: number,
  to: { width: number; height: number },
): Promise<Uint8Array> {
  const data = await resized(rawPipeline(rgb, width, height), { width, height }, to)
    .raw()
    .toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Encodes HWC RGB (width×height×3 bytes) as `format`, optionally resized to `options.resizeTo`.
 * No metadata is written. Defaults: JPEG/WebP quality 90, PNG compression level 6.
 *
 * @throws FluxServeError FLUX_ERR_USAGE for a pixel buffer of the wrong length, a bad size or
 *   quality, or an unknown format
 *
 * @example
 * const jpeg = await encodeImage(rgb, 1024, 1024, 'jpeg');
 * const png = await encodeImage(rgb, 1008, 1008, 'png', { resizeTo: { width: 1000, height: 1000 } });
 */
export async function encodeImage(
  rgb: Uint8Array,
  width: number,
  height: number,
  format: ImageFormat,
  options: EncodeOptions = {},
): Promise<Buffer> {
  const quality = options.quality ?? DEFAULT_QUALITY;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw errors.USAGE(`quality must be an integer 1–100, got ${quality}`);
  }
  let p = rawPipeline(rgb, width, height);
  if (options.resizeTo) p = resized(p, { width, height }, options.resizeTo);
  switch (format) {
    case 'jpeg':
      return p.jpeg({ quality, chromaSubsampling: '4:2:0', optimiseCoding: true }).toBuffer();
    case 'png':
      return p.png({ compressionLevel: PNG_COMPRESSION_LEVEL }).toBuffer();
    case 'webp':
      return p.webp({ quality }).toBuffer();
    default:
      throw errors.USAGE(`output_format must be jpeg, png or webp, got ${String(format)}`);
  }
}

/**
 * The MIME type of an output format.
 *
 * @example
 * mimeType('jpeg'); // 'image/jpeg'
 */
export function mimeType(format: ImageFormat): `image/${ImageFormat}` {
  return `image/${format}`;
}

/**
 * An encoded image as a data URI, the form outputs take with `enable_base64_output`.
 *
 * @example
 * toDataUri(png, 'png'); // 'data:image/png;base64,iVBORw0KGgo…'
 */
export function toDataUri(bytes: Buffer, format: ImageFormat): string {
  return `data:${mimeType(format)};base64,${bytes.toString('base64')}`;
}
