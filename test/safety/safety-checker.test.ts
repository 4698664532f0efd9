/**
 * The safety checkers on images the tests make (flat colours, noise): nsfwjs MobileNetV2 on the
 * tfjs wasm backend and an ONNX classifier built here, the flag rule at thresholds 0 and 1, and
 * the policies. Probabilities on such images mean nothing about real photos; they show the
 * classifier runs and its output is well-formed (README, "Safety checker").
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { loadNsfwjsChecker, NSFWJS_LABELS } from '../../src/safety/nsfwjs-checker.js';
import { loadOnnxChecker } from '../../src/safety/onnx-checker.js';
import { parseOnnxClassifierSpec } from '../../src/safety/onnx-classifier-spec.js';
import { isFlagged, type SafetyChecker } from '../../src/safety/safety-checker.js';
import { applySafetyPolicy } from '../../src/safety/safety-policy.js';
import { loadSafetyScreen } from '../../src/safety/safety-screen.js';
import { flat, noise, sum } from './safety-images.js';
import { TINY_CLASSIFIER_SPEC, writeTinyClassifier } from './tiny-classifier.js';

const log = createLogger('silent');
const IMAGES = {
  black: flat(256, 256, [0, 0, 0]),
  white: flat(320, 256, [255, 255, 255]),
  skin: flat(224, 224, [224, 172, 140]),
  noise: noise(512, 384),
};

describe('nsfwjs MobileNetV2 on tfjs-wasm', () => {
  let checker: SafetyChecker;
  beforeAll(async () => {
    checker = await loadNsfwjsChecker();
  });
  afterAll(() => checker.dispose());

  it.each(Object.entries(IMAGES))(
    'classifies %s into five labels whose scores sum to 1',
    async (_, image) => {
      const v = await checker.check(image);
      expect(Object.keys(v.scores).sort()).toEqual([...NSFWJS_LABELS.all].sort());
      expect(sum(v.scores)).toBeCloseTo(1, 4);
      for (const p of Object.values(v.scores)) expect(p).toBeGreaterThanOrEqual(0);
      const { Porn = NaN, Hentai = NaN, Sexy = NaN } = v.scores;
      expect(v.nsfwScore).toBeCloseTo(Porn + Hentai + Sexy, 6);
      expect(v.nsfw).toBe(v.nsfwScore >= checker.threshold);
    },
  );

  it('gives the same scores for the same image (deterministic)', async () => {
    const [a, b] = [await checker.check(IMAGES.noise), await checker.check(IMAGES.noise)];
    expect(a.scores).toEqual(b.scores);
  });

  it('flags everything at threshold 0 and nothing at threshold 1', async () => {
    const all = await loadNsfwjsChecker({ threshold: 0 });
    const none = await loadNsfwjsChecker({ threshold: 1 });
    for (const image of Object.values(IMAGES)) {
      expect((await all.check(image)).nsfw).toBe(true);
      expect((await none.check(image)).nsfw).toBe(false);
    }
  });
});

describe('isFlagged', () => {
  it('treats 0 and 1 as always and never, and is ≥ in between', () => {
    expect(isFlagged(0, 0)).toBe(true);
    expect(isFlagged(1, 1)).toBe(false);
    expect(isFlagged(1.0000001, 1)).toBe(false);
    expect(isFlagged(0.5, 0.5)).toBe(true);
    expect(isFlagged(0.49, 0.5)).toBe(false);
  });
});

describe('ONNX classifier from the model home', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safety-onnx-'));
    await writeTinyClassifier(dir);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('runs the model with the JSON normalisation, softmaxes the logits and applies its threshold', async () => {
    const checker = await loadOnnxChecker(dir);
    expect(checker.threshold).toBe(0.85);
    const red = await checker.check(flat(64, 48, [255, 0, 0]));
    const blue = await checker.check(flat(64, 48, [0, 0, 255]));
    const grey = await checker.check(flat(8, 8, [128, 128, 128]));
    // nsfw logit − normal logit = 8·(r − b) with r, b normalised to [−1, 1].
    expect(red.scores.nsfw).toBeCloseTo(1 / (1 + Math.exp(-16)), 5);
    expect(red.nsfw).toBe(true);
    expect(blue.scores.nsfw).toBeCloseTo(1 / (1 + Math.exp(16)), 5);
    expect(blue.nsfw).toBe(false);
    expect(grey.scores.nsfw).toBeCloseTo(0.5, 5);
    for (const v of [red, blue, grey]) expect(sum(v.scores)).toBeCloseTo(1, 6);
    await checker.dispose();
  });

  it('lets the configured threshold override the JSON one', async () => {
    const all = await loadOnnxChecker(dir, { threshold: 0 });
    const none = await loadOnnxChecker(dir, { threshold: 1 });
    expect((await all.check(noise(16, 16))).nsfw).toBe(true);
    expect((await none.check(flat(8, 8, [255, 0, 0]))).nsfw).toBe(false);
  });

  it('is what `auto` picks when model.onnx exists, and nsfwjs otherwise', async () => {
    const onnx = await loadSafetyScreen({ backend: 'auto', policy: 'report', dir }, log);
    expect(onnx?.checker.name).toMatch(/^onnx:/);
    const fallback = await loadSafetyScreen(
      { backend: 'auto', policy: 'report', dir: join(dir, 'none') },
      log,
    );
    expect(fallback?.checker.name).toBe('nsfwjs/MobileNetV2');
    expect(await loadSafetyScreen({ backend: 'off', policy: 'report', dir }, log)).toBeUndefined();
  });

  it('refuses a JSON that does not describe the model, naming the file and the field', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'safety-bad-'));
    try {
      await writeTinyClassifier(bad, {
        ...TINY_CLASSIFIER_SPEC,
        labels: ['a', 'b', 'c'],
        nsfw_labels: ['c'],
      });
      const checker = await loadOnnxChecker(bad);
      await expect(checker.check(flat(8, 8, [1, 2, 3]))).rejects.toThrow(
        /expected 3 float32 \(one per label\)/,
      );
      await writeFile(join(bad, 'model.json'), '{"labels": ["x"]');
      await expect(loadOnnxChecker(bad)).rejects.toThrow(/model\.json: cannot read it/);
      await expect(
        loadSafetyScreen({ backend: 'onnx', policy: 'report', dir: join(bad, 'none') }, log),
      ).rejects.toThrow(/cannot read it/);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });

  it.each([
    [{ ...TINY_CLASSIFIER_SPEC, size: { height: 0, width: 8 } }, /size\.height must be an integer/],
    [{ ...TINY_CLASSIFIER_SPEC, size: 1e9 }, /size\.height must be an integer in 1–1024/],
    [{ ...TINY_CLASSIFIER_SPEC, nsfw_labels: ['porn'] }, /nsfw_labels porn are not in labels/],
    [{ ...TINY_CLASSIFIER_SPEC, image_std: [1, 0, 1] }, /image_std must not contain 0/],
    [{ ...TINY_CLASSIFIER_SPEC, image_mean: [0.5] }, /image_mean must be three numbers/],
    [{ ...TINY_CLASSIFIER_SPEC, threshold: 1.5 }, /threshold 1\.5 is not a number in 0–1/],
    [{ ...TINY_CLASSIFIER_SPEC, outputs: 'softmax' }, /outputs must be "logits" or "probabilities"/],
    [[1, 2], /expected a JSON object/],
  ])('validates the JSON: %j', (json, message) => {
    expect(() => parseOnnxClassifierSpec(json, 'model.json')).toThrow(message);
  });
});

describe('policies for flagged images', () => {
  const image = noise(96, 64, 7);

  it('report and unflagged images keep their pixels', async () => {
    expect(await applySafetyPolicy(image, true, 'report')).toBe(image.rgb);
    expect(await applySafetyPolicy(image, false, 'black')).toBe(image.rgb);
  });

  it('black gives an all-black image of the same size', async () => {
    const out = await applySafetyPolicy(image, true, 'black');
    expect(out.length).toBe(image.rgb.length);
    expect(out.every((v) => v === 0)).toBe(true);
  });

  it('blur keeps the size and the mean colour but removes the detail', async () => {
    const out = await applySafetyPolicy(image, true, 'blur');
    expect(out.length).toBe(image.rgb.length);
    const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
    const spread = (a: Uint8Array) => {
      let d = 0;
      for (let i = 3; i < a.length; i += 3) d += Math.abs((a[i] as number) - (a[i - 3] as number));
      return d / (a.length / 3);
    };
    expect(Math.abs(mean(out) - mean(image.rgb))).toBeLessThan(8);
    expect(spread(out)).toBeLessThan(spread(image.rgb) / 10);
  });

  it('a screen with threshold 0 and policy black blacks out every image', async () => {
    const screen = await loadSafetyScreen(
      { backend: 'nsfwjs', threshold: 0, policy: 'black', dir: '/nonexistent' },
      log,
    );
    const out = await screen?.screen(flat(300, 200, [250, 240, 10]));
    expect(out?.verdict.nsfw).toBe(true);
    expect(out?.rgb.every((v) => v === 0)).toBe(true);
  });
});
