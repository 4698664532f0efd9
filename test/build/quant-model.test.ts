/**
 * `flux-serve build --quant int8|int4` on the tiny checkpoint: the transformer and T5 graphs built
 * with MatMulNBits linears, against the float64 references with the float weights (the
 * quantization error, reported in bench/RESULTS.md) and with the dequantized weights (the graph
 * itself, tight); runtime LoRA inputs on a quantized base; T5's float32 `wo` island; the manifest.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeDType } from '../../src/arch/build-context.js';
import { buildFlux } from '../../src/arch/flux.js';
import { fluxLinears } from '../../src/arch/flux-layers.js';
import { buildT5Encoder } from '../../src/arch/t5.js';
import { parseT5Config } from '../../src/arch/t5-config.js';
import { t5Linears } from '../../src/arch/t5-layers.js';
import { buildModel } from '../../src/build/build-model.js';
import { loadModelSpec, type ModelSpec } from '../../src/build/model-spec.js';
import { writeTinyCheckpoint } from '../../src/build/tiny-checkpoint.js';
import { createLogger } from '../../src/log.js';
import { readManifest } from '../../src/runtime/manifest.js';
import { openCheckpoint } from '../../src/weights/checkpoint.js';
import { dequantizeF64 } from '../../src/weights/dequantize.js';
import { QUANT_BITS, quantizeWeight, type WeightQuant } from '../../src/weights/quantize.js';
import { fluxReference, type RefTensor } from '../reference/flux-reference.js';
import { t5Reference } from '../reference/t5-reference.js';
import { randomInputs, randomLora, runFlux } from '../support/flux-session.js';
import { relativeError } from '../support/numerics.js';
import { runT5 } from '../support/t5-session.js';

const log = createLogger('silent');
const VARIANTS = [
  ['int8', 'float32'],
  ['int4', 'float32'],
  ['int4', 'float16'],
] as const;
type Variant = (typeof VARIANTS)[number];
const key = ([quant, dtype]: Variant) => `${quant}-${dtype}`;

let root: string;
let spec: ModelSpec;
let flux: Map<string, RefTensor>;
let t5: Map<string, RefTensor>;
const sessions = new Map<string, { transformer: ort.InferenceSession; t5: ort.InferenceSession }>();

async function readAll(file: string): Promise<Map<string, RefTensor>> {
  const w = await openCheckpoint([file]);
  const all = new Map<string, RefTensor>();
  for (const name of w.names())
    all.set(name, { shape: w.info(name).shape, data: Float64Array.from(await w.readF32(name)) });
  await w.close();
  return all;
}

/** The weights the quantized graph really multiplies by: each linear's weight quantized and back. */
function dequantized(
  weights: Map<string, RefTensor>,
  linears: readonly { name: string; in: number; out: number }[],
  quant: WeightQuant,
  scaleDType: ComputeDType,
): Map<string, RefTensor> {
  const out = new Map(weights);
  for (const l of linears) {
    const w = weights.get(`${l.name}.weight`);
    if (!w) throw new Error(l.name);
    // T5's float16 builds keep `wo` in float32 (t5.ts), so its scales are float32 too.
    const scales = l.name.endsWith('.wo') ? 'float32' : scaleDType;
    const q = quantizeWeight(Float32Array.from(w.data), l.out, l.in, {
      bits: QUANT_BITS[quant],
      scaleDType: scales,
    });
    out.set(`${l.name}.weight`, { shape: w.shape, data: dequantizeF64(q) });
  }
  return out;
}

const lookup = (weights: Map<string, RefTensor>) => (name: string) => {
  const t = weights.get(name);
  if (!t) throw new Error(`no weight ${name}`);
  return t;
};

