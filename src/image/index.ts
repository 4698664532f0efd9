/**
 * @module image
 * User images in, generated images out: the contract's image forms (URL, data URI, base64), format
 * sniffing, decoding with sharp at the generation size, the VAE's input and output conversions,
 * the inpainting paste of kept pixels, and encoding.
 */
export {
  type DecodeOptions,
  decodeMask,
  decodeRgb,
  MAX_INPUT_PIXELS,
  type ResizeFit,
  type RgbImage,
  rgbToVaeInput,
} from './decode.js';
export {
  DEFAULT_QUALITY,
  type EncodeOptions,
  encodeImage,
  type ImageFormat,
  mimeType,
  PNG_COMPRESSION_LEVEL,
  resizeRgb,
  toDataUri,
} from './encode.js';
export { type ImageInput, MAX_IMAGE_BYTES, parseImageInput } from './image-input.js';
export { compositeKept, REPAINT_THRESHOLD } from './inpaint-composite.js';
export { type InputFormat, type SniffedFormat, sniffImageFormat } from './sniff.js';
export { vaeOutputToRgb } from './vae-output.js';
