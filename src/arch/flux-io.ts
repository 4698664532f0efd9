/**
 * @module arch/flux-io
 * The transformer graph's contract, relied on by the pipeline and the LoRA packer: input and
 * output names, their dtypes (float32 at the boundary whatever the compute dtype) and symbolic dims.
 */
import type { Dim } from '../onnx/graph.js';
import type { FluxConfig } from './flux-config.js';
import type { LinearLayer } from './param-tensor.js';

export const FLUX_IO = {
  img: 'img',
  imgIds: 'img_ids',
  txt: 'txt',
  txtIds: 'txt_ids',
  timesteps: 'timesteps',
  y: 'y',
  guidance: 'guidance',
  out: 'out',
} as const;

export interface IoSpec {
  readonly name: string;
  readonly dtype: 'float32';
  readonly dims: readonly Dim[];
}

export function fluxInputs(c: FluxConfig): IoSpec[] {
  const f = (name: string, dims: readonly Dim[]): IoSpec => ({ name, dtype: 'float32', dims });
  const inputs = [
    f(FLUX_IO.img, ['batch', 'img_tokens', c.inChannels]),
    f(FLUX_IO.imgIds, ['batch', 'img_tokens', 3]),
    f(FLUX_IO.txt, ['batch', 'txt_tokens', c.jointAttentionDim]),
    f(FLUX_IO.txtIds, ['batch', 'txt_tokens', 3]),
    f(FLUX_IO.timesteps, ['batch']),
    f(FLUX_IO.y, ['batch', c.pooledProjectionDim]),
  ];
  if (c.guidanceEmbeds) inputs.push(f(FLUX_IO.guidance, ['batch']));
  return inputs;
}

export function fluxOutputs(c: FluxConfig): IoSpec[] {
  return [{ name: FLUX_IO.out, dtype: 'float32', dims: ['batch', 'img_tokens', c.inChannels] }];
}

/** The two runtime inputs of a layer's LoRA: A [in, r] and B [r, out], r dynamic (0 = no LoRA). */
export function loraInputs(layer: LinearLayer): { a: IoSpec; b: IoSpec } {
  const rank = `${layer.name}.rank`;
  return {
    a: { name: `lora.${layer.name}.a`, dtype: 'float32', dims: [layer.in, rank] },
    b: { name: `lora.${layer.name}.b`, dtype: 'float32', dims: [rank, layer.out] },
  };
}
