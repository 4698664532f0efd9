/**
 * Independent float64 reference of the FLUX AE encoder and decoder, written only from
 * `shared/specs/flux.md` §7 (7.1-7.5): BFL tensor names, ResBlock, single-head mid attention,
 * right/bottom-padded stride-2 downsample, nearest upsample, scale/shift.
 *
 * Purpose: a slow, obviously-correct oracle for tests on tiny configs (a few dozen channels, images
 * up to ~64x64). Naive loops over Float64Array with bounds-checked access; each batch item is
 * computed on its own. Nothing from `src/` is used except the config type.
 */
import type { VaeConfig } from '../../src/arch/vae-config.js';

export interface RefTensor {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

/** BFL tensor name → tensor; throws for a missing name. */
export type RefWeights = (name: string) => RefTensor;

/** One batch item, channel-major [c, h, w]. */
interface Img {
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly data: Float64Array;
}

function img(c: number, h: number, w: number): Img {
  return { c, h, w, data: new Float64Array(c * h * w) };
}

function idx(x: Img, ch: number, y: number, col: number): number {
  if (ch < 0 || ch >= x.c || y < 0 || y >= x.h || col < 0 || col >= x.w || !Number.isInteger(ch + y + col)) {
    throw new Error(`reference: (${ch},${y},${col}) outside [${x.c},${x.h},${x.w}]`);
  }
  return (ch * x.h + y) * x.w + col;
}

function rd(x: Img, ch: number, y: number, col: number): number {
  return x.data[idx(x, ch, y, col)] as number;
}

function wr(x: Img, ch: number, y: number, col: number, v: number): void {
  x.data[idx(x, ch, y, col)] = v;
}

function val(a: Float64Array, i: number): number {
  const v = a[i];
  if (v === undefined || !Number.isInteger(i))
    throw new Error(`reference: index ${i} outside [0, ${a.length})`);
  return v;
}

function weight(W: RefWeights, name: string, shape: readonly number[]): Float64Array {
  const t = W(name);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`reference: ${name} has shape [${t.shape}], expected [${shape}]`);
  }
  return t.data;
}

/** Conv2d with bias; zero padding [top, left, bottom, right]; weight [out, in, k, k]. */
function conv(
  W: RefWeights,
  name: string,
  x: Img,
  out: number,
  k: number,
  stride = 1,
  pad: readonly [number, number, number, number] = [(k - 1) / 2, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2],
): Img {
  const w = weight(W, `${name}.weight`, [out, x.c, k, k]);
  const b = weight(W, `${name}.bias`, [out]);
  const [top, left, bottom, right] = pad;
  const ho = Math.floor((x.h + top + bottom - k) / stride) + 1;
  const wo = Math.floor((x.w + left + right - k) / stride) + 1;
  const y = img(out, ho, wo);
  for (let o = 0; o < out; o++) {
    for (let r = 0; r < ho; r++) {
      for (let cc = 0; cc < wo; cc++) {
        let acc = val(b, o);
        for (let i = 0; i < x.c; i++) {
          for (let ky = 0; ky < k; ky++) {
            const sy = r * stride + ky - top;
            if (sy < 0 || sy >= x.h) continue;
            for (let kx = 0; kx < k; kx++) {
              const sx = cc * stride + kx - left;
              if (sx < 0 || sx >= x.w) continue;
              acc += val(w, ((o * x.c + i) * k + ky) * k + kx) * rd(x, i, sy, sx);
            }
          }
        }
        wr(y, o, r, cc, acc);
      }
    }
  }
  return y;
}

