/**
 * Benchmark: what a LoRA costs the worker. 1) A full-size FLUX.1 [schnell] LoRA: parsing a
 * diffusers-format rank-16 fp16 file (every transformer linear, split q/k/v as diffusers writes
 * them, like Octree/flux-schnell-lora), the bytes of the transformer inputs one and five of them
 * pack into (what every step uploads) and the pack time, in the layout of format 1 model dirs and
 * in today's per-part layout at fp32 and fp16, and the worker's first task and the same set again
 * (memoised). 2) The per-step cost of 0, 1 and 5 active LoRAs on
 * the tiny model (CPU EP), from the pipeline's denoise timing. Random factors: only time and
 * memory are meaningful.
 *
 *   npx tsx bench/lora.ts [--rank 16] [--runs 3]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { FluxConfig } from '../src/arch/flux-config.js';
import { fluxLoraLayers } from '../src/arch/flux-io.js';
import { fluxLinears } from '../src/arch/flux-layers.js';
import { diffusersRecipes } from '../src/arch/flux-names.js';
import { median } from '../src/bench/stats.js';
import { loadModelSpec } from '../src/build/model-spec.js';
import { createLogger } from '../src/log.js';
import {
  type LoraEntry,
  loraByteSize,
  type PackLayer,
  packedBytes,
  packLoras,
  parseLora,
} from '../src/lora/index.js';
import type { GenerationRequest } from '../src/pipeline/generation-request.js';
import { render } from '../src/pipeline/render.js';
import { loadFluxModel } from '../src/runtime/flux-model.js';
import { f32ToF16 } from '../src/weights/float16.js';
import { seededNormal } from '../src/weights/random.js';
import { type TensorPlan, writeSafetensors } from '../src/weights/safetensors-writer.js';
import { LoraFeeds } from '../src/worker/lora-feeds.js';
import { offlineRenderContext } from '../test/support/render-context.js';
import { buildTinyModel } from '../test/support/tiny-model.js';

const { values } = parseArgs({
  options: { rank: { type: 'string', default: '16' }, runs: { type: 'string', default: '3' } },
});
const rank = Number(values.rank);
const runs = Number(values.runs);
const config = (await loadModelSpec('flux.1-schnell')).transformer;
const layers = fluxLinears(config);

/** A diffusers-layout LoRA of `rank` on every linear of `c`, random fp16 factors. */
function diffusersLoraPlans(c: FluxConfig): TensorPlan[] {
  const recipes = diffusersRecipes(c);
  const d = c.hiddenSize;
  // Rows of each diffusers part of a fused BFL linear: q/k/v thirds, or q, k, v and the MLP.
  const partRows = (out: number, parts: number) =>
    parts === 4 ? [d, d, d, out - 3 * d] : Array.from({ length: parts }, () => out / parts);
  const randn = seededNormal(1);
  const fp16 = (n: number) => f32ToF16(randn.fill(new Float32Array(n), 0.01));
  const plans: TensorPlan[] = [];
  for (const layer of fluxLinears(c)) {
    const parts = (recipes.get(`${layer.name}.weight`)?.parts ?? []).map((p) => p.replace(/\.weight$/, ''));
    const rows = partRows(layer.out, parts.length);
    parts.forEach((part, i) => {
      const r = rows[i] as number;
      plans.push(
        {
          name: `transformer.${part}.lora_A.weight`,
          dtype: 'F16',
          shape: [rank, layer.in],
          data: () => fp16(rank * layer.in),
        },
        {
          name: `transformer.${part}.lora_B.weight`,
          dtype: 'F16',
          shape: [r, rank],
          data: () => fp16(r * rank),
        },
      );
    });
  }
  return plans;
}

const plans = diffusersLoraPlans(config);
const dir = await mkdtemp(join(tmpdir(), 'flux-bench-lora-'));
const file = join(dir, 'lora.safetensors');
await writeSafetensors(file, plans);
const bytes = await readFile(file);

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const time = <T>(f: () => T): [T, number] => {
  const t = performance.now();
  const v = f();
  return [v, performance.now() - t];
};
const [parsed, parseMs] = time(() => parseLora(bytes, config, { name: 'bench' }));
// The factors as the file holds them (fp16): what a set's inputs are measured against.
const ownFp16 = plans.reduce((n, p) => n + 2 * p.shape.reduce((x, y) => x * y, 1), 0);
const five = [1, 0.8, 0.6, 0.4, 0.2].map((scale) => ({ lora: parsed, scale }));

/** Bytes of the packed set and the median pack time; no set is kept past its own run. */
function measure(packLayers: readonly PackLayer[], entries: readonly LoraEntry[]): [number, number] {
  let bytes = 0;
  const ms: number[] = [];
  for (let run = 0; run < runs; run++) {
    const [packed, t] = time(() => packLoras(packLayers, entries));
    bytes = packedBytes(packed);
    ms.push(t);
  }
  return [bytes, median(ms)];
}

