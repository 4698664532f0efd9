/**
 * Benchmark: build a full-width FLUX transformer (hidden 3072, 24 heads, the real block structure,
 * fewer blocks) from a random bf16 checkpoint of >= 1 GB, and print build time and peak RSS.
 * The build runs in a child process so its peak RSS is its own.
 *
 *   npm run bench:build -- [--double 2] [--single 2] [--dtype fp16|fp32] [--keep]
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseFluxConfig } from '../src/arch/flux-config.js';
import { fluxTensors } from '../src/arch/flux-layers.js';
import { parameterCount } from '../src/arch/param-tensor.js';
import { randomFluxTensors } from '../src/arch/random-flux.js';
import { writeSafetensors } from '../src/weights/safetensors-writer.js';

const { values } = parseArgs({
  options: {
    double: { type: 'string', default: '2' },
    single: { type: 'string', default: '2' },
    dtype: { type: 'string', default: 'fp16' },
    keep: { type: 'boolean', default: false },
  },
});

const configJson = {
  num_layers: Number(values.double),
  num_single_layers: Number(values.single),
  guidance_embeds: false,
};
const config = parseFluxConfig(configJson);
const dir = await mkdtemp(join(tmpdir(), 'flux-bench-build-'));
const checkpoint = join(dir, 'checkpoint');
const out = join(dir, 'model');
await mkdir(join(checkpoint, 'transformer'), { recursive: true });
await writeFile(join(checkpoint, 'transformer', 'config.json'), JSON.stringify(configJson));

const params = parameterCount(fluxTensors(config));
let t = performance.now();
await writeSafetensors(
  join(checkpoint, 'flux1-schnell.safetensors'),
  randomFluxTensors(config, 1).map((r) => ({
    name: r.name,
    dtype: 'BF16' as const,
    shape: r.shape,
    data: r.values,
  })),
);
const checkpointBytes = (await stat(join(checkpoint, 'flux1-schnell.safetensors'))).size;
const writeSeconds = (performance.now() - t) / 1000;

t = performance.now();
const report = execFileSync(
  process.execPath,
  ['--import', 'tsx', join(import.meta.dirname, 'build-child.ts'), checkpoint, out, values.dtype as string],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
);
const child = JSON.parse(report) as { buildSeconds: number; maxRssBytes: number; dataBytes: number };
console.log(
  JSON.stringify(
    {
      date: new Date().toISOString().slice(0, 10),
      config: `hidden ${config.hiddenSize}, ${config.numHeads} heads, ${config.numLayers} double + ${config.numSingleLayers} single blocks`,
      parameters: params,
      checkpointGB: +(checkpointBytes / 1e9).toFixed(3),
      checkpointWriteSeconds: +writeSeconds.toFixed(1),
      dtype: values.dtype,
      buildSeconds: +child.buildSeconds.toFixed(1),
      buildWallSeconds: +((performance.now() - t) / 1000).toFixed(1),
      outputDataGB: +(child.dataBytes / 1e9).toFixed(3),
      buildPeakRssMB: Math.round(child.maxRssBytes / 1e6),
    },
    null,
    2,
  ),
);
if (!values.keep) await rm(dir, { recursive: true, force: true });
else console.log(`kept ${dir}`);
