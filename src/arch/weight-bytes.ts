/**
 * @module arch/weight-bytes
 * How many bytes of weights a built transformer or T5 graph holds, per variant, from the config
 * alone: what a 12B build will write, and what a GPU must hold (`--quant` exists so that the whole
 * model fits a 24 GB card). Counts exactly the non-constant initializers the builders emit
 * (test/arch/weight-bytes.test.ts checks it against built graphs).
 */
import { DTYPE_BYTES } from '../onnx/dtype.js';
import { QUANT_BITS, quantizedBytes, type WeightQuant } from '../weights/quantize.js';
import type { ComputeDType } from './build-context.js';
import type { FluxConfig } from './flux-config.js';
import { fluxLinears, fluxNormScales } from './flux-layers.js';
import type { LinearLayer } from './param-tensor.js';
import type { T5Config } from './t5-config.js';
import { t5Linears } from './t5-layers.js';

export interface WeightVariant {
  readonly dtype: ComputeDType;
  readonly quant?: WeightQuant;
}

/** A linear's weight: transposed float in `dtype`, or MatMulNBits B plus scales in `dtype`. */
function linearBytes(l: LinearLayer, dtype: ComputeDType, quant: WeightQuant | undefined): number {
  const e = DTYPE_BYTES[dtype];
  return quant ? quantizedBytes(l.out, l.in, QUANT_BITS[quant], e) : l.in * l.out * e;
}

/** @example fluxWeightBytes(schnell, { dtype: 'float16', quant: 'int4' }) // ≈ 6.7e9 */
export function fluxWeightBytes(c: FluxConfig, v: WeightVariant): number {
  const e = DTYPE_BYTES[v.dtype];
  let bytes = fluxNormScales(c).length * c.headDim * e;
  for (const l of fluxLinears(c)) bytes += linearBytes(l, v.dtype, v.quant) + l.out * e; // + bias
  return bytes;
}

/**
 * T5 as t5.ts builds it: float32 norms; in float16 builds `wo` (weight, or scales when quantized)
 * is float32 (`ffnFp32`, default true); the embedding and the position table are never quantized.
 */
export function t5WeightBytes(c: T5Config, v: WeightVariant, ffnFp32 = true): number {
  const e = DTYPE_BYTES[v.dtype];
  let bytes =
    c.vocabSize * c.dModel * e + c.numBuckets * c.numHeads * e + (2 * c.numLayers + 1) * c.dModel * 4;
  for (const l of t5Linears(c)) {
    const fp32 = ffnFp32 && l.name.endsWith('.wo');
    bytes += linearBytes(l, fp32 ? 'float32' : v.dtype, v.quant);
  }
  return bytes;
}
