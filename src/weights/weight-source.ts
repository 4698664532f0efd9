/**
 * @module weights/weight-source
 * The contract between checkpoint readers and the graph builder, in its own module so that every
 * implementation (files, in-memory, prefix view) can depend on it without depending on each other.
 */
import { errors } from '../errors.js';
import type { SafetensorsDType } from './dtype.js';

/** A tensor's element type and dims, as stored. */
export interface TensorInfo {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
}

/**
 * Named tensors, read on demand and converted to the float width the caller asks for.
 *
 * @example
 * async function loadBias(weights: WeightSource): Promise<Float32Array> {
 *   return weights.readF32('img_in.bias');
 * }
 */
export interface WeightSource {
  /** Every tensor name, sorted. */
  names(): string[];
  has(name: string): boolean;
  /** Throws FLUX_ERR_WEIGHTS naming the tensor if it is missing. */
  info(name: string): TensorInfo;
  /** F32/F16/BF16/F64 converted to float32; other dtypes are an error. */
  readF32(name: string): Promise<Float32Array>;
  /** F16 as stored; F32/BF16/F64 rounded to nearest even; other dtypes are an error. */
  readF16(name: string): Promise<Uint16Array>;
  close(): Promise<void>;
}

/**
 * The error for a tensor the source does not have.
 *
 * @example
 * if (!source.has(name)) throw missingTensor(name);
 */
export function missingTensor(name: string): Error {
  return errors.WEIGHTS(`tensor ${JSON.stringify(name)} is not in the checkpoint`);
}
