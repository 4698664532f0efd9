/**
 * @module weights
 * Reading and writing safetensors checkpoints: lazy per-tensor reads, HF shard indexes, float
 * conversions, and a streaming writer. Import from here rather than from the individual modules.
 *
 * @example
 * import { openCheckpoint, prefixStripped } from './weights/index.js';
 * const weights = prefixStripped(await openCheckpoint(paths), 'model.diffusion_model.');
 */
export {
  inMemoryWeights,
  missingTensor,
  openCheckpoint,
  prefixStripped,
  type TensorInfo,
  type WeightSource,
} from './checkpoint.js';
export { DTYPE_BYTES, isSafetensorsDType, type SafetensorsDType } from './dtype.js';
export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, f64ToF16 } from './float16.js';
export { SafetensorsFile } from './safetensors-file.js';
export { MAX_HEADER_BYTES, parseSafetensorsHeader, type TensorEntry } from './safetensors-header.js';
export {
  type TensorPlan,
  type TensorToWrite,
  type WritableDType,
  writeSafetensors,
} from './safetensors-writer.js';