/** GroupNorm(groups, eps 1e-6, affine): biased variance over each group's channels × H × W. */
function groupNorm(W: RefWeights, name: string, x: Img, groups: number): Img {
  const gamma = weight(W, `${name}.weight`, [x.c]);
  const beta = weight(W, `${name}.bias`, [x.c]);
  const per = x.c / groups;
  if (!Number.isInteger(per)) throw new Error(`reference: ${x.c} channels in ${groups} groups`);
  const y = img(x.c, x.h, x.w);
  for (let g = 0; g < groups; g++) {
    let sum = 0;
    let n = 0;
    for (let ch = g * per; ch < (g + 1) * per; ch++)
      for (let r = 0; r < x.h; r++)
        for (let cc = 0; cc < x.w; cc++) {
          sum += rd(x, ch, r, cc);
          n++;
        }
    const mean = sum / n;
    let sq = 0;
    for (let ch = g * per; ch < (g + 1) * per; ch++)
      for (let r = 0; r < x.h; r++) for (let cc = 0; cc < x.w; cc++) sq += (rd(x, ch, r, cc) - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / n + 1e-6);
    for (let ch = g * per; ch < (g + 1) * per; ch++)
      for (let r = 0; r < x.h; r++)
        for (let cc = 0; cc < x.w; cc++)
          wr(y, ch, r, cc, (rd(x, ch, r, cc) - mean) * inv * val(gamma, ch) + val(beta, ch));
  }
  return y;
}

function swish(x: Img): Img {
  const y = img(x.c, x.h, x.w);
  for (let i = 0; i < x.data.length; i++) {
    const v = val(x.data, i);
    y.data[i] = v / (1 + Math.exp(-v));
  }
  return y;
}

function add(a: Img, b: Img): Img {
  if (a.c !== b.c || a.h !== b.h || a.w !== b.w) throw new Error('reference: add shape mismatch');
  const y = img(a.c, a.h, a.w);
  for (let i = 0; i < a.data.length; i++) y.data[i] = val(a.data, i) + val(b.data, i);
  return y;
}

function resBlock(W: RefWeights, name: string, x: Img, out: number, groups: number): Img {
  let h = conv(W, `${name}.conv1`, swish(groupNorm(W, `${name}.norm1`, x, groups)), out, 3);
  h = conv(W, `${name}.conv2`, swish(groupNorm(W, `${name}.norm2`, h, groups)), out, 3);
  const shortcut = x.c !== out ? conv(W, `${name}.nin_shortcut`, x, out, 1) : x;
  return add(shortcut, h);
}

function attention(W: RefWeights, name: string, x: Img, groups: number): Img {
  const C = x.c;
  const n = x.h * x.w;
  const h = groupNorm(W, `${name}.norm`, x, groups);
  const q = conv(W, `${name}.q`, h, C, 1);
  const k = conv(W, `${name}.k`, h, C, 1);
  const v = conv(W, `${name}.v`, h, C, 1);
  const o = img(C, x.h, x.w);
  const scale = 1 / Math.sqrt(C);
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const [iy, ix] = [Math.floor(i / x.w), i % x.w];
    let max = -Infinity;
    for (let j = 0; j < n; j++) {
      const [jy, jx] = [Math.floor(j / x.w), j % x.w];
      let s = 0;
      for (let c = 0; c < C; c++) s += rd(q, c, iy, ix) * rd(k, c, jy, jx);
      scores[j] = s * scale;
      max = Math.max(max, s * scale);
    }
    let z = 0;
    for (let j = 0; j < n; j++) {
      scores[j] = Math.exp(val(scores, j) - max);
      z += val(scores, j);
    }
    for (let c = 0; c < C; c++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += (val(scores, j) / z) * rd(v, c, Math.floor(j / x.w), j % x.w);
      wr(o, c, iy, ix, acc);
    }
  }
  return add(x, conv(W, `${name}.proj_out`, o, C, 1));
}

function mid(W: RefWeights, part: string, x: Img, c: VaeConfig): Img {
  const g = c.normNumGroups;
  let h = resBlock(W, `${part}.mid.block_1`, x, x.c, g);
  if (c.midBlockAddAttention) h = attention(W, `${part}.mid.attn_1`, h, g);
  return resBlock(W, `${part}.mid.block_2`, h, x.c, g);
}

function upsampleNearest(x: Img): Img {
  const y = img(x.c, 2 * x.h, 2 * x.w);
  for (let ch = 0; ch < x.c; ch++)
    for (let r = 0; r < y.h; r++)
      for (let cc = 0; cc < y.w; cc++) wr(y, ch, r, cc, rd(x, ch, Math.floor(r / 2), Math.floor(cc / 2)));
  return y;
}

