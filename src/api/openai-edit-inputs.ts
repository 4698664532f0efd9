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
 */
import sharp from 'sharp';
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

async function open(bytes: Buffer, param: string): Promise<Opened> {
  const sniffed = sniffImageFormat(bytes);
  if (!sniffed.supported)
    throw new OpenAiError(
      400,
      `${param}: unsupported image format (${sniffed.name}); use PNG, JPEG or WebP`,
      param,
      'invalid_image_format',
    );
  try {
    const meta = await sharp(bytes).metadata();
    const turned = (meta.orientation ?? 1) >= 5;
    return {
      width: turned ? meta.height : meta.width,
      height: turned ? meta.width : meta.height,
      hasAlpha: meta.hasAlpha,
    };
  } catch (cause) {
    throw new OpenAiError(
      400,
      `${param}: cannot read the image (${(cause as Error).message})`,
      param,
      'invalid_image',
    );
  }
}

/**
 * OpenAI transparency → FLUX mask: alpha 0 → 255 (repaint), alpha ≥ 1 → 0 (keep), one channel PNG.
 * @example await fluxMaskFromAlpha(openAiMaskPng) // grayscale PNG, white where the mask was transparent
 */
export async function fluxMaskFromAlpha(rgba: Buffer): Promise<Buffer> {
  return sharp(rgba)
    .autoOrient()
    .extractChannel('alpha')
    .threshold(1)
    .negate()
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

async function hasTransparentPixel(bytes: Buffer): Promise<boolean> {
  const { channels } = await sharp(bytes).stats();
  return (channels[3]?.min ?? 255) === 0;
}

/**
 * Checks an edit's image and mask and converts the mask (module header).
 * @throws OpenAiError (400) naming `image` or `mask`: unsupported format, a mask without alpha, or
 *   a mask of another size than the image
 */
export async function editInputs(image: Buffer, mask: Buffer | undefined): Promise<EditInputs> {
  const img = await open(image, 'image');
  const size = { width: img.width, height: img.height };
  if (mask) {
    const m = await open(mask, 'mask');
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
    return { image, mask: await fluxMaskFromAlpha(mask), ...size };
  }
  if (img.hasAlpha && (await hasTransparentPixel(image)))
    return { image, mask: await fluxMaskFromAlpha(image), ...size };
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
