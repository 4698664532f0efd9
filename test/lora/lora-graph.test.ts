/**
 * The tiny transformer fed with packed LoRA inputs equals the same graph built from exactly merged
 * weights W + Σ scaleᵢ·ΔWᵢ, the deltas computed naively from the files' factors (lora-formats.ts).
 * One graph build for the base, and one merged graph per scenario.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeDType } from '../../src/arch/build-context.js';
import { buildFlux } from '../../src/arch/flux.js';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { fluxLoraLayers } from '../../src/arch/flux-io.js';
import { fluxLinears } from '../../src/arch/flux-layers.js';
import { randomFluxTensors } from '../../src/arch/random-flux.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { type LoraEntry, packLoras, parseLora } from '../../src/lora/index.js';
import { writeModel } from '../../src/onnx/model-writer.js';
import { loraTensors } from '../../src/pipeline/lora-tensors.js';
import { inMemoryWeights } from '../../src/weights/checkpoint.js';
import { randomInputs, runFlux } from '../support/flux-session.js';
import { relativeError } from '../support/numerics.js';
import { type Deltas, fixtureBytes, type LoraFixture } from './lora-fixtures.js';
import { FORMATS, fullDiff, kohyaSplitQkv, loha, lokr } from './lora-formats.js';

type Weights = Map<string, { shape: readonly number[]; data: Float32Array }>;

let root: string;
let c: FluxConfig;
let base: Weights;
let baseSession: ort.InferenceSession;

async function session(
  name: string,
  weights: Weights,
  dtype: ComputeDType = 'float32',
): Promise<ort.InferenceSession> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeModel(
    buildFlux(c, inMemoryWeights(weights), { dtype, ops: 'fused' }),
    join(dir, 'transformer.onnx'),
  );
  return ort.InferenceSession.create(join(dir, 'transformer.onnx'));
}

/** W + Σ scaleᵢ·ΔWᵢ, summed in float64 and rounded once. */
function merged(scaled: readonly { delta: Deltas; scale: number }[]): Weights {
  const out: Weights = new Map();
  for (const [name, t] of base) out.set(name, { shape: t.shape, data: t.data });
  for (const layer of fluxLinears(c)) {
    const key = `${layer.name}.weight`;
    const w = base.get(key);
    if (!w) throw new Error(key);
    const sum = Float64Array.from(w.data);
    for (const { delta, scale } of scaled) {
      const d = delta.get(layer.name);
      if (d) for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] as number) + scale * (d[i] as number);
    }
    out.set(key, { shape: w.shape, data: Float32Array.from(sum) });
  }
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lora-graph-'));
  c = (await loadModelSpec('tiny')).transformer;
  base = new Map(randomFluxTensors(c, 17).map((t) => [t.name, { shape: t.shape, data: t.values() }]));
  baseSession = await session('base', base);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function scenario(name: string, loras: readonly { fixture: LoraFixture; scale: number }[]) {
  const entries: LoraEntry[] = [];
  for (const [k, l] of loras.entries()) {
    entries.push({
      lora: parseLora(await fixtureBytes(l.fixture), c, { name: `lora-${k}` }),
      scale: l.scale,
    });
  }
  const feeds = packLoras(fluxLinears(c), entries);
  const mergedSession = await session(
    name,
    merged(loras.map((l) => ({ delta: l.fixture.delta, scale: l.scale }))),
  );
  const x = randomInputs(c, 23, 2, 2, 3, 4);
  const viaInputs = await runFlux(baseSession, c, x, loraTensors(fluxLoraLayers(c, 'float32'), feeds));
  const viaMerge = await runFlux(mergedSession, c, x);
  const withoutLora = await runFlux(baseSession, c, x);
  return {
    entries,
    feeds,
    error: relativeError(viaInputs, viaMerge),
    effect: relativeError(withoutLora, viaMerge),
  };
}

describe('runtime LoRA inputs against exactly merged weights', () => {
  it('one kohya LoRA (BF16, per-module alphas) at scale 0.8', async () => {
    const { error, effect, feeds } = await scenario('one', [{ fixture: FORMATS.kohya(c), scale: 0.8 }]);
    expect(feeds.size).toBe(fluxLinears(c).length);
    expect(effect).toBeGreaterThan(1e-2); // the LoRA really acts
    expect(error).toBeLessThan(1e-4);
  });

  it.each([
    ['ComfyUI / BFL', (cfg: FluxConfig) => FORMATS.comfyui(cfg)],
    ['XLabs', (cfg: FluxConfig) => FORMATS.xlabs(cfg)],
    ['OneTrainer', (cfg: FluxConfig) => FORMATS.onetrainer(cfg)],
    ['DiffSynth', (cfg: FluxConfig) => FORMATS.diffsynth(cfg)],
    ['kohya split q/k/v', (cfg: FluxConfig) => kohyaSplitQkv(cfg, 3, 1.5)],
  ])('one %s LoRA at scale 0.9', async (name, fixture) => {
    const { error, effect } = await scenario(`one-${name}`, [{ fixture: fixture(c), scale: 0.9 }]);
    expect(effect).toBeGreaterThan(1e-3); // the LoRA really acts
    expect(error).toBeLessThan(1e-4);
  });

  it('five LoRAs of different formats at scales 1, 0, 4, 0.5 and -0.7', async () => {
    const loras = [
      { fixture: FORMATS.diffusers(c), scale: 1 },
      { fixture: FORMATS.xlabs(c), scale: 0 },
      { fixture: lokr(c, 41), scale: 4 },
      { fixture: loha(c, 42), scale: 0.5 },
      { fixture: fullDiff(c, 43), scale: -0.7 },
    ];
    const { error, effect, feeds, entries } = await scenario('five', loras);
    // The scale-0 XLabs LoRA is dropped, not packed as zeros.
    expect(
      packLoras(
        fluxLinears(c),
        entries.filter((e) => e.scale !== 0),
      ),
    ).toEqual(feeds);
    expect(effect).toBeGreaterThan(1e-2);
    expect(error).toBeLessThan(1e-4);
  });

  it('an fp16 graph fed a split q/k/v/mlp diffusers LoRA packed in fp16 stays within 1e-2 of the merge', async () => {
    // Scale 0.1: this random model's fp16 activations overflow under much stronger deltas, merged or not.
    const fixture = FORMATS.diffusers(c);
    const lora = parseLora(await fixtureBytes(fixture), c, { name: 'diffusers' });
    const fp16Layers = fluxLoraLayers(c, 'float16');
    const feeds = packLoras(fp16Layers, [{ lora, scale: 0.1 }]);
    expect(feeds.get('single_blocks.0.linear1')?.parts.get('mlp')?.a).toBeInstanceOf(Uint16Array);
    const base16 = await session('fp16-base', base, 'float16');
    const mergedSession = await session('fp16-merged', merged([{ delta: fixture.delta, scale: 0.1 }]));
    const x = randomInputs(c, 24, 1, 2, 3, 4);
    const viaInputs = await runFlux(base16, c, x, loraTensors(fp16Layers, feeds), 'float16');
    const viaMerge = await runFlux(mergedSession, c, x);
    expect(relativeError(await runFlux(baseSession, c, x), viaMerge)).toBeGreaterThan(1e-2);
    expect(relativeError(viaInputs, viaMerge)).toBeLessThan(1e-2);
  });
});
