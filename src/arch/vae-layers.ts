/**
 * @module arch/vae-layers
 * The single source of truth for the FLUX AE's structure and tensor names (BFL `ae.safetensors`
 * keys, flux.md §7.3-7.5): the graph builder walks the plans, the weight check and the random
 * writer use the tensor table, and the diffusers layout is a name view onto it.
 *
 * ```
 * encoder: conv_in ─► down.0 … down.{n-1} (ResBlocks, Downsample but the last) ─► mid ─► norm_out ─► conv_out
 * decoder: conv_in ─► mid ─► up.{n-1} … up.0 (ResBlocks, Upsample but up.0) ─► norm_out ─► conv_out
 * mid = block_1 ─► attn_1 ─► block_2
 * ```
 */
import type { TensorInfo, WeightSource } from '../weights/weight-source.js';
import { missingTensor } from '../weights/weight-source.js';
import { checkWeights } from './check-weights.js';
import type { Conv2dLayer } from './conv.js';
import type { ParamTensor } from './param-tensor.js';
import type { VaeConfig } from './vae-config.js';

/** norm1 ─► conv1 ─► norm2 ─► conv2 (+ nin_shortcut 1x1 when in ≠ out), named by BFL module path. */
export interface VaeResBlock {
  readonly name: string;
  readonly in: number;
  readonly out: number;
}

export interface VaeLevel {
  /** The BFL level index (`down.{index}` / `up.{index}`). */
  readonly index: number;
  readonly blocks: readonly VaeResBlock[];
  /** The downsample / upsample conv after the blocks, if any. */
  readonly resample: Conv2dLayer | null;
}

export interface VaeMid {
  readonly channels: number;
  readonly block1: VaeResBlock;
  /** `<part>.mid.attn_1`, or null when mid_block_add_attention is false. */
  readonly attn: string | null;
  readonly block2: VaeResBlock;
}

/** One half of the AE in processing order. */
export interface VaePlan {
  readonly part: 'encoder' | 'decoder';
  readonly convIn: Conv2dLayer;
  /** Encoder: before the mid block; decoder: after it. */
  readonly levels: readonly VaeLevel[];
  readonly mid: VaeMid;
  readonly normOut: { readonly name: string; readonly channels: number };
  readonly convOut: Conv2dLayer;
}

function mid(c: VaeConfig, part: string, ch: number): VaeMid {
  return {
    channels: ch,
    block1: { name: `${part}.mid.block_1`, in: ch, out: ch },
    attn: c.midBlockAddAttention ? `${part}.mid.attn_1` : null,
    block2: { name: `${part}.mid.block_2`, in: ch, out: ch },
  };
}

function conv(name: string, inCh: number, out: number, kernel: number): Conv2dLayer {
  return { name, in: inCh, out, kernel };
}

/** BFL Encoder: image [B, in, H, W] ─► [B, 2·latent, H/8, W/8] (mean | logvar). */
export function vaeEncoderPlan(c: VaeConfig): VaePlan {
  const chs = c.blockOutChannels;
  const n = chs.length;
  const first = chs[0] as number;
  const last = chs[n - 1] as number;
  const levels: VaeLevel[] = [];
  let ch = first;
  for (let l = 0; l < n; l++) {
    const out = chs[l] as number;
    const blocks: VaeResBlock[] = [];
    for (let j = 0; j < c.layersPerBlock; j++) {
      blocks.push({ name: `encoder.down.${l}.block.${j}`, in: ch, out });
      ch = out;
    }
    const resample = l < n - 1 ? conv(`encoder.down.${l}.downsample.conv`, ch, ch, 3) : null;
    levels.push({ index: l, blocks, resample });
  }
  return {
    part: 'encoder',
    convIn: conv('encoder.conv_in', c.inChannels, first, 3),
    levels,
    mid: mid(c, 'encoder', last),
    normOut: { name: 'encoder.norm_out', channels: last },
    convOut: conv('encoder.conv_out', last, 2 * c.latentChannels, 3),
  };
}

/** BFL Decoder: z [B, latent, h, w] ─► image [B, out, 8h, 8w]; levels in processing order up.{n-1} … up.0. */
export function vaeDecoderPlan(c: VaeConfig): VaePlan {
  const chs = c.blockOutChannels;
  const n = chs.length;
  const last = chs[n - 1] as number;
  const levels: VaeLevel[] = [];
  let ch = last;
  for (let l = n - 1; l >= 0; l--) {
    const out = chs[l] as number;
    const blocks: VaeResBlock[] = [];
    for (let j = 0; j < c.layersPerBlock + 1; j++) {
      blocks.push({ name: `decoder.up.${l}.block.${j}`, in: ch, out });
      ch = out;
    }
    const resample = l > 0 ? conv(`decoder.up.${l}.upsample.conv`, ch, ch, 3) : null;
    levels.push({ index: l, blocks, resample });
  }
  return {
    part: 'decoder',
    convIn: conv('decoder.conv_in', c.latentChannels, last, 3),
    levels,
    mid: mid(c, 'decoder', last),
    normOut: { name: 'decoder.norm_out', channels: chs[0] as number },
    convOut: conv('decoder.conv_out', chs[0] as number, c.outChannels, 3),
  };
}

