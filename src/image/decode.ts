/**
 * @module image/decode
 * User images (the img2img / inpainting init image and the inpainting mask) to 8-bit pixels at
 * the generation size, with sharp. The rules, in order:
 * - format: PNG, JPEG or WebP, sniffed from the bytes (image/sniff); anything else is a 400.
 * - size: images above `MAX_INPUT_PIXELS` are refused from the header, before any pixel is
 *   decoded (and sharp's `limitInputPixels` backs that up), so a 30-byte PNG that claims
 *   60000×60000 costs nothing.
 * - orientation: the EXIF Orientation tag is applied, so a phone photo is used the way it is shown.
 * - alpha: the init image is flattened onto white; the mask onto black, so a transparent mask
 *   pixel means keep (see `decodeMask`). diffusers instead drops alpha (PIL `convert`), which
 *   exposes whatever colour happens to sit under transparent pixels.
 * - fit: `'cover'` (default) scales the image to cover width×height and center-crops the overflow,
 *   so it is never distorted; diffusers stretches to the target (`'fill'`, offered for parity).
 *   We crop because a 4:3 photo used for a 1:1 generation should not come back squashed, and the
 *   mask is decoded with the same rule so it stays registered to the image.
 * - kernel: Lanczos3 (PIL's LANCZOS in diffusers); a source already at the target size is not
 *   resampled, so its pixels arrive unchanged.
 * Every failure is a FLUX_ERR_USAGE (400) naming the request field.
 */
import sharp, { type OutputInfo, type Sharp } from 'sharp';
import { requireInt, requireLength } from '../arguments.js';
import { errors } from '../errors.js';
import { checkImageFormat } from './sniff.js';

/** Default limit on an input image's pixels (width × height as stored), checked before decoding. */
export const MAX_INPUT_PIXELS = 40_000_000;

/** How an image is brought to the target size: crop to keep proportions, or stretch (diffusers). */
export type ResizeFit = 'cover' | 'fill';

export interface DecodeOptions {
  /** Request field named in errors (default `'image'` for `decodeRgb`, `'mask_image'` for `decodeMask`). */
  readonly field?: string;
  /** Default `'cover'`. */
  readonly fit?: ResizeFit;
  /** Default `MAX_INPUT_PIXELS`. */
  readonly maxPixels?: number;
}

/** Decoded pixels: HWC, 3 channels, row-major, `width * height * 3` bytes. */
export interface RgbImage {
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
}

function cannotDecode(field: string, format: string, cause: unknown) {
  const err = errors.USAGE(
    `${field}: cannot decode the ${format} image (${(cause as Error).message.trim()})`,
  );
  err.cause = cause;
  return err;
}

/** Sniffs, checks the header's size, and opens an auto-oriented sharp pipeline. */
async function open(
  bytes: Buffer,
  field: string,
  maxPixels: number,
): Promise<{ image: Sharp; format: string }> {
  const format = checkImageFormat(field, bytes).toUpperCase();
  let width: number;
  let height: number;
  try {
    // Header only: no limit needed here, and without one the error below can quote the size.
    ({ width, height } = await sharp(bytes, { limitInputPixels: false }).metadata());
  } catch (cause) {
    throw cannotDecode(field, format, cause);
  }
  if (width * height > maxPixels) {
    throw errors.USAGE(
      `${field}: the image is ${width}×${height} (${((width * height) / 1e6).toFixed(1)} MP), ` +
        `above the limit of ${(maxPixels / 1e6).toFixed(1)} MP`,
    );
  }
  // failOn 'error': corrupt or truncated pixel data is refused, libvips warnings (common in camera
  // JPEGs, e.g. extraneous bytes before a marker) are tolerated.
  const image = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error' }).autoOrient();
  return { image, format };
}

