/**
 * @module weights/quantize
 * Weight-only block quantization of a Linear weight [out, in] into the inputs of ONNX Runtime's
 * `com.microsoft.MatMulNBits` (ContribOperators.md; onnx-runtime.md §2.3):
 * - `B` uint8 [N, kBlocks, blobSize], N = out features, kBlocks = ceil(K / blockSize),
 *   blobSize = blockSize · bits / 8. Rows are output features, so the checkpoint's [out, in] layout
 *   is B's layout as is (no transpose). Within a block, element k sits at bit offset k · bits,
 *   low bits first: for 4 bits, even k is the low nibble.
 * - `scales` [N · kBlocks] in the dtype of the activations A, n-major.
 * - no `zero_points` input: the kernel's default zero point 2^(bits−1) (8, 128) applies, and
 *   w = (stored − 2^(bits−1)) · scale.
 *
 * Scheme: symmetric round-to-nearest per block of 32 along K, q ∈ [−qmax, qmax] with
 * qmax = 2^(bits−1) − 1 (7, 127) and scale = max|w| / qmax. Why symmetric: linear weights are
 * centred on zero, the zero point costs nothing to store when absent, and it is what
 * onnxruntime-genai ships by default (`is_symmetric=true`). Why ±qmax and not ORT's quantizer,
 * which maps the signed extreme to −2^(bits−1) (scale = extreme / −8): that can clip the opposite
 * extreme by a whole step ("max may be clipped", matmul_nbits_quantizer.py); ±qmax gives every
 * element the bound |w − dequant(w)| ≤ scale / 2, at the cost of one unused level. The stored scale
 * is rounded up to the next float16 (or float32) value when rounding would shrink it, so that bound
 * holds for the stored scale too. The K tail of a short last block is padded with zeros.
 */
import { errors } from '../errors.js';
import { f16ToF32, f64ToF16 } from './float16.js';

/** The quantized variants of `flux-serve build --quant`. */
export type WeightQuant = 'int8' | 'int4';

export const QUANT_BITS: Readonly<Record<WeightQuant, 4 | 8>> = { int8: 8, int4: 4 };

/** MatMulNBits `block_size`: 32 weights along K share a scale (onnxruntime-genai's default). */
export const QUANT_BLOCK_SIZE = 32;

/** The dtype scales are stored in: the dtype of MatMulNBits' input A. */
export type ScaleDType = 'float32' | 'float16';

export interface QuantizeOptions {
  readonly bits: 4 | 8;
  readonly scaleDType: ScaleDType;
  /** A power of two ≥ 16 (default {@link QUANT_BLOCK_SIZE}). */
  readonly blockSize?: number;
}

export interface QuantizedWeight {
  readonly bits: 4 | 8;
  readonly blockSize: number;
  /** Output features (MatMulNBits attribute `N`). */
  readonly n: number;
  /** Input features (MatMulNBits attribute `K`). */
  readonly k: number;
  readonly kBlocks: number;
  readonly blobSize: number;
  /** MatMulNBits input `B`: uint8 [n, kBlocks, blobSize]. */
  readonly packed: Uint8Array;
  /** [n · kBlocks], the exact values of the stored scales (float16-representable when scaleDType is). */
  readonly scales: Float32Array;
  readonly scaleDType: ScaleDType;
}

/** The shape of MatMulNBits' packed inputs for a [n, k] weight. */
export function nbitsShape(
  n: number,
  k: number,
  bits: 4 | 8,
  blockSize = QUANT_BLOCK_SIZE,
): { kBlocks: number; blobSize: number } {
  if (blockSize < 16 || (blockSize & (blockSize - 1)) !== 0)
    throw errors.GRAPH(`MatMulNBits block size ${blockSize} is not a power of two ≥ 16`);
  if (!Number.isInteger(n) || !Number.isInteger(k) || n < 1 || k < 1)
    throw errors.GRAPH(`cannot quantize a ${n}×${k} weight`);
  return { kBlocks: Math.ceil(k / blockSize), blobSize: (blockSize * bits) / 8 };
}

/**
 * Bytes of a quantized [n, k] weight: packed B plus its scales.
 * @example quantizedBytes(3072, 3072, 4, 2) // 4,718,592 B + 589,824 scale bytes = 5,308,416
 */
export function quantizedBytes(
  n: number,
  k: number,
  bits: 4 | 8,
  scaleBytes: number,
  blockSize = QUANT_BLOCK_SIZE,
): number {
  const { kBlocks, blobSize } = nbitsShape(n, k, bits, blockSize);
  return n * kBlocks * (blobSize + scaleBytes);
}

