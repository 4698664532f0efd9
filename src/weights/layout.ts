/**
 * @module weights/layout
 * Re-laying weights for ONNX: PyTorch stores Linear weights [out, in]; a MatMul wants [in, out].
 */

/**
 * Transposes a row-major [rows, cols] matrix.
 * @example transpose2d(Float32Array.of(1, 2, 3, 4, 5, 6), 2, 3) // [1, 4, 2, 5, 3, 6]
 */
export function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  if (src.length !== rows * cols) throw new Error(`transpose2d: ${src.length} values is not ${rows}x${cols}`);
  const dst = new Float32Array(src.length);
  // Blocked so both the reads and the writes stay in cache for the 21504x3072 FLUX matrices.
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(r0 + B, rows);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(c0 + B, cols);
      for (let r = r0; r < r1; r++) {
        const rowBase = r * cols;
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[rowBase + c] as number;
      }
    }
  }
  return dst;
}