function convTensors(l: Conv2dLayer): ParamTensor[] {
  return [
    { name: `${l.name}.weight`, shape: [l.out, l.in, l.kernel, l.kernel] },
    { name: `${l.name}.bias`, shape: [l.out] },
  ];
}

function normTensors(name: string, ch: number): ParamTensor[] {
  return [
    { name: `${name}.weight`, shape: [ch] },
    { name: `${name}.bias`, shape: [ch] },
  ];
}

function resBlockTensors(r: VaeResBlock): ParamTensor[] {
  return [
    ...normTensors(`${r.name}.norm1`, r.in),
    ...convTensors(conv(`${r.name}.conv1`, r.in, r.out, 3)),
    ...normTensors(`${r.name}.norm2`, r.out),
    ...convTensors(conv(`${r.name}.conv2`, r.out, r.out, 3)),
    ...(r.in !== r.out ? convTensors(conv(`${r.name}.nin_shortcut`, r.in, r.out, 1)) : []),
  ];
}

/** The attention's q, k, v and proj_out, stored as 1x1 convs [ch, ch, 1, 1] in BFL files. */
export const VAE_ATTN_PROJECTIONS = ['q', 'k', 'v', 'proj_out'] as const;

function midTensors(m: VaeMid): ParamTensor[] {
  const out = [...resBlockTensors(m.block1)];
  if (m.attn !== null) {
    out.push(...normTensors(`${m.attn}.norm`, m.channels));
    for (const proj of VAE_ATTN_PROJECTIONS)
      out.push(...convTensors(conv(`${m.attn}.${proj}`, m.channels, m.channels, 1)));
  }
  return [...out, ...resBlockTensors(m.block2)];
}

function levelTensors(levels: readonly VaeLevel[]): ParamTensor[] {
  return levels.flatMap((l) => [
    ...l.blocks.flatMap(resBlockTensors),
    ...(l.resample ? convTensors(l.resample) : []),
  ]);
}

/** A plan's tensors in processing order. */
function planTensors(p: VaePlan): ParamTensor[] {
  const body =
    p.part === 'encoder'
      ? [...levelTensors(p.levels), ...midTensors(p.mid)]
      : [...midTensors(p.mid), ...levelTensors(p.levels)];
  return [
    ...convTensors(p.convIn),
    ...body,
    ...normTensors(p.normOut.name, p.normOut.channels),
    ...convTensors(p.convOut),
  ];
}

export function vaeEncoderTensors(c: VaeConfig): ParamTensor[] {
  return planTensors(vaeEncoderPlan(c));
}

export function vaeDecoderTensors(c: VaeConfig): ParamTensor[] {
  return planTensors(vaeDecoderPlan(c));
}

/** Every tensor of a BFL `ae.safetensors`: 244 for the FLUX AE (encoder 34,274,208 + decoder 49,545,475 params). */
export function vaeTensors(c: VaeConfig): ParamTensor[] {
  return [...vaeEncoderTensors(c), ...vaeDecoderTensors(c)];
}

// ---------------------------------------------------------------------------------------------
// diffusers AutoencoderKL names (flux.md §7.5)
// ---------------------------------------------------------------------------------------------

const RESNET_LEAF: Record<string, string> = { nin_shortcut: 'conv_shortcut' };
const ATTN_LEAF: Record<string, string> = {
  norm: 'group_norm',
  q: 'to_q',
  k: 'to_k',
  v: 'to_v',
  proj_out: 'to_out.0',
};

