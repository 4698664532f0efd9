/**
 * Benchmark: the safety checkers' load time and cost per image, on one core, as the worker runs
 * them (src/safety): nsfwjs MobileNetV2 on the tfjs wasm backend (first load in a fresh process,
 * including the tfjs import) and, for the ONNX route, the test's tiny classifier (which measures
 * the plumbing — resize, normalisation, session run — not a ViT). Images are noise at the sizes a
 * server returns; each is classified `--runs` times after one warm-up and the median is printed.
 *
 *   npx tsx bench/safety.ts [--runs 20]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median } from '../src/bench/stats.js';
import { loadNsfwjsChecker } from '../src/safety/nsfwjs-checker.js';
import { loadOnnxChecker } from '../src/safety/onnx-checker.js';
import type { SafetyChecker } from '../src/safety/safety-checker.js';
import { noise } from '../test/safety/safety-images.js';
import { writeTinyClassifier } from '../test/safety/tiny-classifier.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
const runs = Number(values.runs);
const SIDES = [256, 1024, 1536];

async function perImage(checker: SafetyChecker): Promise<string[]> {
  const rows: string[] = [];
  for (const side of SIDES) {
    const image = noise(side, side, side);
    await checker.check(image);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await checker.check(image);
      times.push(performance.now() - started);
    }
    rows.push(`${side}²: median ${median(times).toFixed(1)} ms, min ${Math.min(...times).toFixed(1)} ms`);
  }
  return rows;
}

let started = performance.now();
const nsfwjs = await loadNsfwjsChecker();
console.log(`nsfwjs MobileNetV2 (tfjs wasm): load ${Math.round(performance.now() - started)} ms`);
for (const row of await perImage(nsfwjs)) console.log(`  ${row}`);

const dir = await mkdtemp(join(tmpdir(), 'bench-safety-'));
try {
  await writeTinyClassifier(dir);
  started = performance.now();
  const onnx = await loadOnnxChecker(dir);
  console.log(`ONNX route, tiny 8² classifier: load ${Math.round(performance.now() - started)} ms`);
  for (const row of await perImage(onnx)) console.log(`  ${row}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
