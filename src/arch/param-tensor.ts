/**
 * @module arch/param-tensor
 * The vocabulary of every layer table: a named parameter tensor and a linear layer.
 */

/** A checkpoint tensor by name and shape. */
export interface ParamTensor {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Rows `[offset, offset + rows)` of a linear's output that LoRA files patch on their own. */
export interface LinearPart {
  readonly name: string;
  readonly offset: number;
  readonly rows: number;
}

/** A linear layer `y = x W^T + b`, named by its module path (weight = `<name>.weight`, [out, in]). */
export interface LinearLayer {
  readonly name: string;
  readonly in: number;
  readonly out: number;
  /** The row ranges of a fused weight (q, k, v, …) that get their own LoRA inputs; absent: none. */
  readonly parts?: readonly LinearPart[];
}

export function parameterCount(tensors: readonly ParamTensor[]): number {
  return tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}
