/**
 * @module arch/flux-names
 * One name table maps diffusers FluxTransformer2DModel keys onto BFL checkpoint keys (flux.md §3.8):
 * fused qkv and single-block linear1 are row-concatenations of diffusers' separate projections, and
 * the final adaLN's two halves are swapped ([scale; shift] → [shift; scale]). The builder only ever
 * sees BFL names.
 */
import { errors } from '../errors.js';
import { prefixStripped } from '../weights/prefix-stripped.js';
import type { TensorInfo, WeightSource } from '../weights/weight-source.js';
import { missingTensor } from '../weights/weight-source.js';
import type { FluxConfig } from './flux-config.js';
import { fluxLinears, fluxNormScales } from './flux-layers.js';

interface Recipe {
  /** Source tensors concatenated along dim 0, in order. */
  readonly parts: readonly string[];
  /** Swap the two halves of dim 0 (final adaLN modulation). */
  readonly swapHalves: boolean;
}

function diffusersModule(bfl: string): { parts: string[]; swapHalves?: boolean } {
  const fixed: Record<string, string> = {
    img_in: 'x_embedder',
    txt_in: 'context_embedder',
    'time_in.in_layer': 'time_text_embed.timestep_embedder.linear_1',
    'time_in.out_layer': 'time_text_embed.timestep_embedder.linear_2',
    'vector_in.in_layer': 'time_text_embed.text_embedder.linear_1',
    'vector_in.out_layer': 'time_text_embed.text_embedder.linear_2',
    'guidance_in.in_layer': 'time_text_embed.guidance_embedder.linear_1',
    'guidance_in.out_layer': 'time_text_embed.guidance_embedder.linear_2',
    'final_layer.linear': 'proj_out',
  };
  const direct = fixed[bfl];
  if (direct) return { parts: [direct] };
  if (bfl === 'final_layer.adaLN_modulation.1') return { parts: ['norm_out.linear'], swapHalves: true };
  const double = /^double_blocks\.(\d+)\.(.+)$/.exec(bfl);
  if (double) {
    const p = `transformer_blocks.${double[1]}`;
    const table: Record<string, string[]> = {
      'img_mod.lin': [`${p}.norm1.linear`],
      'txt_mod.lin': [`${p}.norm1_context.linear`],
      'img_attn.qkv': [`${p}.attn.to_q`, `${p}.attn.to_k`, `${p}.attn.to_v`],
      'txt_attn.qkv': [`${p}.attn.add_q_proj`, `${p}.attn.add_k_proj`, `${p}.attn.add_v_proj`],
      'img_attn.proj': [`${p}.attn.to_out.0`],
      'txt_attn.proj': [`${p}.attn.to_add_out`],
      'img_mlp.0': [`${p}.ff.net.0.proj`],
      'img_mlp.2': [`${p}.ff.net.2`],
      'txt_mlp.0': [`${p}.ff_context.net.0.proj`],
      'txt_mlp.2': [`${p}.ff_context.net.2`],
      'img_attn.norm.query_norm': [`${p}.attn.norm_q`],
      'img_attn.norm.key_norm': [`${p}.attn.norm_k`],
      'txt_attn.norm.query_norm': [`${p}.attn.norm_added_q`],
      'txt_attn.norm.key_norm': [`${p}.attn.norm_added_k`],
    };
    const parts = table[double[2] as string];
    if (parts) return { parts };
  }
  const single = /^single_blocks\.(\d+)\.(.+)$/.exec(bfl);
  if (single) {
    const p = `single_transformer_blocks.${single[1]}`;
    const table: Record<string, string[]> = {
      'modulation.lin': [`${p}.norm.linear`],
      linear1: [`${p}.attn.to_q`, `${p}.attn.to_k`, `${p}.attn.to_v`, `${p}.proj_mlp`],
      linear2: [`${p}.proj_out`],
      'norm.query_norm': [`${p}.attn.norm_q`],
      'norm.key_norm': [`${p}.attn.norm_k`],
    };
    const parts = table[single[2] as string];
    if (parts) return { parts };
  }
  throw new Error(`no diffusers name for BFL module ${bfl}`);
}