const layouts: [string, readonly PackLayer[], number][] = [
  // What model dirs built before the per-part inputs take (manifest format 1): one zero-padded pair.
  ['whole-layer pairs only, fp32 (before)', layers.map(({ parts: _, ...l }) => l), 4],
  ['per-part pairs, fp32', fluxLoraLayers(config, 'float32'), 4],
  ['per-part pairs, fp16', fluxLoraLayers(config, 'float16'), 2],
];
console.log(`LoRA file: diffusers rank ${rank} fp16, ${plans.length} tensors, ${mb(bytes.length)}`);
console.log(`parse: ${parseMs.toFixed(0)} ms, ${mb(loraByteSize(parsed))} parsed`);
console.log(
  `\npacked inputs per set (median of ${runs} packs), against the LoRAs' own factors at that dtype:`,
);
console.log('| layout | 1 LoRA | pack 1 | 5 LoRAs | pack 5 | inputs / own factors |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [label, packLayers, width] of layouts) {
  const [oneBytes, oneMs] = measure(packLayers, [{ lora: parsed, scale: 0.8 }]);
  const [fiveBytes, fiveMs] = measure(packLayers, five);
  const ratio = oneBytes / ((ownFp16 / 2) * width);
  console.log(
    `| ${label} | ${mb(oneBytes)} | ${oneMs.toFixed(0)} ms | ${mb(fiveBytes)} | ${fiveMs.toFixed(0)} ms | ${ratio.toFixed(3)}× |`,
  );
}

const feeds = new LoraFeeds(config, fluxLoraLayers(config, 'float16'), 4 * 1024 ** 3);
const request = [{ path: 'bench', scale: 0.8, file, sha256: 'bench' }];
const t0 = performance.now();
await feeds.prepare(request);
const firstMs = performance.now() - t0;
const t1 = performance.now();
await feeds.prepare(request);
const repeatMs = performance.now() - t1;
console.log(`\nworker (fp16 model), 1st task: ${firstMs.toFixed(0)} ms (read + parse + pack + tensors)`);
console.log(`worker (fp16 model), same set: ${repeatMs.toFixed(1)} ms (parsed and packed sets memoised)`);
console.log(`peak RSS: ${mb(process.resourceUsage().maxRSS * 1024)}`);

// 2) Per-step cost of 0 / 1 / 5 active LoRAs on the tiny model.
const log = createLogger('silent');
const model = await loadFluxModel(await buildTinyModel(join(dir, 'tiny'), 'tiny', 6), {
  provider: 'cpu',
  log,
});
const tinyFile = join(dir, 'tiny-lora.safetensors');
await writeSafetensors(tinyFile, diffusersLoraPlans(model.transformerConfig));
const tinyFeeds = new LoraFeeds(
  model.transformerConfig,
  model.manifest.components.transformer?.layers ?? [],
  1024 ** 3,
);
const ctx = await offlineRenderContext(model);
const STEPS = 4;
console.log(
  `\ntiny model, CPU EP, ${STEPS} steps, rank-${rank} diffusers LoRAs on every linear, median of ${runs}:`,
);
console.log('| size | LoRAs | denoise ms/step | vs none |');
console.log('| --- | --- | --- | --- |');
for (const size of [512, 1024]) {
  let none = 0;
  for (const count of [0, 1, 5]) {
    const loras = Array.from({ length: count }, (_, i) => ({
      path: 'bench',
      scale: 1 - i * 0.2,
      file: tinyFile,
      sha256: 'tiny',
    }));
    const lora = count > 0 ? (await tinyFeeds.prepare(loras)).tensors : undefined;
    const request: GenerationRequest = {
      prompt: 'a lighthouse on a cliff',
      width: size,
      height: size,
      steps: STEPS,
      seed: 1,
      numImages: 1,
      guidanceScale: 3.5,
      strength: 0.8,
      outputFormat: 'png',
      ...(count > 0 ? { loras } : {}),
    };
    const perStep: number[] = [];
    for (let run = 0; run <= runs; run++) {
      const result = await render(ctx, request, lora ? { lora } : {});
      // Run 0 warms the session up for this shape and input set.
      if (run > 0) perStep.push((result.generation.timings.denoiseMs ?? 0) / STEPS);
    }
    const ms = median(perStep);
    if (count === 0) none = ms;
    console.log(
      `| ${size}² | ${count} | ${ms.toFixed(1)} | ${count === 0 ? '—' : `${ms >= none ? '+' : ''}${(((ms - none) / none) * 100).toFixed(0)} %`} |`,
    );
  }
}
await model.release();
await rm(dir, { recursive: true, force: true });