/** Per-block scales max|w| / qmax, stored in `dtype` and never below the exact quotient. */
function blockScales(absMax: Float64Array, qmax: number, dtype: ScaleDType): Float32Array {
  const exact = absMax.map((m) => m / qmax);
  let stored: Float32Array;
  if (dtype === 'float16') {
    const half = f64ToF16(exact);
    const rounded = f16ToF32(half);
    for (let i = 0; i < half.length; i++) {
      // Positive half floats order like their bit patterns: +1 is the next value up.
      if ((rounded[i] as number) < (exact[i] as number)) half[i] = (half[i] as number) + 1;
    }
    stored = f16ToF32(half);
  } else {
    stored = Float32Array.from(exact);
    const bitsView = new Uint32Array(stored.buffer);
    for (let i = 0; i < stored.length; i++) {
      if ((stored[i] as number) < (exact[i] as number)) bitsView[i] = (bitsView[i] as number) + 1;
    }
  }
  for (let i = 0; i < stored.length; i++) {
    if (!Number.isFinite(stored[i] as number))
      throw errors.WEIGHTS(`block scale ${exact[i]} does not fit ${dtype} (weights too large to quantize)`);
  }
  return stored;
}

/**
 * Quantizes a row-major [n, k] weight (PyTorch Linear layout, out × in).
 *
 * @throws FluxServeError FLUX_ERR_WEIGHTS on NaN/Inf weights
 * @example
 * const q = quantizeWeight(await weights.readF32('img_in.weight'), 3072, 64, { bits: 4, scaleDType: 'float16' });
 * // q.packed → MatMulNBits B [3072, 2, 16]; q.scales → scales [6144]
 */
export function quantizeWeight(
  w: Float32Array,
  n: number,
  k: number,
  options: QuantizeOptions,
): QuantizedWeight {
  const { bits, scaleDType } = options;
  const blockSize = options.blockSize ?? QUANT_BLOCK_SIZE;
  const { kBlocks, blobSize } = nbitsShape(n, k, bits, blockSize);
  if (w.length !== n * k) throw errors.GRAPH(`quantizeWeight: ${w.length} values is not ${n}×${k}`);
  const qmax = 2 ** (bits - 1) - 1;
  const offset = 2 ** (bits - 1);

  const absMax = new Float64Array(n * kBlocks);
  for (let row = 0; row < n; row++) {
    for (let i = 0; i < k; i++) {
      const v = w[row * k + i] as number;
      if (!Number.isFinite(v)) throw errors.WEIGHTS(`weight [${row}, ${i}] is ${v}; cannot quantize`);
      const b = row * kBlocks + Math.floor(i / blockSize);
      if (Math.abs(v) > (absMax[b] as number)) absMax[b] = Math.abs(v);
    }
  }
  const scales = blockScales(absMax, qmax, scaleDType);

  // Padding beyond K stays at the zero point, i.e. dequantizes to 0.
  const packed = new Uint8Array(n * kBlocks * blobSize).fill(bits === 8 ? offset : offset | (offset << 4));
  for (let row = 0; row < n; row++) {
    for (let i = 0; i < k; i++) {
      const b = row * kBlocks + Math.floor(i / blockSize);
      const scale = scales[b] as number;
      const q =
        scale === 0 ? 0 : Math.max(-qmax, Math.min(qmax, Math.round((w[row * k + i] as number) / scale)));
      const stored = q + offset;
      const within = i % blockSize;
      if (bits === 8) {
        packed[b * blobSize + within] = stored;
      } else {
        const byte = b * blobSize + (within >> 1);
        packed[byte] =
          within & 1
            ? ((packed[byte] as number) & 0x0f) | (stored << 4)
            : ((packed[byte] as number) & 0xf0) | stored;
      }
    }
  }
  return { bits, blockSize, n, k, kBlocks, blobSize, packed, scales, scaleDType };
}

/** The little-endian bytes of the scales initializer (float16 or float32). */
export function scaleBytes(q: QuantizedWeight): Uint8Array {
  if (q.scaleDType === 'float32')
    return new Uint8Array(q.scales.buffer, q.scales.byteOffset, q.scales.byteLength);
  const half = f64ToF16(Float64Array.from(q.scales)); // exact: the scales are float16 values
  return new Uint8Array(half.buffer);
}
