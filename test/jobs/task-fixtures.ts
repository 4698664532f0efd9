/**
 * Shared builders for the jobs tests: a valid NewTask and a hand-driven clock, so queue order
 * never depends on two calls landing in different milliseconds.
 */

import type { CompletedWork, NewTask } from '../../src/jobs/task.js';
import type { GenerationRequest } from '../../src/pipeline/generation-request.js';

export const request: GenerationRequest = {
  prompt: 'a fox',
  width: 1024,
  height: 768,
  steps: 4,
  seed: -1,
  numImages: 1,
  guidanceScale: 3.5,
  strength: 0.8,
  outputFormat: 'jpeg',
};

export function newTask(overrides: Partial<NewTask> = {}): NewTask {
  return {
    model: 'wavespeed-ai/flux-schnell',
    request,
    input: { prompt: 'a fox', size: '1024*768' },
    owner: null,
    webhook: null,
    ...overrides,
  };
}

export function work(outputs: string[] = ['x-0.jpg']): CompletedWork {
  return {
    outputs,
    hasNsfwContents: outputs.map(() => false),
    seed: 9_876_543_210,
    timings: { inference: 120 },
  };
}

/** A clock that only moves when told to (or by `step` ms per read). */
export function manualClock(start = 1_700_000_000_000, step = 0) {
  let t = start;
  const now = () => {
    const v = t;
    t += step;
    return v;
  };
  const set = (ms: number) => {
    t = ms;
  };
  return { now, set };
}