/** Resizes with the fit rule and returns exactly width×height×3 bytes. */
async function toRgb(
  image: Sharp,
  field: string,
  format: string,
  width: number,
  height: number,
  fit: ResizeFit,
): Promise<Uint8Array> {
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await image
      .toColourspace('srgb') // grey, 16-bit and CMYK sources all come out as 8-bit sRGB
      .resize(width, height, { fit, position: 'centre', kernel: 'lanczos3' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw cannotDecode(field, format, cause);
  }
  const { data, info } = out;
  if (info.width !== width || info.height !== height || info.channels !== 3) {
    throw errors.USAGE(
      `${field}: decoded to ${info.width}×${info.height}×${info.channels}, not ${width}×${height}×3`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function checkSize(width: number, height: number): void {
  requireInt('width', width, 1);
  requireInt('height', height, 1);
}

/**
 * Decodes an init image to RGB at exactly width×height (rules in the module header: format
 * allow-list, pixel limit, EXIF orientation, alpha onto white, cover-crop or fill, Lanczos3).
 *
 * @throws FluxServeError FLUX_ERR_USAGE (400) naming the field for an unsupported format, an image
 *   above the pixel limit, or bytes that do not decode
 *
 * @example
 * const { rgb } = await decodeRgb(bytes, 1024, 768); // Uint8Array(1024 * 768 * 3), HWC
 * const stretched = await decodeRgb(bytes, 1024, 768, { fit: 'fill' }); // diffusers' resize
 */
export async function decodeRgb(
  bytes: Buffer,
  width: number,
  height: number,
  options: DecodeOptions = {},
): Promise<RgbImage> {
  checkSize(width, height);
  const field = options.field ?? 'image';
  const { image, format } = await open(bytes, field, options.maxPixels ?? MAX_INPUT_PIXELS);
  const rgb = await toRgb(
    image.flatten({ background: '#ffffff' }),
    field,
    format,
    width,
    height,
    options.fit ?? 'cover',
  );
  return { rgb, width, height };
}

/**
 * Decodes an inpainting mask to grayscale H×W (white = repaint, black = keep), with the same
 * format, size, orientation and fit rules as `decodeRgb` so it lines up with the init image.
 * Alpha is flattened onto black: a transparent pixel means keep, because nothing the user cannot
 * see in an editor should be repainted (diffusers' PIL `convert('L')` ignores alpha instead).
 * Grayscale is PIL's `convert('L')` on the resized RGB, L = (19595·R + 38470·G + 7471·B + 2^15) >> 16
 * (ITU-R 601 on the encoded values), as diffusers' mask processor does; libvips' own grayscale
 * weighs linear light and would move coloured masks across the 50% threshold differently.
 * Binarizing (≥ 128 repaint) is left to the consumers (`latentMask`, `compositeKept`).
 *
 * @throws FluxServeError FLUX_ERR_USAGE (400) naming the field, as `decodeRgb`
 *
 * @example
 * const mask = await decodeMask(bytes, 1024, 768); // Uint8Array(1024 * 768), 0..255
 */
export async function decodeMask(
  bytes: Buffer,
  width: number,
  height: number,
  options: DecodeOptions = {},
): Promise<Uint8Array> {
  checkSize(width, height);
  const field = options.field ?? 'mask_image';
  const { image, format } = await open(bytes, field, options.maxPixels ?? MAX_INPUT_PIXELS);
  const rgb = await toRgb(
    image.flatten({ background: '#000000' }),
    field,
    format,
    width,
    height,
    options.fit ?? 'cover',
  );
  const gray = new Uint8Array(width * height);
  for (let p = 0, i = 0; p < gray.length; p++, i += 3) {
    gray[p] =
      ((rgb[i] as number) * 19595 +
        (rgb[i + 1] as number) * 38470 +
        (rgb[i + 2] as number) * 7471 +
        0x8000) >>>
      16;
  }
  return gray;
}

// diffusers: float32 x/255, then 2x − 1 in float32 (flux.md §8 step 1). Tabulated, so each value is
// bit-identical to that arithmetic (x/127.5 − 1 in float64 can differ in the last bit).
const TO_UNIT = Float32Array.from({ length: 256 }, (_, x) => 2 * Math.fround(x / 255) - 1);

/**
 * HWC RGB bytes → the VAE encoder's input [1, 3, H, W] float32 in [-1, 1]: 0 → −1, 255 → 1,
 * computed as diffusers does (x/255 then 2x − 1, in float32).
 *
 * @example
 * const init = rgbToVaeInput(rgb, 1024, 768); // Float32Array(3 * 768 * 1024), planes R, G, B
 */
export function rgbToVaeInput(rgb: Uint8Array, width: number, height: number): Float32Array {
  checkSize(width, height);
  requireLength('rgb', rgb, width * height * 3);
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0, i = 0; p < plane; p++, i += 3) {
    out[p] = TO_UNIT[rgb[i] as number] as number;
    out[plane + p] = TO_UNIT[rgb[i + 1] as number] as number;
    out[2 * plane + p] = TO_UNIT[rgb[i + 2] as number] as number;
  }
  return out;
}
