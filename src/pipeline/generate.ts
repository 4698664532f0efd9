/**
 * @module pipeline/generate
 * One generation: prompt (+ optional init image and mask) → RGB images, following flux.md §5.6:
 * text encoders once, seeded noise for the whole batch, schedule, Euler flow-matching loop with the
 * inpaint blend, VAE decode. Knows nothing about HTTP or files; runs wherever it is called, so
 * callers keep it off the server's event loop (session.run blocks its thread).
 */
import * as ort from 'onnxruntime-node';
import { vaeOutputToRgb } from '../image/vae-output.js';
import type { FluxModel } from '../runtime/flux-model.js';
import { eulerStep, inpaintBlend } from './euler.js';
import { latentMask, packMask } from './mask.js';
import { initialNoise, LATENT_CHANNELS } from './noise.js';
import { packLatents, unpackLatents } from './packing.js';
import type { PromptEncoder } from './prompt-encoder.js';
import { sigmas as sigmaSchedule } from './schedule.js';
import { schedulerShift } from './scheduler-config.js';
import { img2imgStart } from './strength.js';
import { runClock } from './timed-run.js';
import { repeatBatch, TransformerFeeds } from './transformer-feeds.js';

export interface GenerationInput {
  readonly prompt: string;
  /** Generation size: multiples of 16. */
  readonly width: number;
  readonly height: number;
  readonly steps: number;
  readonly seed: number;
  readonly numImages: number;
  /** Guidance-distilled models only; schnell ignores it. */
  readonly guidanceScale: number;
  /** img2img / inpainting: [1, 3, H, W] in [-1, 1] at the generation size. */
  readonly init?: Float32Array;
  readonly strength: number;
  /** Inpainting: grayscale H×W at the generation size, white = repaint. */
  readonly mask?: Uint8Array;
  readonly lora?: Readonly<Record<string, ort.Tensor>>;
}

/**
 * Where a generation is: `encode` (the prompt, and the input image for img2img; step 0 of 1),
 * `denoise` (step i of n), `decode` (image i of n, the VAE, often the longest stage on a small model).
 */
export type Stage = 'encode' | 'denoise' | 'decode';

export interface StepProgress {
  readonly stage: Stage;
  readonly step: number;
  readonly total: number;
}

export interface GenerationTimings {
  readonly textMs: number;
  /** Initial noise, and the init image VAE-encoded for img2img. */
  readonly latentsMs: number;
  readonly denoiseMs: number;
  readonly decodeMs: number;
  /** Time inside ONNX Runtime, all stages together. */
  readonly runtimeMs: number;
  readonly totalMs: number;
}

export interface GenerationResult {
  /** One HWC RGB image per output, at the generation size. */
  readonly images: Uint8Array[];
  readonly width: number;
  readonly height: number;
  readonly seed: number;
  /** The sigmas the loop actually ran through (ending in 0). */
  readonly sigmas: Float64Array;
  readonly droppedTokens: { readonly clip: number; readonly t5: number };
  readonly timings: GenerationTimings;
  /** For `--dump`: the tensors of this run. */
  readonly tensors: {
    readonly noise: Float32Array;
    readonly txt: Float32Array;
    readonly txtTokens: number;
    readonly pooled: Float32Array;
    readonly latents: Float32Array;
  };
}

export interface GenerateOptions {
  readonly onStep?: (p: StepProgress) => void;
  /** Stops the run between steps with the signal's reason (a cancelled task). */
  readonly signal?: AbortSignal;
}

/**
 * Gives the event loop one turn, then throws if the run was cancelled. session.run blocks its
 * thread, so a cancel message can only be read between steps, and only if the loop gets a turn.
 */
async function checkpoint(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return;
  await new Promise((resolve) => setImmediate(resolve));
  signal.throwIfAborted();
}

