/**
 * @module arch/flux-io
 * The transformer graph's contract, relied on by the pipeline and the LoRA packer: input and
 * output names, their dtypes and symbolic dims. The image, text and timestep inputs and the output
 * are float32 at the boundary whatever the compute dtype; the LoRA inputs are in the compute dtype,
 * because they are the bulk of what a step uploads (hundreds of MB per LoRA on a full model) and an
 * fp16 graph would only cast them down inside.
 */
import type { Dim } from '../onnx/graph.js';
import type { ComputeDType } from './build-context.js';
import type { FluxConfig } from './flux-config.js';
import { fluxLinears } from './flux-layers.js';
import type { LinearLayer, LinearPart } from './param-tensor.js';

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
  readonly dtype: ComputeDType;
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

/** A pair of LoRA inputs: A [in, r] and B [r, rows], r dynamic (0 = nothing added). */
export interface LoraPair {
  readonly a: IoSpec;
  readonly b: IoSpec;
}

/**
 * A layer's LoRA inputs: the whole-layer pair `lora.<layer>.a/b` (B [r, out]) and one pair
 * `lora.<layer>.<part>.a/b` per part (B [r, rows of the part]), each with its own dynamic rank.
 */
export function loraInputs(
  layer: LinearLayer,
  dtype: ComputeDType,
): LoraPair & { readonly parts: readonly (LoraPair & { readonly part: LinearPart })[] } {
  const pair = (id: string, rows: number): LoraPair => ({
    a: { name: `lora.${id}.a`, dtype, dims: [layer.in, `${id}.rank`] },
    b: { name: `lora.${id}.b`, dtype, dims: [`${id}.rank`, rows] },
  });
  const whole = pair(layer.name, layer.out);
  const parts = (layer.parts ?? []).map((part) => ({
    part,
    ...pair(`${layer.name}.${part.name}`, part.rows),
  }));
  return { ...whole, parts };
}

/** A part of a layer with the names of its LoRA inputs. */
export interface LoraPart extends LinearPart {
  readonly loraA: string;
  readonly loraB: string;
}

/** A LoRA-targetable linear with its runtime inputs, as `manifest.json` lists it. */
export interface LoraLayer extends LinearLayer {
  readonly loraA: string;
  readonly loraB: string;
  /** The dtype of all the layer's LoRA inputs. */
  readonly loraDType: ComputeDType;
  readonly parts: readonly LoraPart[];
}

/** Every linear of the transformer with its LoRA inputs, for a graph computing in `dtype`. */
export function fluxLoraLayers(c: FluxConfig, dtype: ComputeDType): LoraLayer[] {
  return fluxLinears(c).map((l) => {
    const lora = loraInputs(l, dtype);
    return {
      name: l.name,
      in: l.in,
      out: l.out,
      loraA: lora.a.name,
      loraB: lora.b.name,
      loraDType: dtype,
      parts: lora.parts.map(({ part, a, b }) => ({ ...part, loraA: a.name, loraB: b.name })),
    };
  });
}
