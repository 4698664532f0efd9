/**
 * @module api/openai-edit-inputs
 * The image and mask of an OpenAI `/v1/images/edits` request, made into what a hosted task takes.
 *
 * Masks mean opposite things in the two APIs. OpenAI: a PNG with an alpha channel, the same size as
 * the image, whose *fully transparent* pixels (alpha 0) are the area to edit; colour is ignored.
 * FLUX (api.md `mask_image`): grayscale, *white = repaint*, black = keep, and alpha is flattened onto
 * black (= keep). Passing an OpenAI mask through would repaint nothing, so it is converted: alpha 0
 * becomes white, any other alpha black. Without a mask, an image with transparent pixels is its own
 * mask, as OpenAI's edits did for DALL·E 2; an opaque image without a mask is plain img2img.
 *
 * Both files are decoded here, in the API process (the alpha check, the mask conversion), so the
 * pixel limit is checked from the header first, as the worker's decoder does (image/decode), and
 * sharp's `limitInputPixels` backs it up: a 30-byte PNG claiming 60000×60000 costs nothing. A file
 * whose pixel data does not decode (truncated, corrupt) is the client's error, a 400 naming it.
 */
import sharp, { type Metadata, type Sharp } from 'sharp';
import { MAX_INPUT_PIXELS } from '../image/decode.js';
import { sniffImageFormat } from '../image/sniff.js';
import { LIMITS } from '../pipeline/generation-request.js';
import { OpenAiError } from './openai-errors.js';

export interface EditInputs {
  /** The image as uploaded. */
  readonly image: Buffer;
  /** A FLUX mask (grayscale PNG, white = repaint), when the request has one or the image is transparent. */
  readonly mask?: Buffer;
  /** The image's size as shown (after EXIF orientation). */
  readonly width: number;
  readonly height: number;
}

interface Opened {
  readonly width: number;
  readonly height: number;
  readonly hasAlpha: boolean;
}

/** Sniffs the format and reads the header (no pixel decoded); refuses an image above `maxPixels`. */
async function open(bytes: Buffer, param: string, maxPixels: number): Promise<Opened> {
  const sniffed = sniffImageFormat(bytes);
  if (!sniffed.supported)
    throw new OpenAiError(
      400,
      `${param}: unsupported image format (${sniffed.name}); use PNG, JPEG or WebP`,
      param,
      'invalid_image_format',
    );
  let meta: Metadata;
  try {
    // Header only: no pixel limit needed here, and without one the error below can quote the size.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (cause) {
    throw unreadable(param, cause);
  }
  const pixels = meta.width * meta.height;
  if (pixels > maxPixels)
    throw new OpenAiError(
      400,
      `${param}: the image is ${meta.width}x${meta.height} (${(pixels / 1e6).toFixed(1)} MP), ` +
        `above the limit of ${(maxPixels / 1e6).toFixed(1)} MP`,
      param,
      'image_too_large',
    );
  const turned = (meta.orientation ?? 1) >= 5;
  return {
    width: turned ? meta.height : meta.width,
    height: turned ? meta.width : meta.height,
    hasAlpha: meta.hasAlpha,
  };
}

function unreadable(param: string, cause: unknown): OpenAiError {
  return new OpenAiError(
    400,
    `${param}: cannot read the image (${(cause as Error).message.trim()})`,
    param,
    'invalid_image',
  );
}

/**
 * A decoder for a file whose header `open` has passed. failOn 'error': truncated or corrupt pixel
 * data is refused, libvips warnings (common in camera JPEGs) are tolerated, as in image/decode.
 */
const decoder = (bytes: Buffer, maxPixels: number): Sharp =>
  sharp(bytes, { limitInputPixels: maxPixels, failOn: 'error' });

/** Runs a decode, turning its failure into a 400 naming `param`. */
async function decoding<T>(param: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (cause) {
    throw unreadable(param, cause);
  }
}

/**
 * OpenAI transparency → FLUX mask: alpha 0 → 255 (repaint), alpha ≥ 1 → 0 (keep), one channel PNG.
 * @example await fluxMaskFromAlpha(openAiMaskPng) // grayscale PNG, white where the mask was transparent
 */
export async function fluxMaskFromAlpha(rgba: Buffer, maxPixels = MAX_INPUT_PIXELS): Promise<Buffer> {
  return decoder(rgba, maxPixels)
    .autoOrient()
    .extractChannel('alpha')
    .threshold(1)
    .negate()
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

/** Decodes every pixel (so a broken file is refused here, not in the worker) and finds alpha 0. */
async function hasTransparentPixel(bytes: Buffer, maxPixels: number): Promise<boolean> {
  const { channels } = await decoder(bytes, maxPixels).stats();
  return (channels[3]?.min ?? 255) === 0;
}

/**
 * Checks an edit's image and mask and converts the mask (module header); `maxPixels` is the largest
 * image or mask as stored (FLUX_SERVE_MAX_INPUT_PIXELS).
 * @throws OpenAiError (400) naming `image` or `mask`: unsupported format, above the pixel limit,
 *   pixel data that does not decode, a mask without alpha, or a mask of another size than the image
 */
export async function editInputs(
  image: Buffer,
  mask: Buffer | undefined,
  maxPixels = MAX_INPUT_PIXELS,
): Promise<EditInputs> {
  const img = await open(image, 'image', maxPixels);
  const size = { width: img.width, height: img.height };
  if (mask) {
    const m = await open(mask, 'mask', maxPixels);
    if (!m.hasAlpha)
      throw new OpenAiError(
        400,
        'mask: the mask needs an alpha channel; its fully transparent pixels mark the area to edit',
        'mask',
        'invalid_mask',
      );
    if (m.width !== img.width || m.height !== img.height)
      throw new OpenAiError(
        400,
        `mask: the mask is ${m.width}x${m.height} but the image is ${img.width}x${img.height}; they must match`,
        'mask',
        'invalid_mask',
      );
    const converted = await decoding('mask', () => fluxMaskFromAlpha(mask, maxPixels));
    // The image is not decoded here otherwise: check it now rather than fail the task in the worker.
    await decoding('image', () => decoder(image, maxPixels).stats());
    return { image, mask: converted, ...size };
  }
  if (await decoding('image', () => hasTransparentPixel(image, maxPixels)))
    return { image, mask: await decoding('image', () => fluxMaskFromAlpha(image, maxPixels)), ...size };
  return { image, ...size };
}

/**
 * An edit's `size: "auto"`: the image's own size, scaled (aspect kept) into the contract's side range.
 * @example autoEditSize(3000, 2000) // '1536x1024'
 */
export function autoEditSize(width: number, height: number): string {
  const { min, max } = LIMITS.side;
  const scale = Math.max(Math.min(1, max / Math.max(width, height)), min / Math.min(width, height));
  const side = (v: number) => Math.min(max, Math.max(min, Math.round(v * scale)));
  return `${side(width)}x${side(height)}`;
}