/** @example const result = await generate(model, encoder, { prompt: 'a cat', width: 512, height: 512, steps: 4, seed: 1, numImages: 1, guidanceScale: 3.5, strength: 0.8 }); */
export async function generate(
  model: FluxModel,
  encoder: PromptEncoder,
  input: GenerationInput,
  options: GenerateOptions = {},
): Promise<GenerationResult> {
  const started = performance.now();
  const clock = runClock();
  const c = model.transformerConfig;
  await checkpoint(options.signal);
  options.onStep?.({ stage: 'encode', step: 0, total: 1 });
  const B = input.numImages;
  const [H, W] = [input.height, input.width];
  const [h, w] = [H / 8, W / 8];
  const [h2, w2] = [H / 16, W / 16];

  const prompt = await encoder.encode(model, clock.run, input.prompt);
  const textDone = performance.now();

  const schedule = sigmaSchedule(input.steps, schedulerShift(model.scheduler, h2 * w2));
  const noise = initialNoise(input.seed, B, H, W); // [B, 16, h, w]
  const noisePacked = packLatents(noise, B, LATENT_CHANNELS, h, w); // [B, L, 64]
  let start = 0;
  const x = noisePacked.slice();
  let z0Packed: Float32Array | undefined;
  if (input.init) {
    const { latent } = await clock.run(model.vaeEncoder, {
      image: new ort.Tensor('float32', input.init, [1, 3, H, W]),
    });
    if (!latent) throw new Error('VAE encoder returned no latent');
    z0Packed = packLatents(repeatBatch(latent.data as Float32Array, B), B, LATENT_CHANNELS, h, w);
    start = img2imgStart(input.steps, input.strength);
    const s = schedule[start] as number;
    for (let i = 0; i < x.length; i++)
      x[i] = s * (noisePacked[i] as number) + (1 - s) * (z0Packed[i] as number);
  }
  const maskPacked = input.mask ? packMask(latentMask(input.mask, H, W), B, h, w) : undefined;
  const imageEncodeDone = performance.now();

  const transformer = model.manifest.components.transformer;
  const feeds = new TransformerFeeds({
    batch: B,
    h2,
    w2,
    prompt,
    channels: c.inChannels,
    pooledDim: c.pooledProjectionDim,
    jointDim: c.jointAttentionDim,
    ...(c.guidanceEmbeds ? { guidance: input.guidanceScale } : {}),
    layers: transformer?.layers ?? [],
    ...(input.lora ? { lora: input.lora } : {}),
  });
  const total = input.steps - start;
  for (let i = start; i < input.steps; i++) {
    const sigma = schedule[i] as number;
    const next = schedule[i + 1] as number;
    const { out } = await clock.run(model.transformer, feeds.at(x, sigma));
    if (!out) throw new Error('transformer returned no output');
    eulerStep(x, out.data as Float32Array, sigma, next);
    if (maskPacked && z0Packed)
      inpaintBlend(x, noisePacked, z0Packed, maskPacked, next, i === input.steps - 1);
    options.onStep?.({ stage: 'denoise', step: i - start + 1, total });
    await checkpoint(options.signal);
  }
  const denoiseDone = performance.now();

  const latents = unpackLatents(x, B, LATENT_CHANNELS, h, w); // [B, 16, h, w]
  // One image at a time: the decoder's activations grow with the batch (128 channels at full
  // resolution, ~0.5 GB per 1024² image in fp32), and a batch of four would hold them all at once.
  const images: Uint8Array[] = [];
  const perImage = LATENT_CHANNELS * h * w;
  for (let b = 0; b < B; b++) {
    await checkpoint(options.signal);
    options.onStep?.({ stage: 'decode', step: b + 1, total: B });
    const { image } = await clock.run(model.vaeDecoder, {
      latent: new ort.Tensor('float32', latents.subarray(b * perImage, (b + 1) * perImage), [
        1,
        LATENT_CHANNELS,
        h,
        w,
      ]),
    });
    if (!image) throw new Error('VAE decoder returned no image');
    images.push(...vaeOutputToRgb(image.data as Float32Array, 1, H, W));
  }
  const done = performance.now();
  return {
    images,
    width: W,
    height: H,
    seed: input.seed,
    sigmas: schedule.slice(start),
    droppedTokens: prompt.dropped,
    timings: {
      textMs: textDone - started,
      latentsMs: imageEncodeDone - textDone,
      denoiseMs: denoiseDone - imageEncodeDone,
      decodeMs: done - denoiseDone,
      runtimeMs: clock.runtimeMs(),
      totalMs: done - started,
    },
    tensors: { noise, txt: prompt.t5, txtTokens: prompt.t5Length, pooled: prompt.pooled, latents },
  };
}
