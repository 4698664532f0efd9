/**
 * One quantized Linear (MatMulNBits, block 32) with its bias and runtime LoRA branch on the CPU EP
 * against x·dequant(W)ᵀ + b + (x·A)·B computed naively in float64 from the packed weight.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeDType } from '../../src/arch/build-context.js';
import { loraInputs } from '../../src/arch/flux-io.js';
import { linear } from '../../src/arch/linear.js';
import type { LinearLayer } from '../../src/arch/param-tensor.js';
import { toCompute, toFloat32 } from '../../src/arch/primitives.js';
import { Graph } from '../../src/onnx/graph.js';
import { writeModel } from '../../src/onnx/model-writer.js';
import { Scope } from '../../src/onnx/scope.js';
import { inMemoryWeights } from '../../src/weights/checkpoint.js';
import { dequantizeF64 } from '../../src/weights/dequantize.js';
import { f32ToF16 } from '../../src/weights/float16.js';
import { quantizeWeight, type WeightQuant } from '../../src/weights/quantize.js';
import { seededNormal } from '../../src/weights/random.js';
import { relativeError } from '../support/numerics.js';

const layer: LinearLayer = { name: 'probe', in: 80, out: 24 }; // K = 2.5 blocks
const rows = 6;
const rank = 2;
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'linear-nbits-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const randn = seededNormal(5);
const weight = randn.fill(new Float32Array(layer.out * layer.in), 0.2);
const bias = randn.fill(new Float32Array(layer.out), 0.1);
const x = randn.fill(new Float32Array(rows * layer.in));
const loraA = randn.fill(new Float32Array(layer.in * rank), 0.1);
const loraB = randn.fill(new Float32Array(rank * layer.out), 0.1);

async function session(quant: WeightQuant, dtype: ComputeDType): Promise<ort.InferenceSession> {
  const g = new Graph('probe');
  const weights = inMemoryWeights(
    new Map([
      ['probe.weight', { shape: [layer.out, layer.in], data: weight }],
      ['probe.bias', { shape: [layer.out], data: bias }],
    ]),
  );
  const b = { g, weights, dtype, ops: 'fused' as const, quant };
  const s = new Scope(['probe']);
  const input = toCompute(b, s.at('x'), g.input('x', 'float32', [1, rows, layer.in]));
  g.output(toFloat32(b, s.at('y'), linear(b, s, input, layer)), 'y', 'float32', [1, rows, layer.out]);
  expect(g.nodes.filter((n) => n.opType === 'MatMulNBits')).toHaveLength(1);
  const dir = join(root, `${quant}-${dtype}`);
  await mkdir(dir, { recursive: true });
  await writeModel(g, join(dir, 'probe.onnx'));
  return ort.InferenceSession.create(join(dir, 'probe.onnx'));
}

/** y = x·Wᵀ + b + (x·A)·B in float64, W given row-major [out, in]. */
function reference(w: ArrayLike<number>, withLora: boolean): Float64Array {
  const y = new Float64Array(rows * layer.out);
  for (let r = 0; r < rows; r++) {
    const down = Array.from({ length: rank }, (_, j) => {
      let d = 0;
      for (let i = 0; i < layer.in; i++)
        d += (x[r * layer.in + i] as number) * (loraA[i * rank + j] as number);
      return d;
    });
    for (let o = 0; o < layer.out; o++) {
      let acc = bias[o] as number;
      for (let i = 0; i < layer.in; i++)
        acc += (x[r * layer.in + i] as number) * (w[o * layer.in + i] as number);
      if (withLora)
        for (let j = 0; j < rank; j++) acc += (down[j] as number) * (loraB[j * layer.out + o] as number);
      y[r * layer.out + o] = acc;
    }
  }
  return y;
}

async function run(s: ort.InferenceSession, dtype: ComputeDType, withLora: boolean): Promise<Float32Array> {
  const names = loraInputs(layer, dtype);
  const r = withLora ? rank : 0;
  const t = (data: Float32Array, dims: number[]) =>
    dtype === 'float32'
      ? new ort.Tensor('float32', data, dims)
      : new ort.Tensor('float16', f32ToF16(data), dims);
  const out = await s.run({
    x: new ort.Tensor('float32', x, [1, rows, layer.in]),
    [names.a.name]: t(withLora ? loraA : new Float32Array(0), [layer.in, r]),
    [names.b.name]: t(withLora ? loraB : new Float32Array(0), [r, layer.out]),
  });
  return out.y?.data as Float32Array;
}

describe.each([
  ['int8', 8],
  ['int4', 4],
] as const)('%s MatMulNBits on the CPU EP', (quant, bits) => {
  it.each([
    ['float32', 1e-6],
    ['float16', 2e-3],
  ] as const)('%s graph equals x·dequant(W)ᵀ + b + LoRA in float64 (rel. err < %s)', async (dtype, bound) => {
    const s = await session(quant, dtype);
    const dequant = dequantizeF64(quantizeWeight(weight, layer.out, layer.in, { bits, scaleDType: dtype }));
    for (const withLora of [false, true]) {
      const got = await run(s, dtype, withLora);
      const err = relativeError(got, reference(dequant, withLora));
      expect(err).toBeLessThan(bound);
      // The float weights give a visibly different product: the graph really used the quantized ones.
      if (dtype === 'float32')
        expect(relativeError(got, reference(weight, withLora))).toBeGreaterThan(10 * err);
    }
    await s.release();
  });
});
