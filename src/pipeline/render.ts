/**
 * @module pipeline/render
 * A request end to end: resolve the seed, decode the init image and mask at the generation size,
 * generate, composite the kept pixels back for inpainting, resize to the requested size and
 * encode. Used by `flux-serve generate` and by the worker alike.
 */
import { decodeMask, decodeRgb, type RgbImage, rgbToVaeInput } from '../image/decode.js';
import { encodeImage, resizeRgb } from '../image/encode.js';
import { parseImageInput } from '../image/image-input.js';
import { compositeKept } from '../image/inpaint-composite.js';
import type { FluxModel } from '../runtime/flux-model.js';
import type { ScreenedImage } from '../safety/safety-screen.js';
import { type GenerateOptions, type GenerationInput, type GenerationResult, generate } from './generate.js';
import { type GenerationRequest, generationSide } from './generation-request.js';
import { randomSeed } from './noise.js';
import type { PromptEncoder } from './prompt-encoder.js';

export interface RenderContext {
  readonly model: FluxModel;
  readonly encoder: PromptEncoder;
  /** Downloads an http(s) image (with the server's size and private-network rules). */
  readonly fetchImage: (url: string, field: string) => Promise<Buffer>;
  /** The safety checker and its policy (worker); absent = none installed. */
  readonly safety?: { screen(image: RgbImage): Promise<ScreenedImage> };
  /** Largest input image, pixels (default image/decode's MAX_INPUT_PIXELS). */
  readonly maxInputPixels?: number;
}

export interface RenderedImages {
  /** Encoded images in the requested format and size. */
  readonly outputs: Buffer[];
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  readonly generation: GenerationResult;
  readonly encodeMs: number;
  /** One flag per output; all false when the request disabled the checker or none is installed. */
  readonly hasNsfwContents: boolean[];
  /** Whether the outputs were classified (false: the flags say nothing). */
  readonly safetyChecked: boolean;
  /** Time spent classifying (and blurring or blacking out), ms. */
  readonly safetyMs: number;
}

async function inputBytes(ctx: RenderContext, field: string, value: string): Promise<Buffer> {
  const parsed = parseImageInput(field, value);
  return parsed.kind === 'url' ? ctx.fetchImage(parsed.url, field) : parsed.bytes;
}

/** @example const { outputs, seed } = await render(ctx, { prompt: 'a fox', width: 1024, height: 768, steps: 4, seed: -1, numImages: 1, guidanceScale: 3.5, strength: 0.8, outputFormat: 'png' }); */
export interface RenderOptions extends GenerateOptions {
  /** The transformer's `lora.*` inputs for this request's LoRAs. */
  readonly lora?: GenerationInput['lora'];
}

export async function render(
  ctx: RenderContext,
  request: GenerationRequest,
  { lora, ...options }: RenderOptions = {},
): Promise<RenderedImages> {
  const seed = request.seed === -1 ? randomSeed() : request.seed;
  const width = generationSide(request.width);
  const height = generationSide(request.height);
  const initBytes = request.image ? await inputBytes(ctx, 'image', request.image) : undefined;
  const maskBytes = request.maskImage ? await inputBytes(ctx, 'mask_image', request.maskImage) : undefined;
  const limit = ctx.maxInputPixels === undefined ? {} : { maxPixels: ctx.maxInputPixels };
  const init = initBytes ? await decodeRgb(initBytes, width, height, limit) : undefined;
  const mask = maskBytes ? await decodeMask(maskBytes, width, height, limit) : undefined;
  const generation = await generate(
    ctx.model,
    ctx.encoder,
    {
      prompt: request.prompt,
      width,
      height,
      steps: request.steps,
      seed,
      numImages: request.numImages,
      guidanceScale: request.guidanceScale,
      strength: request.strength,
      ...(init ? { init: rgbToVaeInput(init.rgb, width, height) } : {}),
      ...(mask ? { mask } : {}),
      ...(lora ? { lora } : {}),
    },
    options,
  );
  const started = performance.now();
  const target = { width: request.width, height: request.height };
  const offGrid = width !== target.width || height !== target.height;
  // Kept pixels are composited at the output size, from the input decoded at that size, so black
  // mask areas are exact whether or not the generation size had to be rounded to the 16-grid.
  const keep =
    initBytes && maskBytes
      ? offGrid
        ? {
            rgb: (await decodeRgb(initBytes, target.width, target.height, limit)).rgb,
            mask: await decodeMask(maskBytes, target.width, target.height, limit),
          }
        : { rgb: init?.rgb as Uint8Array, mask: mask as Uint8Array }
      : undefined;
  const finals = await Promise.all(
    generation.images.map(async (rgb) => {
      const sized = offGrid ? await resizeRgb(rgb, width, height, target) : rgb;
      return keep ? compositeKept(sized, keep.rgb, keep.mask, target.width, target.height) : sized;
    }),
  );
  // The checker sees exactly what would be encoded; one image at a time (it is single-threaded).
  const safety = request.safetyChecker === false ? undefined : ctx.safety;
  const safetyStarted = performance.now();
  const hasNsfwContents: boolean[] = [];
  for (const [i, rgb] of finals.entries()) {
    const screened = safety ? await safety.screen({ rgb, ...target }) : undefined;
    hasNsfwContents.push(screened?.verdict.nsfw ?? false);
    if (screened) finals[i] = screened.rgb;
  }
  const safetyMs = performance.now() - safetyStarted;
  const outputs = await Promise.all(
    finals.map((rgb) => encodeImage(rgb, target.width, target.height, request.outputFormat)),
  );
  return {
    outputs,
    seed,
    width: request.width,
    height: request.height,
    generation,
    encodeMs: performance.now() - started - safetyMs,
    hasNsfwContents,
    safetyChecked: safety !== undefined,
    safetyMs,
  };
}
