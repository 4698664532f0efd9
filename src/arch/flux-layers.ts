/**
 * @module arch/flux-layers
 * The single source of truth for FLUX transformer tensor names (BFL checkpoint keys), their shapes
 * and which of them are LoRA-targetable linears (lora.md §1.1). The graph builder, the weight
 * loader, the random tiny-model writer and the LoRA mapper all derive from these two functions.
 */
import type { FluxConfig } from './flux-config.js';
import type { LinearLayer, LinearPart, ParamTensor } from './param-tensor.js';

/**
 * The row ranges of the fused linears that LoRA formats target on their own: diffusers (and kohya
 * split, OneTrainer) train q, k, v and the single blocks' MLP as separate projections, and XLabs'
 * single-block `qkv_lora` patches the attention rows of linear1 only. Each range gets its own
 * LoRA inputs, so none of these formats is ever padded with zero rows (arch/linear.ts).
 */
function fusedParts(d: number, mlpHidden?: number): LinearPart[] {
  const qkv = [
    { name: 'q', offset: 0, rows: d },
    { name: 'k', offset: d, rows: d },
    { name: 'v', offset: 2 * d, rows: d },
  ];
  if (mlpHidden === undefined) return qkv;
  return [...qkv, { name: 'mlp', offset: 3 * d, rows: mlpHidden }, { name: 'qkv', offset: 0, rows: 3 * d }];
}

/** Every linear of the transformer in graph order; each takes a runtime LoRA. */
export function fluxLinears(c: FluxConfig): LinearLayer[] {
  const d = c.hiddenSize;
  const t = c.timestepEmbeddingDim;
  const layers: LinearLayer[] = [
    { name: 'img_in', in: c.inChannels, out: d },
    { name: 'txt_in', in: c.jointAttentionDim, out: d },
    { name: 'time_in.in_layer', in: t, out: d },
    { name: 'time_in.out_layer', in: d, out: d },
    { name: 'vector_in.in_layer', in: c.pooledProjectionDim, out: d },
    { name: 'vector_in.out_layer', in: d, out: d },
  ];
  if (c.guidanceEmbeds) {
    layers.push(
      { name: 'guidance_in.in_layer', in: t, out: d },
      { name: 'guidance_in.out_layer', in: d, out: d },
    );
  }
  for (let i = 0; i < c.numLayers; i++) {
    for (const stream of ['img', 'txt']) {
      const p = `double_blocks.${i}.${stream}`;
      layers.push(
        { name: `${p}_mod.lin`, in: d, out: 6 * d },
        { name: `${p}_attn.qkv`, in: d, out: 3 * d, parts: fusedParts(d) },
        { name: `${p}_attn.proj`, in: d, out: d },
        { name: `${p}_mlp.0`, in: d, out: c.mlpHidden },
        { name: `${p}_mlp.2`, in: c.mlpHidden, out: d },
      );
    }
  }
  for (let i = 0; i < c.numSingleLayers; i++) {
    const p = `single_blocks.${i}`;
    layers.push(
      { name: `${p}.modulation.lin`, in: d, out: 3 * d },
      { name: `${p}.linear1`, in: d, out: 3 * d + c.mlpHidden, parts: fusedParts(d, c.mlpHidden) },
      { name: `${p}.linear2`, in: d + c.mlpHidden, out: d },
    );
  }
  layers.push(
    { name: 'final_layer.adaLN_modulation.1', in: d, out: 2 * d },
    { name: 'final_layer.linear', in: d, out: c.inChannels },
  );
  return layers;
}

/** The QK-RMSNorm scale vectors (the only non-linear parameters), by their BFL module paths. */
export function fluxNormScales(c: FluxConfig): string[] {
  const names: string[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    for (const stream of ['img', 'txt']) {
      for (const qk of ['query_norm', 'key_norm']) names.push(`double_blocks.${i}.${stream}_attn.norm.${qk}`);
    }
  }
  for (let i = 0; i < c.numSingleLayers; i++) {
    for (const qk of ['query_norm', 'key_norm']) names.push(`single_blocks.${i}.norm.${qk}`);
  }
  return names;
}

/** Every tensor of a BFL checkpoint (`flux1-schnell.safetensors`): 776 for schnell, 780 for dev. */
export function fluxTensors(c: FluxConfig): ParamTensor[] {
  const tensors: ParamTensor[] = [];
  for (const l of fluxLinears(c)) {
    tensors.push(
      { name: `${l.name}.weight`, shape: [l.out, l.in] },
      { name: `${l.name}.bias`, shape: [l.out] },
    );
  }
  for (const n of fluxNormScales(c)) tensors.push({ name: `${n}.scale`, shape: [c.headDim] });
  return tensors;
}
