/**
 * Test support: LoRA files of every format written from random factors, and the delta each one
 * should make, computed here independently and naively in float64 from the very values written
 * (lora.md §6 formulas, key names typed out per format rather than taken from src/lora).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { fluxLinears } from '../../src/arch/flux-layers.js';
import type { LoraRequest } from '../../src/pipeline/generation-request.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/weights/float16.js';
import { seededNormal } from '../../src/weights/random.js';
import {
  type TensorToWrite,
  type WritableDType,
  writeSafetensors,
} from '../../src/weights/safetensors-writer.js';

/** A source module: its key stem and the rows of a BFL layer it patches. */
export interface Mod {
  readonly stem: string;
  readonly layer: string;
  readonly rowOffset: number;
  readonly rows: number;
  readonly in: number;
  /** diffusers norm_out.linear: its rows are [scale; shift], BFL's [shift; scale]. */
  readonly swap?: boolean;
}

/** Exact deltas per BFL layer, [out, in] row-major float64. */
export type Deltas = Map<string, Float64Array>;

export interface LoraFixture {
  readonly tensors: TensorToWrite[];
  readonly metadata?: Record<string, string>;
  readonly delta: Deltas;
}

function layerOut(c: FluxConfig, name: string): number {
  const l = fluxLinears(c).find((x) => x.name === name);
  if (!l) throw new Error(name);
  return l.out;
}

export function bflMods(c: FluxConfig): Mod[] {
  return fluxLinears(c).map((l) => ({ stem: l.name, layer: l.name, rowOffset: 0, rows: l.out, in: l.in }));
}

/** diffusers FluxTransformer2DModel module names, typed out (lora.md §1.1). */
export function diffusersMods(c: FluxConfig): Mod[] {
  const d = c.hiddenSize;
  const mlp = c.mlpHidden;
  const m = (
    stem: string,
    layer: string,
    rowOffset: number,
    rows: number,
    inn: number,
    swap = false,
  ): Mod => ({
    stem,
    layer,
    rowOffset,
    rows,
    in: inn,
    swap,
  });
  const mods: Mod[] = [
    m('x_embedder', 'img_in', 0, d, c.inChannels),
    m('context_embedder', 'txt_in', 0, d, c.jointAttentionDim),
    m('time_text_embed.timestep_embedder.linear_1', 'time_in.in_layer', 0, d, 256),
    m('time_text_embed.timestep_embedder.linear_2', 'time_in.out_layer', 0, d, d),
    m('time_text_embed.text_embedder.linear_1', 'vector_in.in_layer', 0, d, c.pooledProjectionDim),
    m('time_text_embed.text_embedder.linear_2', 'vector_in.out_layer', 0, d, d),
    m('norm_out.linear', 'final_layer.adaLN_modulation.1', 0, 2 * d, d, true),
    m('proj_out', 'final_layer.linear', 0, c.inChannels, d),
  ];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `transformer_blocks.${i}`;
    const b = `double_blocks.${i}`;
    mods.push(
      m(`${p}.norm1.linear`, `${b}.img_mod.lin`, 0, 6 * d, d),
      m(`${p}.norm1_context.linear`, `${b}.txt_mod.lin`, 0, 6 * d, d),
      m(`${p}.attn.to_q`, `${b}.img_attn.qkv`, 0, d, d),
      m(`${p}.attn.to_k`, `${b}.img_attn.qkv`, d, d, d),
      m(`${p}.attn.to_v`, `${b}.img_attn.qkv`, 2 * d, d, d),
      m(`${p}.attn.add_q_proj`, `${b}.txt_attn.qkv`, 0, d, d),
      m(`${p}.attn.add_k_proj`, `${b}.txt_attn.qkv`, d, d, d),
      m(`${p}.attn.add_v_proj`, `${b}.txt_attn.qkv`, 2 * d, d, d),
      m(`${p}.attn.to_out.0`, `${b}.img_attn.proj`, 0, d, d),
      m(`${p}.attn.to_add_out`, `${b}.txt_attn.proj`, 0, d, d),
      m(`${p}.ff.net.0.proj`, `${b}.img_mlp.0`, 0, mlp, d),
      m(`${p}.ff.net.2`, `${b}.img_mlp.2`, 0, d, mlp),
      m(`${p}.ff_context.net.0.proj`, `${b}.txt_mlp.0`, 0, mlp, d),
      m(`${p}.ff_context.net.2`, `${b}.txt_mlp.2`, 0, d, mlp),
    );
  }
  for (let j = 0; j < c.numSingleLayers; j++) {
    const p = `single_transformer_blocks.${j}`;
    const s = `single_blocks.${j}`;
    mods.push(
      m(`${p}.norm.linear`, `${s}.modulation.lin`, 0, 3 * d, d),
      m(`${p}.attn.to_q`, `${s}.linear1`, 0, d, d),
      m(`${p}.attn.to_k`, `${s}.linear1`, d, d, d),
      m(`${p}.attn.to_v`, `${s}.linear1`, 2 * d, d, d),
      m(`${p}.proj_mlp`, `${s}.linear1`, 3 * d, mlp, d),
      m(`${p}.proj_out`, `${s}.linear2`, 0, d, d + mlp),
    );
  }
  return mods;
}

