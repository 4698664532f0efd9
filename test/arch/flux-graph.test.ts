/**
 * The built transformer graph against the independent float64 reference (test/reference), on tiny
 * random checkpoints written by `flux-serve tiny`'s code, for both operator variants and dtypes.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpsVariant } from '../../src/arch/build-context.js';
import { buildFlux } from '../../src/arch/flux.js';
import { fluxLinears, fluxTensors } from '../../src/arch/flux-layers.js';
import { buildModel } from '../../src/build/build-model.js';
import { loadModelSpec, type ModelSpec } from '../../src/build/model-spec.js';
import { writeTinyCheckpoint } from '../../src/build/tiny-checkpoint.js';
import { createLogger } from '../../src/log.js';
import { writeModel } from '../../src/onnx/model-writer.js';
import { inMemoryWeights, openCheckpoint, type WeightSource } from '../../src/weights/checkpoint.js';
import { fluxReference, type RefTensor } from '../reference/flux-reference.js';
import { randomInputs, randomLora, runFlux } from '../support/flux-session.js';
import { relativeError } from '../support/numerics.js';

const log = createLogger('silent');
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flux-graph-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function readAll(w: WeightSource): Promise<Map<string, RefTensor>> {
  const all = new Map<string, RefTensor>();
  for (const name of w.names())
    all.set(name, { shape: w.info(name).shape, data: Float64Array.from(await w.readF32(name)) });
  return all;
}

async function tinyCheckpoint(
  variant: 'tiny' | 'tiny-dev',
): Promise<{ spec: ModelSpec; dir: string; weights: Map<string, RefTensor> }> {
  const spec = await loadModelSpec(variant);
  const dir = join(root, `${variant}-ckpt`);
  await writeTinyCheckpoint(dir, spec, { seed: 11 });
  const source = await openCheckpoint([join(dir, spec.transformerFile)]);
  const weights = await readAll(source);
  await source.close();
  return { spec, dir, weights };
}

function lookup(weights: Map<string, RefTensor>) {
  return (name: string): RefTensor => {
    const t = weights.get(name);
    if (!t) throw new Error(`no weight ${name}`);
    return t;
  };
}

async function session(dir: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(join(dir, 'transformer.onnx'));
}

describe.each(['tiny', 'tiny-dev'] as const)('%s transformer graph', (variant) => {
  let ck: Awaited<ReturnType<typeof tinyCheckpoint>>;
  const sessions = new Map<string, ort.InferenceSession>();

  beforeAll(async () => {
    ck = await tinyCheckpoint(variant);
    for (const dtype of ['float32', 'float16'] as const) {
      for (const ops of ['fused', 'plain'] as const) {
        const out = join(root, `${variant}-${dtype}-${ops}`);
        await buildModel(ck.dir, out, { dtype, ops, log, only: ['transformer'] });
        sessions.set(`${dtype}-${ops}`, await session(out));
      }
    }
  });

  it.each(['fused', 'plain'] as const)(
    'fp32 %s matches the float64 reference within 1e-4',
    async (ops: OpsVariant) => {
      const c = ck.spec.transformer;
      const x = randomInputs(c, 5, 2, 3, 4, 6);
      const expected = fluxReference(c, lookup(ck.weights), x);
      const got = await runFlux(sessions.get(`float32-${ops}`) as ort.InferenceSession, c, x);
      expect(got.length).toBe(2 * 12 * c.inChannels);
      expect(relativeError(got, expected)).toBeLessThan(1e-4);
    },
  );

  it('fp32 graph with random LoRA on every linear matches the reference with the same LoRA', async () => {
    const c = ck.spec.transformer;
    const x = randomInputs(c, 6, 1, 2, 2, 3);
    const lora = randomLora(c, 9, 3);
    const expected = fluxReference(c, lookup(ck.weights), x, lora);
    const withoutLora = fluxReference(c, lookup(ck.weights), x);
    const got = await runFlux(sessions.get('float32-fused') as ort.InferenceSession, c, x, lora);
    expect(relativeError(got, expected)).toBeLessThan(1e-4);
    expect(relativeError(withoutLora, expected)).toBeGreaterThan(1e-2); // the LoRA really acts
  });

  it('rank 0 LoRA inputs give exactly the output of rank-1 zero LoRAs', async () => {
    const c = ck.spec.transformer;
    const x = randomInputs(c, 7, 1, 2, 3, 4);
    const s = sessions.get('float32-fused') as ort.InferenceSession;
    const zeros = new Map(
      fluxLinears(c).map((l) => [l.name, { a: new Float64Array(l.in), b: new Float64Array(l.out), rank: 1 }]),
    );
    expect(Array.from(await runFlux(s, c, x))).toEqual(Array.from(await runFlux(s, c, x, zeros)));
  });

  it('fp16 graph takes float16 LoRA inputs and matches the reference with the same LoRA within 1e-2', async () => {
    const c = ck.spec.transformer;
    const s = sessions.get('float16-fused') as ort.InferenceSession;
    const types = new Set(
      s.inputMetadata.filter((m) => m.name.startsWith('lora.')).map((m) => (m.isTensor ? m.type : '?')),
    );
    expect(types).toEqual(new Set(['float16']));
    const x = randomInputs(c, 6, 1, 2, 2, 3);
    const lora = randomLora(c, 9, 3);
    const expected = fluxReference(c, lookup(ck.weights), x, lora);
    const withoutLora = fluxReference(c, lookup(ck.weights), x);
    const got = await runFlux(s, c, x, lora, 'float16');
    expect(relativeError(got, expected)).toBeLessThan(1e-2);
    expect(relativeError(withoutLora, expected)).toBeGreaterThan(1e-2); // the LoRA really acts
  });

  it.each(['fused', 'plain'] as const)('fp16 %s stays within 1e-2 of fp32', async (ops: OpsVariant) => {
    const c = ck.spec.transformer;
    const x = randomInputs(c, 8, 2, 2, 4, 5);
    const fp32 = await runFlux(sessions.get(`float32-${ops}`) as ort.InferenceSession, c, x);
    const fp16 = await runFlux(
      sessions.get(`float16-${ops}`) as ort.InferenceSession,
      c,
      x,
      undefined,
      'float16',
    );
    const err = relativeError(fp16, fp32);
    expect(err).toBeLessThan(1e-2);
    expect(err).toBeGreaterThan(0); // it really ran in half precision
  });
});

describe('LoRA inputs against merged weights', () => {
  it('x·W + (x·A)·B equals a graph built with W + (A·B)ᵀ', async () => {
    const { spec, weights } = await tinyCheckpoint('tiny');
    const c = spec.transformer;
    const lora = randomLora(c, 21, 2, 0.1);
    const merged = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const [name, t] of weights) merged.set(name, { shape: t.shape, data: Float32Array.from(t.data) });
    for (const l of fluxLinears(c)) {
      const d = lora.get(l.name);
      const w = merged.get(`${l.name}.weight`);
      if (!d || !w) throw new Error(l.name);
      for (let o = 0; o < l.out; o++) {
        for (let i = 0; i < l.in; i++) {
          let delta = 0;
          for (let r = 0; r < d.rank; r++)
            delta += (d.a[i * d.rank + r] as number) * (d.b[r * l.out + o] as number);
          w.data[o * l.in + i] = (w.data[o * l.in + i] as number) + delta;
        }
      }
    }
    const plainDir = join(root, 'lora-base');
    const mergedDir = join(root, 'lora-merged');
    const build = async (w: WeightSource, dir: string) => {
      const { mkdir } = await import('node:fs/promises');
      await mkdir(dir, { recursive: true });
      await writeModel(buildFlux(c, w, { dtype: 'float32', ops: 'fused' }), join(dir, 'transformer.onnx'));
      return session(dir);
    };
    const asSource = (m: Map<string, RefTensor>) =>
      inMemoryWeights(
        new Map([...m].map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }])),
      );
    const base = await build(asSource(weights), plainDir);
    const mergedSession = await build(inMemoryWeights(merged), mergedDir);
    const x = randomInputs(c, 22, 2, 2, 2, 3);
    const viaInputs = await runFlux(base, c, x, lora);
    const viaMerge = await runFlux(mergedSession, c, x);
    expect(relativeError(viaInputs, viaMerge)).toBeLessThan(1e-5);
  });
});

describe('checkpoint validation', () => {
  it('names the missing tensor and the wrong shape', async () => {
    const { spec, weights } = await tinyCheckpoint('tiny');
    const c = spec.transformer;
    const broken = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const [name, t] of weights) broken.set(name, { shape: t.shape, data: Float32Array.from(t.data) });
    broken.delete('single_blocks.1.linear2.bias');
    broken.set('img_in.bias', { shape: [7], data: new Float32Array(7) });
    const build = () => buildFlux(c, inMemoryWeights(broken), { dtype: 'float32', ops: 'fused' });
    expect(build).toThrow(/missing single_blocks\.1\.linear2\.bias \[32\]/);
    expect(build).toThrow(/img_in\.bias has shape \[7\], expected \[32\]/);
  });

  it('rejects a dev checkpoint under a schnell config (unexpected guidance_in)', async () => {
    const dev = await tinyCheckpoint('tiny-dev');
    const schnell = await loadModelSpec('tiny');
    const source = inMemoryWeights(
      new Map([...dev.weights].map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }])),
    );
    expect(() => buildFlux(schnell.transformer, source, { dtype: 'float32', ops: 'fused' })).toThrow(
      /unexpected tensor.*guidance_in/,
    );
  });

  it('the layer table has the published tensor counts', async () => {
    expect(fluxTensors((await loadModelSpec('flux.1-schnell')).transformer)).toHaveLength(776);
    expect(fluxTensors((await loadModelSpec('flux.1-dev')).transformer)).toHaveLength(780);
  });

  it('a build writes identical bytes twice (deterministic)', async () => {
    const { dir } = await tinyCheckpoint('tiny');
    await buildModel(dir, join(root, 'det-a'), {
      dtype: 'float32',
      ops: 'fused',
      log,
      only: ['transformer'],
    });
    await buildModel(dir, join(root, 'det-b'), {
      dtype: 'float32',
      ops: 'fused',
      log,
      only: ['transformer'],
    });
    for (const f of ['transformer.onnx', 'transformer.onnx.data']) {
      expect((await readFile(join(root, 'det-a', f))).equals(await readFile(join(root, 'det-b', f)))).toBe(
        true,
      );
    }
  });
});
