/**
 * @module safety/safety-checker
 * What every NSFW classifier behind `enable_safety_checker` provides, and the flag rule they share.
 * A checker loads once (in the worker process, which owns the model and runs off the server's event
 * loop) and then classifies generated images as 8-bit RGB pixels, before they are encoded.
 */
import type { RgbImage } from '../image/decode.js';

/** One image's classification: every label's probability (they sum to ~1) and the verdict. */
export interface SafetyVerdict {
  /** Flagged: `nsfwScore` reached the threshold (see `isFlagged`). */
  readonly nsfw: boolean;
  /** Sum of the probabilities of the checker's NSFW labels, 0–1. */
  readonly nsfwScore: number;
  /** Probability per label, e.g. `{ Neutral: 0.83, Drawing: 0.14, Porn: 0.01, … }`. */
  readonly scores: Readonly<Record<string, number>>;
}

export interface SafetyChecker {
  /** `nsfwjs/MobileNetV2`, `onnx:<path>`: for logs and warnings. */
  readonly name: string;
  /** The threshold the checker flags at (configured, or the classifier's own default). */
  readonly threshold: number;
  /** Classifies one image; pixels are HWC RGB, `width * height * 3` bytes. */
  check(image: RgbImage): Promise<SafetyVerdict>;
  /** Frees the classifier's memory. */
  dispose(): Promise<void>;
}

/**
 * The flag rule of every checker: a threshold of 0 flags every image and 1 flags none, whatever
 * rounding does to a score that should be exactly 0 or 1; in between, a score at or above it flags.
 * @example isFlagged(0.9, 0.85) // true
 */
export function isFlagged(nsfwScore: number, threshold: number): boolean {
  if (threshold <= 0) return true;
  if (threshold >= 1) return false;
  return nsfwScore >= threshold;
}

/**
 * A verdict from label probabilities: the NSFW score is the sum over `nsfwLabels`.
 * @example verdict({ normal: 0.1, nsfw: 0.9 }, ['nsfw'], 0.85) // { nsfw: true, nsfwScore: 0.9, scores: … }
 */
export function verdict(
  scores: Readonly<Record<string, number>>,
  nsfwLabels: readonly string[],
  threshold: number,
): SafetyVerdict {
  const nsfwScore = Math.min(
    1,
    nsfwLabels.reduce((sum, label) => sum + (scores[label] ?? 0), 0),
  );
  return { nsfw: isFlagged(nsfwScore, threshold), nsfwScore, scores };
}

/** Checks a threshold from configuration or a classifier's JSON. */
export function checkThreshold(where: string, threshold: number): number {
  if (!Number.isFinite(threshold) || threshold < 0 || threshold > 1)
    throw new Error(`${where}: threshold ${threshold} is not a number in 0–1`);
  return threshold;
}
