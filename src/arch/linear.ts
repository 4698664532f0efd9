/**
 * @module arch/linear
 * A Linear layer with its runtime LoRA branch.
 */
import type { Scope } from '../onnx/scope.js';
import { transpose2d } from '../weights/layout.js';
import { encodeFloats } from '../weights/tensor-decode.js';
import type { BuildContext, ComputeDType } from './build-context.js';
import { loraInputs } from './flux-io.js';
import { matMulNBits } from './linear-nbits.js';
import type { LinearLayer } from './param-tensor.js';
import { int64s } from './primitives.js';

/** Float32 values as the little-endian bytes of a compute-dtype initializer. */
export function weightBytes(data: Float32Array, dtype: ComputeDType): Uint8Array {
  const typed = encodeFloats(dtype === 'float32' ? 'F32' : 'F16', data);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

/** x·Wᵀ with W stored transposed ([in, out]) under its checkpoint key, in the compute dtype. */
function floatMatMul(b: BuildContext, s: Scope, x: string, layer: LinearLayer): string {
  const { g, weights, dtype } = b;
  const wKey = s.key('weight');
  const w = g.initializer(wKey, dtype, [layer.in, layer.out], async () =>
    weightBytes(transpose2d(await weights.readF32(wKey), layer.out, layer.in), dtype),
  );
  return g.node(s.node('MatMul'), 'MatMul', [x, w]);
}

export interface LinearOptions {
  /** Adds the runtime LoRA branch and its two graph inputs (default true). */
  readonly lora?: boolean;
  /** Whether the layer has a bias (default true). */
  readonly bias?: boolean;
}

/**
 * The LoRA factors of a layer as one A [in, R] and one B [R, out]: the whole-layer pair, and each
 * part's pair with its B padded to the layer's width, concatenated along the rank. The zeros exist
 * only on the device, remade each run and weight-sized (R × out: 0.9 MB in fp16 for a rank-16
 * split LoRA on a qkv layer, 2.8 MB on linear1; by estimate ~0.3 GB of device memory traffic per
 * run per such LoRA on the full model, a fraction of a millisecond, where the same zeros sent over
 * PCIe took ~10 ms); the inputs, which are what each run uploads, hold none. Concatenating the
 * products x·A_p·B_p instead would not multiply the zeros but would write token-sized activations
 * per part (N × rows: ~200 MB per linear1 at 1024² in fp16), rank 0 included. Padding B keeps the
 * layer at the two activation MatMuls of a whole-layer LoRA, multiplying the same zeros the padded
 * inputs held before (1–2 % of the layer's own multiply-adds per rank-16 split LoRA).
 */
function loraFactors(b: BuildContext, s: Scope, layer: LinearLayer): { a: string; b: string } {
  const { g, dtype } = b;
  const lora = loraInputs(layer, dtype);
  const a = g.input(lora.a.name, dtype, lora.a.dims);
  const bb = g.input(lora.b.name, dtype, lora.b.dims);
  if (lora.parts.length === 0) return { a, b: bb };
  const as = [a];
  const bs = [bb];
  for (const { part, a: pa, b: pb } of lora.parts) {
    as.push(g.input(pa.name, dtype, pa.dims));
    const pads = int64s(b, [0, part.offset, 0, layer.out - part.offset - part.rows]);
    bs.push(g.node(s.node(`Pad_lora_${part.name}`), 'Pad', [g.input(pb.name, dtype, pb.dims), pads]));
  }
  return {
    a: g.node(s.node('Concat_lora_a'), 'Concat', as, { axis: 1 }),
    b: g.node(s.node('Concat_lora_b'), 'Concat', bs, { axis: 0 }),
  };
}

/**
 * ```
 * x ─► MatMul(Wᵀ) ─► Add(b) ──────────────────┐
 * x ─► MatMul(lora A) ─► MatMul(lora B) ──────► Add ─► y      A: [in, r], B: [r, out], r dynamic
 * ```
 * The weight is stored transposed ([in, out]) under its checkpoint key, or block-quantized for
 * MatMulNBits when the build is quantized (the LoRA branch and the bias stay float either way);
 * A and B come in the compute dtype, per layer and per part (see `loraFactors`); r = 0 feeds empty
 * tensors and adds exactly zero.
 */
export function linear(
  b: BuildContext,
  s: Scope,
  x: string,
  layer: LinearLayer,
  options: LinearOptions = {},
): string {
  const { g, weights, dtype } = b;
  let y = b.quant ? matMulNBits(b, s, x, layer) : floatMatMul(b, s, x, layer);
  if (options.bias ?? true) {
    const bKey = s.key('bias');
    const bias = g.initializer(bKey, dtype, [layer.out], async () =>
      weightBytes(await weights.readF32(bKey), dtype),
    );
    y = g.node(s.node('Add'), 'Add', [y, bias]);
  }
  if (!(options.lora ?? true)) return y;
  const lora = loraFactors(b, s, layer);
  const down = g.node(s.node('MatMul_lora_a'), 'MatMul', [x, lora.a]);
  const up = g.node(s.node('MatMul_lora_b'), 'MatMul', [down, lora.b]);
  return g.node(s.node('Add_lora'), 'Add', [y, up]);
}
