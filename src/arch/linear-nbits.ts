/**
 * @module arch/linear-nbits
 * The base product x·Wᵀ of a Linear whose weight is block-quantized (weights/quantize.ts) and
 * multiplied by ONNX Runtime's com.microsoft MatMulNBits. The checkpoint weight is read and
 * quantized once, when the model is written, for both of its initializers.
 */
import { MS_DOMAIN } from '../onnx/graph.js';
import type { Scope } from '../onnx/scope.js';
import {
  nbitsShape,
  QUANT_BITS,
  QUANT_BLOCK_SIZE,
  type QuantizedWeight,
  quantizeWeight,
  scaleBytes,
} from '../weights/quantize.js';
import type { BuildContext } from './build-context.js';
import type { LinearLayer } from './param-tensor.js';

/** Hands one promise to `uses` consumers, then forgets it so the tensor can be collected. */
function shared<T>(make: () => Promise<T>, uses: number): () => Promise<T> {
  let pending: Promise<T> | undefined;
  let left = uses;
  return () => {
    const p = pending ?? make();
    left -= 1;
    pending = left > 0 ? p : undefined;
    return p;
  };
}

/**
 * ```
 * x [.., in] ─► MatMulNBits(B = `<key>_Q<bits>` [out, in/32, 32·bits/8] uint8,
 *                           scales = `<key>_scales` [out · in/32]) ─► [.., out]
 * ```
 * `x` and the scales are in the compute dtype; accuracy_level is left unset, so A is not
 * quantized (the CPU EP computes in float32 on the dequantized weight).
 */
export function matMulNBits(b: BuildContext, s: Scope, x: string, layer: LinearLayer): string {
  const { g, weights, dtype, quant } = b;
  if (!quant) throw new Error(`matMulNBits(${s.name}) in a float build`);
  const bits = QUANT_BITS[quant];
  const { kBlocks, blobSize } = nbitsShape(layer.out, layer.in, bits);
  const wKey = s.key('weight');
  const quantized = shared<QuantizedWeight>(
    async () => quantizeWeight(await weights.readF32(wKey), layer.out, layer.in, { bits, scaleDType: dtype }),
    2,
  );
  const packed = g.initializer(`${wKey}_Q${bits}`, 'uint8', [layer.out, kBlocks, blobSize], async () => {
    return (await quantized()).packed;
  });
  const scales = g.initializer(`${wKey}_scales`, dtype, [layer.out * kBlocks], async () =>
    scaleBytes(await quantized()),
  );
  return g.node(
    s.node('MatMulNBits'),
    'MatMulNBits',
    [x, packed, scales],
    { K: layer.in, N: layer.out, bits, block_size: QUANT_BLOCK_SIZE },
    { domain: MS_DOMAIN },
  );
}
