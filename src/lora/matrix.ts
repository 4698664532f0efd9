/**
 * @module lora/matrix
 * The few dense float32 matrix operations the adapter algebra needs (row-major, PyTorch `[rows,
 * cols]` convention): shapes travel with the data so every product is checked where it happens.
 */

export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  /** rows × cols values, row-major. */
  readonly data: Float32Array;
}

export function matrix(
  rows: number,
  cols: number,
  data: Float32Array = new Float32Array(rows * cols),
): Matrix {
  if (data.length !== rows * cols) throw new Error(`matrix [${rows}, ${cols}] given ${data.length} values`);
  return { rows, cols, data };
}

export function identity(n: number): Matrix {
  const m = matrix(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

export function transpose(m: Matrix): Matrix {
  const out = matrix(m.cols, m.rows);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) out.data[c * m.rows + r] = m.data[r * m.cols + c] as number;
  }
  return out;
}

/** x · y, accumulated in float64 per output element. */
export function matmul(x: Matrix, y: Matrix): Matrix {
  if (x.cols !== y.rows) throw new Error(`matmul [${x.rows}, ${x.cols}] · [${y.rows}, ${y.cols}]`);
  const out = matrix(x.rows, y.cols);
  const row = new Float64Array(y.cols);
  for (let i = 0; i < x.rows; i++) {
    row.fill(0);
    for (let k = 0; k < x.cols; k++) {
      const v = x.data[i * x.cols + k] as number;
      if (v === 0) continue;
      const yk = k * y.cols;
      for (let j = 0; j < y.cols; j++) row[j] = (row[j] as number) + v * (y.data[yk + j] as number);
    }
    out.data.set(row, i * y.cols);
  }
  return out;
}

/** Kronecker product: kron(x, y)[i·y.rows + k, j·y.cols + l] = x[i, j] · y[k, l]. */
export function kron(x: Matrix, y: Matrix): Matrix {
  const out = matrix(x.rows * y.rows, x.cols * y.cols);
  const width = out.cols;
  for (let i = 0; i < x.rows; i++) {
    for (let j = 0; j < x.cols; j++) {
      const v = x.data[i * x.cols + j] as number;
      for (let k = 0; k < y.rows; k++) {
        const at = (i * y.rows + k) * width + j * y.cols;
        for (let l = 0; l < y.cols; l++) out.data[at + l] = v * (y.data[k * y.cols + l] as number);
      }
    }
  }
  return out;
}
