/**
 * @module safety/safety-screen
 * The configured checker and policy as one step of rendering: choose the backend once at worker
 * start (`auto`: the ONNX classifier when `<dir>/model.onnx` exists, else nsfwjs), then screen each
 * generated image — classify it, and black or blur it out when it is flagged and the policy says so.
 */

import { join } from 'node:path';
import { fileExists } from '../file-exists.js';
import type { RgbImage } from '../image/decode.js';
import type { Logger } from '../log.js';
import { loadNsfwjsChecker } from './nsfwjs-checker.js';
import { loadOnnxChecker, ONNX_CLASSIFIER_FILES } from './onnx-checker.js';
import type { SafetyChecker, SafetyVerdict } from './safety-checker.js';
import { applySafetyPolicy, type SafetyPolicy } from './safety-policy.js';

export type SafetyBackend = 'auto' | 'nsfwjs' | 'onnx' | 'off';

export const SAFETY_BACKENDS: readonly SafetyBackend[] = ['auto', 'nsfwjs', 'onnx', 'off'];

/** The worker's safety settings (config.ts `safety`). */
export interface SafetySettings {
  readonly backend: SafetyBackend;
  /** Overrides the classifier's own threshold (nsfwjs 0.7, the ONNX JSON's). */
  readonly threshold?: number;
  readonly policy: SafetyPolicy;
  /** Where `model.onnx` and `model.json` of the ONNX classifier live. */
  readonly dir: string;
}

export interface ScreenedImage {
  /** The pixels to encode: the input, or its blurred or black replacement. */
  readonly rgb: Uint8Array;
  readonly verdict: SafetyVerdict;
}

export interface SafetyScreen {
  readonly checker: SafetyChecker;
  readonly policy: SafetyPolicy;
  screen(image: RgbImage): Promise<ScreenedImage>;
}

async function loadChecker(settings: SafetySettings): Promise<SafetyChecker | undefined> {
  const options = settings.threshold === undefined ? {} : { threshold: settings.threshold };
  switch (settings.backend) {
    case 'off':
      return undefined;
    case 'nsfwjs':
      return loadNsfwjsChecker(options);
    case 'onnx':
      return loadOnnxChecker(settings.dir, options);
    case 'auto':
      return (await fileExists(join(settings.dir, ONNX_CLASSIFIER_FILES.model)))
        ? loadOnnxChecker(settings.dir, options)
        : loadNsfwjsChecker(options);
  }
}

/**
 * Loads the configured checker (once per worker); undefined when the backend is `off`.
 * @example const safety = await loadSafetyScreen({ backend: 'auto', policy: 'report', dir }, log);
 * @throws Error when the chosen classifier cannot load (the worker does not start half-configured)
 */
export async function loadSafetyScreen(
  settings: SafetySettings,
  log: Logger,
): Promise<SafetyScreen | undefined> {
  const started = performance.now();
  const checker = await loadChecker(settings);
  if (!checker) {
    log.warn('safety checker off: has_nsfw_contents reports false for every image');
    return undefined;
  }
  log.info(
    {
      checker: checker.name,
      threshold: checker.threshold,
      policy: settings.policy,
      ms: Math.round(performance.now() - started),
    },
    'safety checker loaded',
  );
  return {
    checker,
    policy: settings.policy,
    async screen(image) {
      const verdict = await checker.check(image);
      return { rgb: await applySafetyPolicy(image, verdict.nsfw, settings.policy), verdict };
    },
  };
}
