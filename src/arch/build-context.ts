/**
 * @module arch/build-context
 * What every layer builder receives: the graph, the checkpoint (BFL names), the compute dtype and
 * the operator variant. Scenario switches live here, never in builder signatures.
 */
import type { Graph } from '../onnx/graph.js';
import type { WeightSource } from '../weights/checkpoint.js';
import type { WeightQuant } from '../weights/quantize.js';

/** float32 for tests and reference numerics; float16 for production GPUs (flux.md §10). */
export type ComputeDType = 'float32' | 'float16';

/**
 * `fused`: ONNX Runtime contrib kernels (MultiHeadAttention, RotaryEmbedding, SimplifiedLayerNormalization),
 * the fast path on CUDA. `plain`: standard ONNX operators only, for runtimes without them and as a
 * cross-check of the fused kernels.
 */
export type OpsVariant = 'fused' | 'plain';

export interface BuildContext {
  readonly g: Graph;
  readonly weights: WeightSource;
  readonly dtype: ComputeDType;
  readonly ops: OpsVariant;
  /**
   * Linear weights stored block-quantized and multiplied by com.microsoft MatMulNBits (see
   * arch/linear-nbits.ts); absent: float MatMul weights in the compute dtype.
   */
  readonly quant?: WeightQuant;
}
