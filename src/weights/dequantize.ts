/**
 * @module weights/dequantize
 * The float64 inverse of MatMulNBits' weight format, written from the operator's definition
 * (ContribOperators.md) and independently of the quantizer's packing code, so tests can check one
 * against the other and against ONNX Runtime: element k of a block starts at bit k · bits of the
 * block's blob, low bits first, and w = (stored − 2^(bits−1)) · scale (the default zero point).
 */

export interface NbitsWeight {
  /** MatMulNBits input `B`: uint8 [n, ceil(k / blockSize), blockSize · bits / 8]. */
  readonly packed: Uint8Array;
  /** [n · ceil(k / blockSize)] per-block scales, n-major. */
  readonly scales: ArrayLike<number>;
  readonly n: number;
  readonly k: number;
  readonly bits: number;
  readonly blockSize: number;
}

/**
 * The dequantized weight as a row-major float64 [n, k] (out × in) matrix.
 * @example const w = dequantizeF64(q); // w[o * q.k + i] ≈ original weight [o, i]
 */
export function dequantizeF64(q: NbitsWeight): Float64Array {
  const { packed, scales, n, k, bits, blockSize } = q;
  const kBlocks = Math.ceil(k / blockSize);
  const blobBits = blockSize * bits;
  const zeroPoint = 2 ** (bits - 1);
  if (packed.length * 8 !== n * kBlocks * blobBits)
    throw new Error(
      `B has ${packed.length} bytes; a ${n}×${k} weight at ${bits} bits needs ${(n * kBlocks * blobBits) / 8}`,
    );
  const out = new Float64Array(n * k);
  for (let row = 0; row < n; row++) {
    for (let i = 0; i < k; i++) {
      const block = row * kBlocks + Math.floor(i / blockSize);
      let stored = 0;
      for (let bit = 0; bit < bits; bit++) {
        const at = block * blobBits + (i % blockSize) * bits + bit;
        stored |= (((packed[at >> 3] as number) >> (at & 7)) & 1) << bit;
      }
      out[row * k + i] = (stored - zeroPoint) * (scales[block] as number);
    }
  }
  return out;
}