function tokenIds(batch: number, seq: number): number[] {
  return Array.from({ length: batch * seq }, (_, i) => (i % seq === seq - 1 ? 1 : 3 + ((i * 7919) % 32000)));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'quant-model-'));
  spec = await loadModelSpec('tiny');
  const ckpt = join(root, 'ckpt');
  await writeTinyCheckpoint(ckpt, spec, { seed: 13 });
  flux = await readAll(join(ckpt, spec.transformerFile));
  t5 = await readAll(join(ckpt, 'text_encoder_2', 'model.safetensors.index.json'));
  for (const v of VARIANTS) {
    const out = join(root, key(v));
    await buildModel(ckpt, out, { dtype: v[1], ops: 'fused', quant: v[0], log, only: ['transformer', 't5'] });
    sessions.set(key(v), {
      transformer: await ort.InferenceSession.create(join(out, 'transformer.onnx')),
      t5: await ort.InferenceSession.create(join(out, 't5.onnx')),
    });
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Measured on this checkpoint (seed 13), max-element relative error vs the float weights' reference. */
const QUANT_ERROR: Record<WeightQuant, { above: number; below: number }> = {
  int8: { above: 1e-3, below: 4e-2 }, // measured 1.5e-2 (transformer), 1.7e-2 (T5)
  int4: { above: 3e-2, below: 0.5 }, // measured 0.25, 0.26
};
/** The graph against the reference on the dequantized weights: float32 or float16 arithmetic only. */
const GRAPH_ERROR: Record<ComputeDType, number> = { float32: 1e-4, float16: 5e-3 };

describe.each(VARIANTS)('tiny model built with --quant %s, %s', (quant, dtype) => {
  const v: Variant = [quant, dtype] as Variant;
  const s = () => sessions.get(key(v)) as { transformer: ort.InferenceSession; t5: ort.InferenceSession };

  it('transformer: the quantization error is bounded, and the graph equals the dequantized model', async () => {
    const c = spec.transformer;
    const x = randomInputs(c, 5, 2, 3, 4, 6);
    const got = await runFlux(s().transformer, c, x, undefined, dtype);
    const float = fluxReference(c, lookup(flux), x);
    const err = relativeError(got, float);
    expect(err).toBeGreaterThan(QUANT_ERROR[quant].above);
    expect(err).toBeLessThan(QUANT_ERROR[quant].below);
    const deq = lookup(dequantized(flux, fluxLinears(c), quant, dtype));
    expect(relativeError(got, fluxReference(c, deq, x))).toBeLessThan(GRAPH_ERROR[dtype]);
  });

  it('transformer: LoRA inputs act on the quantized base', async () => {
    const c = spec.transformer;
    const x = randomInputs(c, 6, 1, 2, 2, 3);
    const lora = randomLora(c, 9, 3);
    const deq = lookup(dequantized(flux, fluxLinears(c), quant, dtype));
    const got = await runFlux(s().transformer, c, x, lora, dtype);
    expect(relativeError(got, fluxReference(c, deq, x, lora))).toBeLessThan(GRAPH_ERROR[dtype]);
    expect(relativeError(got, fluxReference(c, deq, x))).toBeGreaterThan(1e-2); // the LoRA really acts
  });

  it('T5: the quantization error is bounded, and the graph equals the dequantized model', async () => {
    const c = parseT5Config(spec.t5Json);
    const ids = tokenIds(2, 12);
    const got = (await runT5(s().t5, ids, 2, 12)).data;
    const float = t5Reference(c, t5, ids, 2, 12).hidden;
    const err = relativeError(got, float);
    expect(err).toBeGreaterThan(QUANT_ERROR[quant].above);
    expect(err).toBeLessThan(QUANT_ERROR[quant].below);
    const deq = dequantized(t5, t5Linears(c), quant, dtype);
    expect(relativeError(got, t5Reference(c, deq, ids, 2, 12).hidden)).toBeLessThan(GRAPH_ERROR[dtype]);
  });
});

describe('quantized build', () => {
  it('records the variant in the manifest and the ONNX metadata, for the transformer and T5 only', async () => {
    const manifest = await readManifest(join(root, 'int4-float16'));
    expect(Object.keys(manifest.components).sort()).toEqual(['t5', 'transformer']);
    for (const c of Object.values(manifest.components))
      expect(c).toMatchObject({ quant: 'int4', dtype: 'float16', weightLayout: 'nbits_out_in' });
    const onnx = await readFile(join(root, 'int4-float16', 'transformer.onnx'));
    expect(onnx.includes('MatMulNBits')).toBe(true);
    expect(onnx.includes('quant')).toBe(true);
  });

  it('every linear is a MatMulNBits; T5 keeps float32 scales for its float32 wo island', async () => {
    const c = spec.transformer;
    const w = await openCheckpoint([join(root, 'ckpt', spec.transformerFile)]);
    const g = buildFlux(c, w, { dtype: 'float16', ops: 'fused', quant: 'int8' });
    await w.close();
    const nbits = g.nodes.filter((n) => n.opType === 'MatMulNBits');
    expect(nbits).toHaveLength(fluxLinears(c).length);
    for (const n of nbits) expect(n.domain).toBe('com.microsoft');
    // No float MatMul multiplies by a checkpoint weight any more (LoRA, attention, RoPE remain).
    const weightNames = new Set(g.initializers.filter((t) => !t.constant).map((t) => t.name));
    for (const n of g.nodes.filter((m) => m.opType === 'MatMul'))
      expect(n.inputs.some((i) => weightNames.has(i))).toBe(false);

    const t5c = parseT5Config(spec.t5Json);
    const tw = await openCheckpoint([join(root, 'ckpt', 'text_encoder_2', 'model.safetensors.index.json')]);
    const tg = buildT5Encoder(t5c, tw, { dtype: 'float16', ops: 'fused', quant: 'int4' });
    await tw.close();
    const scales = tg.initializers.filter((t) => t.name.endsWith('_scales'));
    expect(scales).toHaveLength(t5Linears(t5c).length);
    for (const t of scales) expect(t.dtype).toBe(t.name.includes('.wo.') ? 'float32' : 'float16');
  });

  it('refuses --quant with --ops plain', async () => {
    await expect(
      buildModel(join(root, 'ckpt'), join(root, 'plain'), {
        dtype: 'float32',
        ops: 'plain',
        quant: 'int8',
        log,
      }),
    ).rejects.toThrow(/needs --ops fused/);
  });
});
