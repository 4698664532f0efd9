/**
 * @module arch/vae
 * The FLUX autoencoder (BFL `AutoEncoder`, diffusers `AutoencoderKL`) as two ONNX graphs, from
 * flux.md §7. Standard ONNX operators only (Conv, InstanceNormalization-based GroupNorm, Resize,
 * MatMul, Softmax), so both run on the CPU EP as well as on CUDA; dynamic batch, height and width.
 *
 * ```
 * decoder: latent ─► /0.3611 + 0.1159 ─► conv_in ─► mid(Res, Attn, Res) ─► up.3 … up.0 ─► GN·SiLU ─► conv_out ─► image
 * encoder: image ─► conv_in ─► down.0 … down.3 ─► mid(Res, Attn, Res) ─► GN·SiLU ─► conv_out ─► mean | logvar
 *          latent = (mean − 0.1159)·0.3611
 * ```
 * The I/O is float32 whatever the compute dtype; the scale/shift arithmetic runs in fp32.
 *
 * Memory: the mid-block attention is a plain single-head MatMul/Softmax over all H·W latent tokens
 * (head dim 512 exceeds FlashAttention's 256 limit anyway). At 1024x1024 that is 128·128 = 16384
 * tokens, so the scores and the probabilities are each [B, 16384, 16384] fp32 = 1 GiB per batch
 * item (the attention core always runs in fp32, see `midAttention`); the decoder's full-resolution
 * activations are [B, 128, 1024, 1024] = 512 MiB fp32 / 256 MiB fp16 each. Fine for CPU tests at
 * small sizes; on a GPU, budget a few GiB per image at 1024².
 *
 * fp16: GroupNorm statistics, affine and SiLU and the attention core run in fp32; convolutions and
 * residual adds run in fp16. diffusers marks this VAE `force_upcast` (flux.md §10): validate fp16 on
 * the real weights before using it (overflow would show up as inf/NaN in `image`).
 */
import { Graph } from '../onnx/graph.js';
import { Scope } from '../onnx/scope.js';
import type { WeightSource } from '../weights/checkpoint.js';
import type { BuildContext, ComputeDType } from './build-context.js';
import { conv2d } from './conv.js';
import { groupNorm } from './group-norm.js';
import { int64s, toCompute, toFloat32 } from './primitives.js';
import type { VaeConfig } from './vae-config.js';
import {
  checkVaeWeights,
  type VaePlan,
  type VaeResBlock,
  vaeDecoderPlan,
  vaeEncoderPlan,
} from './vae-layers.js';

/** Graph input and output names; all float32, NCHW. */
export const VAE_IO = {
  /** Decoder input [B, 16, h, w] in the transformer's scaled space; encoder output (the posterior mean, scaled). */
  latent: 'latent',
  /** Decoder output [B, 3, 8h, 8w], raw (~[-1, 1], not clamped); encoder input in [-1, 1]. */
  image: 'image',
  /** Encoder output [B, 16, H/8, W/8]: the posterior log-variance, raw (diffusers clamps it to [-30, 20]). */
  logvar: 'logvar',
} as const;

export interface VaeBuildOptions {
  readonly dtype: ComputeDType;
}

interface VaeContext extends BuildContext {
  readonly c: VaeConfig;
}

function norm(v: VaeContext, s: Scope, x: string, channels: number, silu: boolean): string {
  return groupNorm(v, s, x, channels, { groups: v.c.normNumGroups, eps: v.c.normEps, silu });
}

/** h = conv1(SiLU(GN1(x))); h = conv2(SiLU(GN2(h))); return shortcut(x) + h (flux.md §7.2). */
function resBlock(v: VaeContext, r: VaeResBlock, x: string): string {
  const s = new Scope(r.name.split('.'));
  const conv = (leaf: string, inCh: number, k: number, input: string) =>
    conv2d(v, s.at(leaf), input, { name: `${r.name}.${leaf}`, in: inCh, out: r.out, kernel: k });
  const h1 = conv('conv1', r.in, 3, norm(v, s.at('norm1'), x, r.in, true));
  const h2 = conv('conv2', r.out, 3, norm(v, s.at('norm2'), h1, r.out, true));
  const shortcut = r.in === r.out ? x : conv('nin_shortcut', r.in, 1, x);
  return v.g.node(s.node('Add'), 'Add', [shortcut, h2]);
}

