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
import { toCompute } from './primitives.js';

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
 * ```
 * x ─► MatMul(Wᵀ) ─► Add(b) ──────────────────┐
 * x ─► MatMul(lora A) ─► MatMul(lora B) ──────► Add ─► y      A: [in, r], B: [r, out], r dynamic
 * ```
 * The weight is stored transposed ([in, out]) under its checkpoint key, or block-quantized for
 * MatMulNBits when the build is quantized (the LoRA branch and the bias stay float either way);
 * r = 0 feeds empty tensors and adds exactly zero.
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
  const lora = loraInputs(layer);
  const a = toCompute(b, s.at('lora_a'), g.input(lora.a.name, 'float32', lora.a.dims));
  const bb = toCompute(b, s.at('lora_b'), g.input(lora.b.name, 'float32', lora.b.dims));
  const down = g.node(s.node('MatMul_lora_a'), 'MatMul', [x, a]);
  const up = g.node(s.node('MatMul_lora_b'), 'MatMul', [down, bb]);
  return g.node(s.node('Add_lora'), 'Add', [y, up]);
}
