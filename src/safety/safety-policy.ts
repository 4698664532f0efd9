/**
 * @module safety/safety-policy
 * What happens to an image the checker flags. `report` leaves it as generated and only sets its
 * `has_nsfw_contents` entry, as the hosted API does; `blur` makes it unrecognisable (downscaled to
 * at most `BLUR_SIDE` pixels a side, then scaled back: a strong blur at a cost
 * independent of the image size); `black` replaces every pixel with black.
 */
import type { RgbImage } from '../image/decode.js';
import { resizeRgb } from '../image/encode.js';

export type SafetyPolicy = 'report' | 'blur' | 'black';

export const SAFETY_POLICIES: readonly SafetyPolicy[] = ['report', 'blur', 'black'];

/** Longest side of the image a blurred output is scaled up from, pixels. */
export const BLUR_SIDE = 16;

async function blurred({ rgb, width, height }: RgbImage): Promise<Uint8Array> {
  const scale = BLUR_SIDE / Math.max(width, height);
  const small = {
    width: Math.max(1, Math.round(width * scale)),
    height: Math.max(1, Math.round(height * scale)),
  };
  const tiny = await resizeRgb(rgb, width, height, small);
  return resizeRgb(tiny, small.width, small.height, { width, height });
}

/**
 * The pixels to encode for a checked image: unchanged when not flagged or under `report`.
 * @example const out = await applySafetyPolicy(image, verdict.nsfw, 'black'); // all zeros when flagged
 */
export async function applySafetyPolicy(
  image: RgbImage,
  flagged: boolean,
  policy: SafetyPolicy,
): Promise<Uint8Array> {
  if (!flagged || policy === 'report') return image.rgb;
  if (policy === 'black') return new Uint8Array(image.rgb.length);
  return blurred(image);
}
