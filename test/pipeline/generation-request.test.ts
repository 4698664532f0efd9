import { describe, expect, it } from 'vitest';
import {
  checkGenerationRequest,
  type GenerationRequest,
  generationSide,
  parseSize,
} from '../../src/pipeline/generation-request.js';

const ok: GenerationRequest = {
  prompt: 'a cat',
  width: 1024,
  height: 768,
  steps: 4,
  seed: -1,
  numImages: 1,
  guidanceScale: 3.5,
  strength: 0.8,
  outputFormat: 'jpeg',
};

describe('parseSize', () => {
  it.each([
    ['1024*1024', 1024, 1024],
    ['512x768', 512, 768],
    [' 300 X 1536 ', 300, 1536],
  ])('%s', (s, w, h) => expect(parseSize(s)).toEqual({ width: w, height: h }));

  it.each([
    ['2000*1024', /size: width 2000 is above the maximum 1536/],
    ['1024*255', /size: height 255 is below the minimum 256/],
    ['1024', /expected "W\*H"/],
    ['10.5*300', /expected "W\*H"/],
  ])('%s is refused naming the problem', (s, message) => {
    expect(() => parseSize(s)).toThrow(message);
  });
});

describe('generationSide', () => {
  it('rounds to the nearest multiple of 16', () => {
    expect([256, 300, 1000, 1016, 1536].map(generationSide)).toEqual([256, 304, 1008, 1024, 1536]);
  });
});

describe('checkGenerationRequest', () => {
  it('accepts the contract defaults and seeds above 2^31', () => {
    expect(checkGenerationRequest({ ...ok, seed: 9_999_999_999 })).toBeTruthy();
  });

  it.each([
    [{ prompt: '   ' }, /prompt: must not be empty/],
    [{ steps: 51 }, /num_inference_steps: 51 is not an integer in 1–50/],
    [{ numImages: 0 }, /num_images: 0 is not an integer in 1–4/],
    [{ seed: 1.5 }, /seed: 1.5 is not an integer/],
    [{ strength: 1.2 }, /strength: 1.2 is not a number in 0–1/],
    [{ guidanceScale: Number.NaN }, /guidance_scale: NaN/],
    [{ maskImage: 'abc' }, /mask_image: requires image/],
  ] as const)('%j is a 400 naming the field', (patch, message) => {
    let error: unknown;
    try {
      checkGenerationRequest({ ...ok, ...patch });
    } catch (e) {
      error = e;
    }
    expect((error as { statusCode: number }).statusCode).toBe(400);
    expect((error as Error).message).toMatch(message);
  });
});
