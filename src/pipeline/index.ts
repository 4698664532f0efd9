/**
 * @module pipeline
 * The sampler's pure parts: torch-compatible seeded noise, latent packing and ids, the sigma
 * schedule, img2img strength, the inpainting mask and the Euler/inpaint updates (flux.md §3.4,
 * §4–§6, §8, §9). No ONNX, no I/O.
 */
export { eulerStep, inpaintBlend } from './euler.js';
export { latentMask, packMask } from './mask.js';
export { Mt19937, torchSeed32 } from './mt19937.js';
export { initialNoise, LATENT_CHANNELS, latentSize, randomSeed } from './noise.js';
export { imageIds, packLatents, textIds, unpackLatents } from './packing.js';
export { dynamicShiftMu, type SigmaShift, sigmas } from './schedule.js';
export { img2imgStart } from './strength.js';
export { TorchCpuGenerator, torchRandn } from './torch-randn.js';
