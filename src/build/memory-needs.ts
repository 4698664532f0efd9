/**
 * @module build/memory-needs
 * GPU memory a model needs per build variant: the weights counted exactly from the manifest's configs
 * (arch/weight-bytes for the transformer and T5; CLIP in the compute dtype, the VAE in float32), plus
 * an activation allowance for 1024² that is an ESTIMATE until measured on a GPU (GPU.md).
 */
import { parseClipTextConfig } from '../arch/clip-config.js';
import { clipTensors } from '../arch/clip-layers.js';
import { parameterCount } from '../arch/param-tensor.js';
import { parseT5Config } from '../arch/t5-config.js';
import { parseVaeConfig } from '../arch/vae-config.js';
import { vaeDecoderTensors, vaeEncoderTensors } from '../arch/vae-layers.js';
import { fluxWeightBytes, t5WeightBytes, type WeightVariant } from '../arch/weight-bytes.js';
import type { ModelSpec } from './model-spec.js';

export const MEMORY_VARIANTS = {
  fp16: { dtype: 'float16' },
  int8: { dtype: 'float16', quant: 'int8' },
  int4: { dtype: 'float16', quant: 'int4' },
} as const satisfies Record<string, WeightVariant>;

export type MemoryVariant = keyof typeof MEMORY_VARIANTS;

/**
 * Activations, attention workspace, cuDNN workspace and the CUDA context at 1024² (4,096 image +
 * 256/512 text tokens), bytes. Not measured: an allowance to be replaced by the GPU figure.
 */
export const ACTIVATION_ALLOWANCE_BYTES = 3 * 1024 ** 3;

export interface MemoryNeed {
  readonly variant: MemoryVariant;
  /** Weights of all five graphs, bytes (exact count of what the build writes). */
  readonly weightBytes: number;
  /** Weights plus the activation allowance, bytes: an estimate. */
  readonly needBytes: number;
}

/** @example memoryNeeds(await loadModelSpec('flux.1-schnell')).find((n) => n.variant === 'int4') */
export function memoryNeeds(spec: ModelSpec): MemoryNeed[] {
  const clip = parameterCount(clipTensors(parseClipTextConfig(spec.clipJson))) * 2;
  const vaeConfig = parseVaeConfig(spec.vaeJson);
  const vae =
    (parameterCount(vaeDecoderTensors(vaeConfig)) + parameterCount(vaeEncoderTensors(vaeConfig))) * 4;
  const t5 = parseT5Config(spec.t5Json);
  return (Object.keys(MEMORY_VARIANTS) as MemoryVariant[]).map((variant) => {
    const v: WeightVariant = MEMORY_VARIANTS[variant];
    const weightBytes = fluxWeightBytes(spec.transformer, v) + t5WeightBytes(t5, v) + clip + vae;
    return { variant, weightBytes, needBytes: weightBytes + ACTIVATION_ALLOWANCE_BYTES };
  });
}