/** Explicit F.pad(0, 1, 0, 1): one zero column on the right, one zero row at the bottom. */
function padRightBottom(x: Img): Img {
  const y = img(x.c, x.h + 1, x.w + 1);
  for (let ch = 0; ch < x.c; ch++)
    for (let r = 0; r < x.h; r++) for (let cc = 0; cc < x.w; cc++) wr(y, ch, r, cc, rd(x, ch, r, cc));
  return y;
}

function item(flat: Float64Array, b: number, c: number, h: number, w: number): Img {
  const x = img(c, h, w);
  for (let i = 0; i < c * h * w; i++) x.data[i] = val(flat, b * c * h * w + i);
  return x;
}

/** Decoder (flux.md §7.4): z [B, latent, h, w] in transformer space → image [B, out, 8h, 8w]. */
export function vaeDecodeReference(
  c: VaeConfig,
  W: RefWeights,
  zModel: Float64Array,
  batch: number,
  h: number,
  w: number,
): Float64Array {
  const chs = c.blockOutChannels;
  const n = chs.length;
  const g = c.normNumGroups;
  const f = 2 ** (n - 1);
  const out = new Float64Array(batch * c.outChannels * h * f * w * f);
  if (zModel.length !== batch * c.latentChannels * h * w) throw new Error('reference: latent size');
  for (let b = 0; b < batch; b++) {
    const z = item(zModel, b, c.latentChannels, h, w);
    for (let i = 0; i < z.data.length; i++) z.data[i] = val(z.data, i) / c.scalingFactor + c.shiftFactor;
    let x = conv(W, 'decoder.conv_in', z, chs[n - 1] as number, 3);
    x = mid(W, 'decoder', x, c);
    for (let l = n - 1; l >= 0; l--) {
      for (let j = 0; j < c.layersPerBlock + 1; j++)
        x = resBlock(W, `decoder.up.${l}.block.${j}`, x, chs[l] as number, g);
      if (l !== 0) x = conv(W, `decoder.up.${l}.upsample.conv`, upsampleNearest(x), x.c, 3);
    }
    x = conv(W, 'decoder.conv_out', swish(groupNorm(W, 'decoder.norm_out', x, g)), c.outChannels, 3);
    out.set(x.data, b * x.data.length);
  }
  return out;
}

export interface RefEncoded {
  /** (mean − shift)·scale, [B, latent, H/8, W/8]. */
  readonly latent: Float64Array;
  readonly mean: Float64Array;
  readonly logvar: Float64Array;
}

/** Encoder (flux.md §7.3): image [B, in, H, W] in [-1, 1] → posterior mean/logvar and the scaled latent. */
export function vaeEncodeReference(
  c: VaeConfig,
  W: RefWeights,
  image: Float64Array,
  batch: number,
  H: number,
  Wd: number,
): RefEncoded {
  const chs = c.blockOutChannels;
  const n = chs.length;
  const g = c.normNumGroups;
  const zc = c.latentChannels;
  const f = 2 ** (n - 1);
  const per = zc * (H / f) * (Wd / f);
  const mean = new Float64Array(batch * per);
  const logvar = new Float64Array(batch * per);
  for (let b = 0; b < batch; b++) {
    let x = conv(W, 'encoder.conv_in', item(image, b, c.inChannels, H, Wd), chs[0] as number, 3);
    for (let l = 0; l < n; l++) {
      for (let j = 0; j < c.layersPerBlock; j++)
        x = resBlock(W, `encoder.down.${l}.block.${j}`, x, chs[l] as number, g);
      if (l !== n - 1)
        x = conv(W, `encoder.down.${l}.downsample.conv`, padRightBottom(x), x.c, 3, 2, [0, 0, 0, 0]);
    }
    x = mid(W, 'encoder', x, c);
    x = conv(W, 'encoder.conv_out', swish(groupNorm(W, 'encoder.norm_out', x, g)), 2 * zc, 3);
    if (x.data.length !== 2 * per) throw new Error('reference: encoder output size');
    mean.set(x.data.subarray(0, per), b * per);
    logvar.set(x.data.subarray(per), b * per);
  }
  const latent = mean.map((m) => (m - c.shiftFactor) * c.scalingFactor);
  return { latent, mean, logvar };
}
