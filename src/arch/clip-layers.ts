/**
 * @module arch/clip-layers
 * The single source of truth for CLIP text tower tensor names (HF CLIPTextModel keys, flux.md §2.1)
 * and shapes. The graph builder, the weight check and the random-weight writer derive from here.
 */
import type { ClipTextConfig } from './clip-config.js';
import type { LinearLayer, ParamTensor } from './param-tensor.js';

/** What a tensor is, which decides how random weights are drawn for it. */
export type ClipTensorRole = 'embedding' | 'linear' | 'bias' | 'norm';

export interface ClipTensor extends ParamTensor {
  readonly role: ClipTensorRole;
}

export const CLIP_ROOT = 'text_model';

/** Module path of encoder layer `i`, e.g. `text_model.encoder.layers.3`. */
export function clipLayerPath(i: number): string {
  return `${CLIP_ROOT}.encoder.layers.${i}`;
}

/** The six linears of encoder layer `i`, in graph order (q, k, v, out_proj, fc1, fc2). */
export function clipLayerLinears(c: ClipTextConfig, i: number): LinearLayer[] {
  const p = clipLayerPath(i);
  const d = c.hiddenSize;
  return [
    { name: `${p}.self_attn.q_proj`, in: d, out: d },
    { name: `${p}.self_attn.k_proj`, in: d, out: d },
    { name: `${p}.self_attn.v_proj`, in: d, out: d },
    { name: `${p}.self_attn.out_proj`, in: d, out: d },
    { name: `${p}.mlp.fc1`, in: d, out: c.intermediateSize },
    { name: `${p}.mlp.fc2`, in: c.intermediateSize, out: d },
  ];
}

/** Every linear of the tower (all with bias), in graph order. */
export function clipLinears(c: ClipTextConfig): LinearLayer[] {
  return Array.from({ length: c.numLayers }, (_, i) => clipLayerLinears(c, i)).flat();
}

/** The affine LayerNorms (weight and bias [hidden]), by module path, in graph order. */
export function clipNorms(c: ClipTextConfig): string[] {
  const names: string[] = [];
  for (let i = 0; i < c.numLayers; i++)
    names.push(`${clipLayerPath(i)}.layer_norm1`, `${clipLayerPath(i)}.layer_norm2`);
  names.push(`${CLIP_ROOT}.final_layer_norm`);
  return names;
}

/**
 * Every tensor of `text_encoder/model.safetensors`: 196 tensors, 123,060,480 parameters for CLIP-L.
 * (Old exports may also hold the int64 buffer `text_model.embeddings.position_ids`; it is not a
 * parameter and the builder ignores it.)
 */
export function clipTensors(c: ClipTextConfig): ClipTensor[] {
  const d = c.hiddenSize;
  const tensors: ClipTensor[] = [
    { name: `${CLIP_ROOT}.embeddings.token_embedding.weight`, shape: [c.vocabSize, d], role: 'embedding' },
    {
      name: `${CLIP_ROOT}.embeddings.position_embedding.weight`,
      shape: [c.maxPositions, d],
      role: 'embedding',
    },
  ];
  const linears = clipLinears(c);
  const norms = clipNorms(c);
  const norm = (name: string) => {
    tensors.push(
      { name: `${name}.weight`, shape: [d], role: 'norm' },
      { name: `${name}.bias`, shape: [d], role: 'bias' },
    );
  };
  const lin = (l: LinearLayer) => {
    tensors.push(
      { name: `${l.name}.weight`, shape: [l.out, l.in], role: 'linear' },
      { name: `${l.name}.bias`, shape: [l.out], role: 'bias' },
    );
  };
  for (let i = 0; i < c.numLayers; i++) {
    norm(norms[2 * i] as string);
    for (const l of linears.slice(6 * i, 6 * i + 4)) lin(l);
    norm(norms[2 * i + 1] as string);
    for (const l of linears.slice(6 * i + 4, 6 * i + 6)) lin(l);
  }
  norm(norms[norms.length - 1] as string);
  return tensors;
}

/** Buffers some CLIPTextModel checkpoints carry that are not parameters (ignored by the builder). */
export const CLIP_IGNORED_TENSORS: readonly string[] = [`${CLIP_ROOT}.embeddings.position_ids`];
