/**
 * @module arch/clip-io
 * The CLIP text encoder graph's contract, relied on by the pipeline: input and output names, dtypes
 * (float32 outputs whatever the compute dtype) and dims.
 */
import type { DType } from '../onnx/dtype.js';
import type { Dim } from '../onnx/graph.js';
import type { ClipTextConfig } from './clip-config.js';

export const CLIP_IO = {
  /** int64 [batch, 77]: BOS, content tokens, EOS, then padding (49407 for FLUX's tokenizer). */
  inputIds: 'input_ids',
  /** float32 [batch, hidden]: final-LN hidden state at the first EOS (HF `pooler_output`). */
  pooled: 'pooled',
  /** float32 [batch, 77, hidden]: final-LN hidden states (HF `last_hidden_state`). */
  hidden: 'hidden',
} as const;

export interface ClipIoSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly Dim[];
}

/**
 * int64, as HF and every CLIP ONNX export feed token ids; the length is fixed to the position table
 * (77), since the tokenizer always pads to it and the causal mask makes padding harmless.
 */
export function clipInputs(c: ClipTextConfig): ClipIoSpec[] {
  return [{ name: CLIP_IO.inputIds, dtype: 'int64', dims: ['batch', c.maxPositions] }];
}

export function clipOutputs(c: ClipTextConfig): ClipIoSpec[] {
  return [
    { name: CLIP_IO.pooled, dtype: 'float32', dims: ['batch', c.hiddenSize] },
    { name: CLIP_IO.hidden, dtype: 'float32', dims: ['batch', c.maxPositions, c.hiddenSize] },
  ];
}