export function xlabsMods(c: FluxConfig): Mod[] {
  const d = c.hiddenSize;
  const mods: Mod[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `double_blocks.${i}`;
    mods.push(
      { stem: `${p}.processor.qkv_lora1`, layer: `${p}.img_attn.qkv`, rowOffset: 0, rows: 3 * d, in: d },
      { stem: `${p}.processor.proj_lora1`, layer: `${p}.img_attn.proj`, rowOffset: 0, rows: d, in: d },
      { stem: `${p}.processor.qkv_lora2`, layer: `${p}.txt_attn.qkv`, rowOffset: 0, rows: 3 * d, in: d },
      { stem: `${p}.processor.proj_lora2`, layer: `${p}.txt_attn.proj`, rowOffset: 0, rows: d, in: d },
    );
  }
  for (let j = 0; j < c.numSingleLayers; j++) {
    const p = `single_blocks.${j}`;
    mods.push(
      { stem: `${p}.processor.qkv_lora`, layer: `${p}.linear1`, rowOffset: 0, rows: 3 * d, in: d },
      { stem: `${p}.processor.proj_lora`, layer: `${p}.linear2`, rowOffset: 0, rows: d, in: d + c.mlpHidden },
    );
  }
  return mods;
}

/** OneTrainer's OMI keys: BFL names, fused qkv/linear1 split by a trailing index (lora.md §4.6). */
export function omiMods(c: FluxConfig): Mod[] {
  const d = c.hiddenSize;
  return bflMods(c).flatMap((m) => {
    if (/attn\.qkv$/.test(m.layer)) {
      return [0, 1, 2].map((k) => ({ ...m, stem: `${m.layer}.${k}`, rowOffset: k * d, rows: d }));
    }
    if (/linear1$/.test(m.layer)) {
      return [0, 1, 2, 3].map((k) => ({
        ...m,
        stem: `${m.layer}.${k}`,
        rowOffset: k * d,
        rows: k === 3 ? c.mlpHidden : d,
      }));
    }
    return [m];
  });
}

/** Random values exactly representable in `dtype`, so the file holds what the reference uses. */
export function randomIn(dtype: WritableDType, n: number, seed: number, std: number): Float32Array {
  const v = seededNormal(seed).fill(new Float32Array(n), std);
  if (dtype === 'F16') return f16ToF32(f32ToF16(v));
  if (dtype === 'BF16') return bf16ToF32(f32ToBf16(v));
  return v;
}

/** Adds `scale · d[rows, in]` to the layer's delta at the module's rows (swapping halves for norm_out). */
export function addDelta(
  c: FluxConfig,
  deltas: Deltas,
  m: Mod,
  d: (o: number, i: number) => number,
  scale: number,
) {
  const out = layerOut(c, m.layer);
  let target = deltas.get(m.layer);
  if (!target) {
    target = new Float64Array(out * m.in);
    deltas.set(m.layer, target);
  }
  for (let o = 0; o < m.rows; o++) {
    const row = m.swap ? (o + m.rows / 2) % m.rows : o;
    for (let i = 0; i < m.in; i++) {
      const at = (m.rowOffset + row) * m.in + i;
      target[at] = (target[at] as number) + scale * d(o, i);
    }
  }
}

/** Naive (B·A)[o, i] with B [rows, r], A [r, in]. */
export function product(b: Float32Array, a: Float32Array, r: number, inn: number) {
  return (o: number, i: number) => {
    let s = 0;
    for (let k = 0; k < r; k++) s += (b[o * r + k] as number) * (a[k * inn + i] as number);
    return s;
  };
}

/** Writes the fixture as a safetensors file and returns its bytes. */
export async function fixtureBytes(f: LoraFixture): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'lora-fixture-'));
  try {
    const path = join(dir, 'lora.safetensors');
    await writeSafetensors(path, f.tensors, f.metadata);
    return new Uint8Array(await readFile(path));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `bytes` written as `dir/path`, requested at `scale` the way the server hands a local LoRA to the worker. */
export async function localLora(
  dir: string,
  path: string,
  bytes: Uint8Array,
  scale: number,
): Promise<LoraRequest> {
  const file = join(dir, path);
  await writeFile(file, bytes);
  return { path, scale, file, sha256: createHash('sha256').update(bytes).digest('hex') };
}