/** BFL tensor name → the diffusers tensors it is made of. */
export function diffusersRecipes(c: FluxConfig): Map<string, Recipe> {
  const recipes = new Map<string, Recipe>();
  for (const layer of fluxLinears(c)) {
    const m = diffusersModule(layer.name);
    for (const leaf of ['weight', 'bias']) {
      recipes.set(`${layer.name}.${leaf}`, {
        parts: m.parts.map((p) => `${p}.${leaf}`),
        swapHalves: m.swapHalves ?? false,
      });
    }
  }
  for (const norm of fluxNormScales(c)) {
    recipes.set(`${norm}.scale`, {
      parts: diffusersModule(norm).parts.map((p) => `${p}.weight`),
      swapHalves: false,
    });
  }
  return recipes;
}

function concatRows<T extends Float32Array | Uint16Array>(
  chunks: readonly T[],
  swapHalves: boolean,
  make: (n: number) => T,
): T {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = make(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  if (!swapHalves) return out;
  const half = total / 2;
  const swapped = make(total);
  swapped.set(out.subarray(half), 0);
  swapped.set(out.subarray(0, half), half);
  return swapped;
}

class DiffusersAsBfl implements WeightSource {
  private readonly recipes = new Map<string, Recipe>();
  private readonly passthrough: string[];

  constructor(
    private readonly inner: WeightSource,
    all: Map<string, Recipe>,
  ) {
    const used = new Set<string>();
    for (const [name, r] of all) {
      if (r.parts.every((p) => inner.has(p))) {
        this.recipes.set(name, r);
        for (const p of r.parts) used.add(p);
      }
    }
    // Unmapped source tensors stay visible so the weight check reports them as unexpected.
    this.passthrough = inner.names().filter((n) => !used.has(n));
  }

  names(): string[] {
    return [...this.recipes.keys(), ...this.passthrough].sort();
  }

  has(name: string): boolean {
    return this.recipes.has(name) || this.passthrough.includes(name);
  }

  private recipe(name: string): Recipe {
    const r = this.recipes.get(name);
    if (!r) throw missingTensor(name);
    return r;
  }

  info(name: string): TensorInfo {
    if (!this.recipes.has(name)) return this.inner.info(name);
    const infos = this.recipe(name).parts.map((p) => ({ p, ...this.inner.info(p) }));
    const [first] = infos;
    if (!first) throw missingTensor(name);
    for (const i of infos) {
      if (
        i.dtype !== first.dtype ||
        i.shape.length !== first.shape.length ||
        i.shape.slice(1).some((d, k) => d !== first.shape[k + 1])
      ) {
        throw errors.WEIGHTS(
          `${i.p} [${i.shape}] ${i.dtype} cannot be stacked with ${first.p} [${first.shape}] ${first.dtype}`,
        );
      }
    }
    return {
      dtype: first.dtype,
      shape: [infos.reduce((n, i) => n + (i.shape[0] ?? 1), 0), ...first.shape.slice(1)],
    };
  }

  async readF32(name: string): Promise<Float32Array> {
    if (!this.recipes.has(name)) return this.inner.readF32(name);
    const r = this.recipe(name);
    const chunks = await Promise.all(r.parts.map((p) => this.inner.readF32(p)));
    return concatRows(chunks, r.swapHalves, (n) => new Float32Array(n));
  }

  async readF16(name: string): Promise<Uint16Array> {
    if (!this.recipes.has(name)) return this.inner.readF16(name);
    const r = this.recipe(name);
    const chunks = await Promise.all(r.parts.map((p) => this.inner.readF16(p)));
    return concatRows(chunks, r.swapHalves, (n) => new Uint16Array(n));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** ComfyUI / SAI single-file checkpoints nest the transformer under this prefix. */
const COMFY_PREFIX = 'model.diffusion_model.';

/**
 * Presents any FLUX transformer checkpoint (BFL, diffusers, or either under ComfyUI's prefix) under
 * BFL names.
 * @example const bfl = fluxWeightsAsBfl(config, await openCheckpoint(files)); await bfl.readF32('double_blocks.0.img_attn.qkv.weight');
 */
export function fluxWeightsAsBfl(c: FluxConfig, source: WeightSource): WeightSource {
  const stripped = prefixStripped(source, COMFY_PREFIX);
  return stripped.has('x_embedder.weight') ? new DiffusersAsBfl(stripped, diffusersRecipes(c)) : stripped;
}