/**
 * Single-head self-attention over the H·W tokens, head dim = channels (flux.md §7.2):
 * ```
 * x ─► GN ─► q, k, v (1x1 convs) ─► [B, C, N] ─► softmax(qᵀk / √C) ─► ·vᵀ ─► [B, C, H, W] ─► proj_out ─► + x
 * ```
 * The core (two MatMuls and the Softmax over [B, N, N]) runs in fp32 in both dtypes: q, k, v are
 * small to cast, and fp32 scores take less memory than fp16 scores plus an fp32 copy for the softmax.
 */
function midAttention(v: VaeContext, name: string, x: string, ch: number): string {
  const { g } = v;
  const s = new Scope(name.split('.'));
  const h = norm(v, s.at('norm'), x, ch, false);
  const proj = (leaf: string, input: string) =>
    conv2d(v, s.at(leaf), input, { name: `${name}.${leaf}`, in: ch, out: ch, kernel: 1 });
  const tokens = (leaf: string) => {
    const y = proj(leaf, h);
    const y32 = v.dtype === 'float32' ? y : g.node(s.node(`Cast_${leaf}_f32`), 'Cast', [y], { to: 1 });
    return g.node(s.node(`Reshape_${leaf}`), 'Reshape', [y32, int64s(v, [0, ch, -1])]); // [B, C, N]
  };
  const q = tokens('q');
  const k = tokens('k');
  const val = tokens('v');
  const qScaled = g.node(s.node('Mul_scale'), 'Mul', [q, g.constant('float32', [], [1 / Math.sqrt(ch)])]);
  const qt = g.node(s.node('Transpose_q'), 'Transpose', [qScaled], { perm: [0, 2, 1] }); // [B, N, C]
  const scores = g.node(s.node('MatMul_qk'), 'MatMul', [qt, k]); // [B, N, N]
  const probs = g.node(s.node('Softmax'), 'Softmax', [scores], { axis: -1 });
  const vt = g.node(s.node('Transpose_v'), 'Transpose', [val], { perm: [0, 2, 1] }); // [B, N, C]
  const out = g.node(s.node('MatMul_pv'), 'MatMul', [probs, vt]); // [B, N, C]
  const cn = g.node(s.node('Transpose_out'), 'Transpose', [out], { perm: [0, 2, 1] }); // [B, C, N]
  const spatial = g.node(s.node('Reshape_out'), 'Reshape', [cn, g.node(s.node('Shape'), 'Shape', [x])]);
  const back = v.dtype === 'float32' ? spatial : g.node(s.node('Cast_back'), 'Cast', [spatial], { to: 10 });
  return g.node(s.node('Add'), 'Add', [x, proj('proj_out', back)]);
}

function midBlock(v: VaeContext, p: VaePlan, x: string): string {
  let h = resBlock(v, p.mid.block1, x);
  if (p.mid.attn !== null) h = midAttention(v, p.mid.attn, h, p.mid.channels);
  return resBlock(v, p.mid.block2, h);
}

function scopeOf(name: string): Scope {
  return new Scope(name.split('.'));
}

/** GN ─► SiLU ─► conv_out, then back to float32. */
function head(v: VaeContext, p: VaePlan, x: string): string {
  const h = norm(v, scopeOf(p.normOut.name), x, p.normOut.channels, true);
  return toFloat32(v, scopeOf(p.convOut.name), conv2d(v, scopeOf(p.convOut.name), h, p.convOut));
}

function context(c: VaeConfig, weights: WeightSource, options: VaeBuildOptions, name: string): VaeContext {
  return { g: new Graph(name), weights, dtype: options.dtype, ops: 'plain', c };
}

/** I/O dims: dynamic batch and spatial sizes. */
export function vaeDecoderIo(c: VaeConfig) {
  return {
    latent: ['batch', c.latentChannels, 'latent_height', 'latent_width'],
    image: ['batch', c.outChannels, 'image_height', 'image_width'],
  } as const;
}

export function vaeEncoderIo(c: VaeConfig) {
  return {
    image: ['batch', c.inChannels, 'image_height', 'image_width'],
    latent: ['batch', c.latentChannels, 'latent_height', 'latent_width'],
    logvar: ['batch', c.latentChannels, 'latent_height', 'latent_width'],
  } as const;
}

