/**
 * Benchmark: what a LoRA costs the worker. 1) A full-size FLUX.1 [schnell] LoRA: parsing a
 * diffusers-format rank-16 fp16 file (every transformer linear, split q/k/v as diffusers writes
 * them, like Octree/flux-schnell-lora) and packing one and five of them into the transformer's
 * inputs, and the same set again (memoised). 2) The per-step cost of 0, 1 and 5 active LoRAs on
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
import { loraInputs } from '../src/arch/flux-io.js';
import { fluxLinears } from '../src/arch/flux-layers.js';
import { diffusersRecipes } from '../src/arch/flux-names.js';
import { median } from '../src/bench/stats.js';
import { loadModelSpec } from '../src/build/model-spec.js';
import { createLogger } from '../src/log.js';
import { loraByteSize, packLoras, parseLora } from '../src/lora/index.js';
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
const feedBytes = (feeds: ReturnType<typeof packLoras>) =>
  [...feeds.values()].reduce((n, f) => n + 4 * (f.a.length + f.b.length), 0);

const [parsed, parseMs] = time(() => parseLora(bytes, config, { name: 'bench' }));
const [one, packOneMs] = time(() => packLoras(layers, [{ lora: parsed, scale: 0.8 }]));
const oneBytes = feedBytes(one);
const five = [1, 0.8, 0.6, 0.4, 0.2].map((scale) => ({ lora: parsed, scale }));
const [packed5, packFiveMs] = time(() => packLoras(layers, five));
const fiveBytes = feedBytes(packed5);

const manifestLayers = layers.map((l) => ({
  ...l,
  loraA: loraInputs(l).a.name,
  loraB: loraInputs(l).b.name,
}));
const feeds = new LoraFeeds(config, manifestLayers, 4 * 1024 ** 3);
const request = [{ path: 'bench', scale: 0.8, file, sha256: 'bench' }];
const t0 = performance.now();
await feeds.prepare(request);
const firstMs = performance.now() - t0;
const t1 = performance.now();
await feeds.prepare(request);
const repeatMs = performance.now() - t1;

console.log(`LoRA file: diffusers rank ${rank} fp16, ${plans.length} tensors, ${mb(bytes.length)}`);
console.log(`parse:            ${parseMs.toFixed(0)} ms, ${mb(loraByteSize(parsed))} parsed`);
console.log(`pack 1 LoRA:      ${packOneMs.toFixed(0)} ms, ${mb(oneBytes)} of inputs`);
console.log(`pack 5 LoRAs:     ${packFiveMs.toFixed(0)} ms, ${mb(fiveBytes)} of inputs`);
console.log(`worker, 1st task: ${firstMs.toFixed(0)} ms (read + parse + pack + tensors)`);
console.log(`worker, same set: ${repeatMs.toFixed(1)} ms (parsed and packed sets memoised)`);
console.log(`peak RSS:         ${mb(process.resourceUsage().maxRSS * 1024)}`);

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