/** The diffusers key of a BFL AE key (`decoder.up.3.block.0.norm1.weight` → `decoder.up_blocks.0.resnets.0.norm1.weight`). */
export function vaeDiffusersName(c: VaeConfig, bfl: string): string {
  const n = c.blockOutChannels.length;
  const resnet = (prefix: string, rest: string) => {
    const [module, ...leaf] = rest.split('.');
    return `${prefix}.${RESNET_LEAF[module as string] ?? module}.${leaf.join('.')}`;
  };
  let m = /^encoder\.down\.(\d+)\.block\.(\d+)\.(.+)$/.exec(bfl);
  if (m) return resnet(`encoder.down_blocks.${m[1]}.resnets.${m[2]}`, m[3] as string);
  m = /^encoder\.down\.(\d+)\.downsample\.conv\.(.+)$/.exec(bfl);
  if (m) return `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
  m = /^decoder\.up\.(\d+)\.block\.(\d+)\.(.+)$/.exec(bfl);
  if (m) return resnet(`decoder.up_blocks.${n - 1 - Number(m[1])}.resnets.${m[2]}`, m[3] as string);
  m = /^decoder\.up\.(\d+)\.upsample\.conv\.(.+)$/.exec(bfl);
  if (m) return `decoder.up_blocks.${n - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}`;
  m = /^(encoder|decoder)\.mid\.block_([12])\.(.+)$/.exec(bfl);
  if (m) return resnet(`${m[1]}.mid_block.resnets.${Number(m[2]) - 1}`, m[3] as string);
  m = /^(encoder|decoder)\.mid\.attn_1\.(\w+)\.(weight|bias)$/.exec(bfl);
  if (m && ATTN_LEAF[m[2] as string])
    return `${m[1]}.mid_block.attentions.0.${ATTN_LEAF[m[2] as string]}.${m[3]}`;
  m = /^(encoder|decoder)\.norm_out\.(weight|bias)$/.exec(bfl);
  if (m) return `${m[1]}.conv_norm_out.${m[2]}`;
  if (/^(encoder|decoder)\.conv_(in|out)\.(weight|bias)$/.test(bfl)) return bfl;
  throw new Error(`no diffusers name for VAE tensor ${bfl}`);
}

/** diffusers stores the attention projections as Linear [ch, ch]; BFL as 1x1 convs [ch, ch, 1, 1]. */
function isAttnProjectionWeight(bfl: string): boolean {
  return /\.mid\.attn_1\.(q|k|v|proj_out)\.weight$/.test(bfl);
}

class DiffusersVaeAsBfl implements WeightSource {
  /** BFL name → diffusers name, for the tensors the source has. */
  private readonly map = new Map<string, string>();
  private readonly passthrough: string[];

  constructor(
    private readonly inner: WeightSource,
    c: VaeConfig,
  ) {
    const used = new Set<string>();
    for (const t of vaeTensors(c)) {
      const d = vaeDiffusersName(c, t.name);
      if (inner.has(d)) {
        this.map.set(t.name, d);
        used.add(d);
      }
    }
    // Unmapped source tensors stay visible so the weight check reports them as unexpected.
    this.passthrough = inner.names().filter((n) => !used.has(n));
  }

  names(): string[] {
    return [...this.map.keys(), ...this.passthrough].sort();
  }

  has(name: string): boolean {
    return this.map.has(name) || this.passthrough.includes(name);
  }

  private source(name: string): string {
    const d = this.map.get(name);
    if (d !== undefined) return d;
    if (this.passthrough.includes(name)) return name;
    throw missingTensor(name);
  }

  info(name: string): TensorInfo {
    const info = this.inner.info(this.source(name));
    // A squeeze/unsqueeze of trailing 1x1 dims: the bytes are the same.
    if (this.map.has(name) && isAttnProjectionWeight(name) && info.shape.length === 2) {
      return { dtype: info.dtype, shape: [...info.shape, 1, 1] };
    }
    return info;
  }

  readF32(name: string): Promise<Float32Array> {
    return this.inner.readF32(this.source(name));
  }

  readF16(name: string): Promise<Uint16Array> {
    return this.inner.readF16(this.source(name));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Presents a FLUX AE checkpoint in BFL (`ae.safetensors`) or diffusers (`vae/diffusion_pytorch_model.safetensors`)
 * layout under BFL names; diffusers is recognised by `decoder.conv_norm_out.weight`.
 * @example const ae = vaeWeightsAsBfl(config, await openCheckpoint(['vae/diffusion_pytorch_model.safetensors']));
 */
export function vaeWeightsAsBfl(c: VaeConfig, source: WeightSource): WeightSource {
  return source.has('decoder.conv_norm_out.weight') || source.has('encoder.conv_norm_out.weight')
    ? new DiffusersVaeAsBfl(source, c)
    : source;
}

/**
 * Checks the tensors one half of the AE needs (names, shapes, float dtypes) before anything is built.
 * A checkpoint may hold the other half too (ae.safetensors has both) but nothing outside the AE.
 * @throws FluxServeError FLUX_ERR_WEIGHTS listing the problems
 */
export function checkVaeWeights(c: VaeConfig, weights: WeightSource, part: 'encoder' | 'decoder'): void {
  const [required, optional] =
    part === 'encoder'
      ? [vaeEncoderTensors(c), vaeDecoderTensors(c)]
      : [vaeDecoderTensors(c), vaeEncoderTensors(c)];
  checkWeights(weights, {
    component: `VAE ${part}`,
    required,
    optional,
    strayHint: 'not a FLUX AE, or wrong config?',
  });
}