/**
 * `latent` float32 [B, 16, h, w] (transformer space) ─► `image` float32 [B, 3, 8h, 8w], raw (~[-1, 1]).
 * @example await writeModel(buildVaeDecoder(parseVaeConfig(json), vaeWeightsAsBfl(c, ae), { dtype: 'float32' }), 'vae_decoder.onnx');
 * @throws FluxServeError FLUX_ERR_WEIGHTS if the checkpoint lacks a decoder tensor or has a wrong shape
 */
export function buildVaeDecoder(c: VaeConfig, weights: WeightSource, options: VaeBuildOptions): Graph {
  checkVaeWeights(c, weights, 'decoder');
  const v = context(c, weights, options, 'vae_decoder');
  const { g } = v;
  const p = vaeDecoderPlan(c);
  const io = vaeDecoderIo(c);
  const latent = g.input(VAE_IO.latent, 'float32', io.latent);
  // z = z_model / scale + shift, in fp32 (flux.md §7.4).
  const unscaled = g.node('/decoder/unscale/Div', 'Div', [
    latent,
    g.constant('float32', [], [c.scalingFactor]),
  ]);
  const z = g.node('/decoder/unscale/Add', 'Add', [unscaled, g.constant('float32', [], [c.shiftFactor])]);
  let x = conv2d(v, scopeOf(p.convIn.name), toCompute(v, new Scope(['decoder', 'z']), z), p.convIn);
  x = midBlock(v, p, x);
  for (const level of p.levels) {
    for (const r of level.blocks) x = resBlock(v, r, x);
    if (level.resample) {
      // Nearest ×2 (asymmetric + floor picks source pixel ⌊y/2⌋, ⌊x/2⌋ exactly), then a 3x3 conv.
      const s = new Scope(level.resample.name.split('.').slice(0, -1)); // decoder.up.{l}.upsample
      const up = g.node(s.node('Resize'), 'Resize', [x, '', g.constant('float32', [4], [1, 1, 2, 2])], {
        mode: 'nearest',
        coordinate_transformation_mode: 'asymmetric',
        nearest_mode: 'floor',
      });
      x = conv2d(v, scopeOf(level.resample.name), up, level.resample);
    }
  }
  g.output(head(v, p, x), VAE_IO.image, 'float32', io.image);
  return g;
}

/**
 * `image` float32 [B, 3, H, W] in [-1, 1] (H, W multiples of 8) ─► `latent` = (mean − shift)·scale and
 * raw `logvar`, both float32 [B, 16, H/8, W/8]. BFL's encode is `latent`; diffusers' sample is
 * ((mean + exp(0.5·clamp(logvar, −30, 20))·ε) − shift)·scale = latent + scale·std·ε.
 * @throws FluxServeError FLUX_ERR_WEIGHTS if the checkpoint lacks an encoder tensor or has a wrong shape
 */
export function buildVaeEncoder(c: VaeConfig, weights: WeightSource, options: VaeBuildOptions): Graph {
  checkVaeWeights(c, weights, 'encoder');
  const v = context(c, weights, options, 'vae_encoder');
  const { g } = v;
  const p = vaeEncoderPlan(c);
  const io = vaeEncoderIo(c);
  const image = g.input(VAE_IO.image, 'float32', io.image);
  let x = conv2d(v, scopeOf(p.convIn.name), toCompute(v, new Scope(['encoder', 'image']), image), p.convIn);
  for (const level of p.levels) {
    for (const r of level.blocks) x = resBlock(v, r, x);
    // Pad right and bottom by one, then a stride-2 valid conv: Conv's own pads [top, left, bottom, right].
    if (level.resample)
      x = conv2d(v, scopeOf(level.resample.name), x, level.resample, { stride: 2, pads: [0, 0, 1, 1] });
  }
  x = midBlock(v, p, x);
  const moments = head(v, p, x); // [B, 2·latent, h, w] float32
  const [mean, logvar] = g.nodeN(
    '/encoder/moments/Split',
    'Split',
    [moments, int64s(v, [c.latentChannels, c.latentChannels])],
    { axis: 1 },
    { outputs: 2 },
  ) as [string, string];
  const shifted = g.node('/encoder/scale/Sub', 'Sub', [mean, g.constant('float32', [], [c.shiftFactor])]);
  const latent = g.node('/encoder/scale/Mul', 'Mul', [shifted, g.constant('float32', [], [c.scalingFactor])]);
  g.output(latent, VAE_IO.latent, 'float32', io.latent);
  g.output(logvar, VAE_IO.logvar, 'float32', io.logvar);
  return g;
}
