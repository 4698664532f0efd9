/** The measured half of bench/build-transformer.ts: one build, then its own time and peak RSS on stdout. */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { buildModel } from '../src/build/build-model.js';
import { createLogger } from '../src/log.js';

const [checkpoint, out, dtype] = process.argv.slice(2) as [string, string, string];
const t = performance.now();
await buildModel(checkpoint, out, {
  dtype: dtype === 'fp32' ? 'float32' : 'float16',
  ops: 'fused',
  log: createLogger('warn'),
});
const buildSeconds = (performance.now() - t) / 1000;
const dataBytes = (await stat(join(out, 'transformer.onnx.data'))).size;
// resourceUsage().maxRSS is in KiB.
process.stdout.write(
  JSON.stringify({ buildSeconds, maxRssBytes: process.resourceUsage().maxRSS * 1024, dataBytes }),
);
