/**
 * @module pipeline/noise
 * The initial latent noise of a request (flux.md §6) and the seed used when a request asks for a
 * random one (seed = -1).
 */
import { getRandomValues } from 'node:crypto';
import { requireInt } from '../arguments.js';
import { TorchCpuGenerator } from './torch-randn.js';

/** FLUX's VAE latent channels (flux.md §4, §7.1). */
export const LATENT_CHANNELS = 16;

/**
 * Latent grid of an image: 2·floor(H/16) × 2·floor(W/16). diffusers floors sizes that are not
 * multiples of 16 the same way (flux.md §1), so the packed 2x2 grid is always whole.
 *
 * @example
 * latentSize(1024, 768); // { height: 128, width: 96 }
 */
export function latentSize(height: number, width: number): { height: number; width: number } {
  requireInt('height', height, 16);
  requireInt('width', width, 16);
  return { height: 2 * Math.floor(height / 16), width: 2 * Math.floor(width / 16) };
}

/**
 * Unpacked noise [batch, 16, h, w] (h, w from `latentSize`), drawn as diffusers' `randn_tensor`
 * with one CPU generator for the whole batch: a single `torch.randn([B,16,h,w])` call, so item b
 * is elements [b·16·h·w, (b+1)·16·h·w) of that one stream (not a re-seeded draw per item).
 * float32 draws, i.e. a float32 pipeline; bf16 pipelines draw with another algorithm (§6).
 *
 * @example
 * const z = initialNoise(42, 1, 1024, 1024); // Float32Array(1 * 16 * 128 * 128), N(0, 1)
 */
export function initialNoise(
  seed: number | bigint,
  batch: number,
  height: number,
  width: number,
): Float32Array {
  requireInt('batch', batch, 1);
  const size = latentSize(height, width);
  return new TorchCpuGenerator(seed).randn(batch * LATENT_CHANNELS * size.height * size.width);
}

/**
 * A seed for requests that ask for a random one: uniform over [0, 2^32) from the OS CSPRNG.
 * 32 bits because torch's generator keeps only the low 32 bits of a seed (mt19937 module), so a
 * wider range would give no new noise; the value is returned so the response can report it and
 * the image can be reproduced.
 *
 * @example
 * const seed = requestSeed === -1 ? randomSeed() : requestSeed;
 */
export function randomSeed(): number {
  return getRandomValues(new Uint32Array(1))[0] as number;
}
