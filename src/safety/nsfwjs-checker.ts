/**
 * @module safety/nsfwjs-checker
 * The default checker: nsfwjs 4.4.0's MobileNetV2 (weights inside the npm package, so it works
 * offline) on TensorFlow.js' WebAssembly backend — ~0.4 s to load and ~75–90 ms per image on one
 * core (dependencies.md §5; the pure-JS CPU backend is ~20× slower, tfjs-node cannot install
 * offline). Five labels: Drawing, Hentai, Neutral, Porn, Sexy; the NSFW score is Porn + Hentai +
 * Sexy (see `NSFWJS_LABELS`). Images are scaled to 224² with sharp (stretched, as nsfwjs' own
 * bilinear resize does) before they reach tfjs, so a 1536² output costs what a 224² one does.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RgbImage } from '../image/decode.js';
import { resizeRgb } from '../image/encode.js';
import { checkThreshold, type SafetyChecker, verdict } from './safety-checker.js';

/** MobileNetV2's input side, pixels. */
const INPUT_SIDE = 224;

export const NSFWJS_LABELS = {
  all: ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'],
  /** Labels whose probabilities add up to the NSFW score. */
  nsfw: ['Hentai', 'Porn', 'Sexy'],
} as const;

/** Flags at this NSFW score unless configured otherwise. */
export const NSFWJS_DEFAULT_THRESHOLD = 0.7;

async function resized({ rgb, width, height }: RgbImage): Promise<Int32Array> {
  return Int32Array.from(await resizeRgb(rgb, width, height, { width: INPUT_SIDE, height: INPUT_SIDE }));
}

/**
 * Loads tfjs' wasm backend and the MobileNetV2 weights; call once per process.
 * @example const checker = await loadNsfwjsChecker({ threshold: 0.7 }); (await checker.check(image)).nsfw
 */
export async function loadNsfwjsChecker(
  options: { readonly threshold?: number } = {},
): Promise<SafetyChecker> {
  const threshold = checkThreshold('nsfwjs', options.threshold ?? NSFWJS_DEFAULT_THRESHOLD);
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // The .wasm files ship in the package's dist/; tfjs would otherwise look for them next to the page.
  const pkg = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  wasm.setWasmPaths(`${join(pkg, 'dist')}/`);
  if (!(await tf.setBackend('wasm'))) throw new Error('nsfwjs: the tfjs wasm backend did not initialise');
  await tf.ready();
  const nsfwjs = await import('nsfwjs');
  // nsfwjs announces the model it loads on console.info; the worker's log says it instead.
  const info = console.info;
  console.info = () => {};
  const model = await nsfwjs.load('MobileNetV2').finally(() => {
    console.info = info;
  });
  return {
    name: 'nsfwjs/MobileNetV2',
    threshold,
    async check(image) {
      const pixels = await resized(image);
      const input = tf.tensor3d(pixels, [INPUT_SIDE, INPUT_SIDE, 3], 'int32');
      try {
        const predictions = await model.classify(input, NSFWJS_LABELS.all.length);
        const scores = Object.fromEntries(predictions.map((p) => [p.className, p.probability]));
        return verdict(scores, NSFWJS_LABELS.nsfw, threshold);
      } finally {
        input.dispose();
      }
    },
    async dispose() {
      model.dispose();
    },
  };
}
