/**
 * Benchmark: how much of a generation's wall time is spent outside ONNX Runtime (tokenizing,
 * noise, packing, Euler updates, feeds, pixel conversion, encoding), for the tiny model at 256²
 * and 1024². Goal: at most 2% outside ONNX Runtime, encoding excluded.
 *
 *   npx tsx bench/generate.ts [--runs 3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildModel } from '../src/build/build-model.js';
import { loadModelSpec } from '../src/build/model-spec.js';
import { writeTinyCheckpoint } from '../src/build/tiny-checkpoint.js';
import { createLogger } from '../src/log.js';
import { render } from '../src/pipeline/render.js';
import { loadFluxModel } from '../src/runtime/flux-model.js';
import { offlineRenderContext } from '../test/support/render-context.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const log = createLogger('warn');
const dir = await mkdtemp(join(tmpdir(), 'flux-bench-generate-'));
await writeTinyCheckpoint(join(dir, 'ckpt'), await loadModelSpec('tiny'), { seed: 1 });
await buildModel(join(dir, 'ckpt'), join(dir, 'model'), { dtype: 'float32', ops: 'fused', log });
const model = await loadFluxModel(join(dir, 'model'), { provider: 'cpu', log });
const ctx = await offlineRenderContext(model);

const rows = [];
for (const side of [256, 1024]) {
  const request = {
    prompt: 'a lighthouse on a cliff at dawn, volumetric light',
    width: side,
    height: side,
    steps: 4,
    seed: 7,
    numImages: 1,
    guidanceScale: 3.5,
    strength: 0.8,
    outputFormat: 'jpeg' as const,
  };
  await render(ctx, request); // warm-up: first runs allocate ONNX Runtime's arenas
  let wall = 0;
  let generation = 0;
  let runtime = 0;
  let encode = 0;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = await render(ctx, request);
    wall += performance.now() - t;
    generation += r.generation.timings.totalMs;
    runtime += r.generation.timings.runtimeMs;
    encode += r.encodeMs;
  }
  rows.push({
    size: `${side}x${side}`,
    wallMs: +(wall / runs).toFixed(1),
    generateMs: +(generation / runs).toFixed(1),
    onnxRuntimeMs: +(runtime / runs).toFixed(1),
    encodeMs: +(encode / runs).toFixed(1),
    outsideOrtPercentOfGenerate: +((100 * (generation - runtime)) / generation).toFixed(2),
    outsideOrtPercentOfWall: +((100 * (wall - runtime)) / wall).toFixed(2),
  });
}
console.log(
  JSON.stringify(
    { date: new Date().toISOString().slice(0, 10), model: 'tiny (fp32, fused, CPU EP)', runs, rows },
    null,
    2,
  ),
);
await model.release();
await rm(dir, { recursive: true, force: true });
