import { describe, expect, it } from 'vitest';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import {
  applyRope,
  fluxReference,
  type RefInputs,
  type RefLora,
  type RefTensor,
  ropeAngles,
  scaledDotProductAttention,
  timestepEmbedding,
} from './flux-reference.js';

const CONFIG: FluxConfig = {
  inChannels: 8,
  numLayers: 1,
  numSingleLayers: 1,
  headDim: 8,
  numHeads: 2,
  jointAttentionDim: 12,
  pooledProjectionDim: 6,
  guidanceEmbeds: true,
  axesDimsRope: [2, 2, 4],
  hiddenSize: 16,
  mlpHidden: 64,
  ropeTheta: 10000,
  timestepEmbeddingDim: 256,
};

const TWO_BLOCKS: FluxConfig = { ...CONFIG, numLayers: 2, numSingleLayers: 2 };
const SCHNELL_LIKE: FluxConfig = { ...CONFIG, guidanceEmbeds: false };

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform in [-scale, scale]. */
function randomArray(rand: () => number, n: number, scale: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rand() - 1) * scale;
  return out;
}

/** Linear modules [name, out, in], from flux.md §3.8 / lora.md §1.1. */
function linearModules(c: FluxConfig): [string, number, number][] {
  const H = c.hiddenSize;
  const mods: [string, number, number][] = [
    ['img_in', H, c.inChannels],
    ['txt_in', H, c.jointAttentionDim],
    ['time_in.in_layer', H, c.timestepEmbeddingDim],
    ['time_in.out_layer', H, H],
    ['vector_in.in_layer', H, c.pooledProjectionDim],
    ['vector_in.out_layer', H, H],
  ];
  if (c.guidanceEmbeds) {
    mods.push(['guidance_in.in_layer', H, c.timestepEmbeddingDim], ['guidance_in.out_layer', H, H]);
  }
  for (let i = 0; i < c.numLayers; i++) {
    for (const s of ['img', 'txt']) {
      const p = `double_blocks.${i}.${s}`;
      mods.push(
        [`${p}_mod.lin`, 6 * H, H],
        [`${p}_attn.qkv`, 3 * H, H],
        [`${p}_attn.proj`, H, H],
        [`${p}_mlp.0`, c.mlpHidden, H],
        [`${p}_mlp.2`, H, c.mlpHidden],
      );
    }
  }
  for (let j = 0; j < c.numSingleLayers; j++) {
    const p = `single_blocks.${j}`;
    mods.push(
      [`${p}.modulation.lin`, 3 * H, H],
      [`${p}.linear1`, 3 * H + c.mlpHidden, H],
      [`${p}.linear2`, H, H + c.mlpHidden],
    );
  }
  mods.push(['final_layer.adaLN_modulation.1', 2 * H, H], ['final_layer.linear', c.inChannels, H]);
  return mods;
}

function normScaleNames(c: FluxConfig): string[] {
  const names: string[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    for (const s of ['img', 'txt']) {
      names.push(`double_blocks.${i}.${s}_attn.norm.query_norm.scale`);
      names.push(`double_blocks.${i}.${s}_attn.norm.key_norm.scale`);
    }
  }
  for (let j = 0; j < c.numSingleLayers; j++) {
    names.push(`single_blocks.${j}.norm.query_norm.scale`, `single_blocks.${j}.norm.key_norm.scale`);
  }
  return names;
}

type Weights = Map<string, RefTensor>;

function randomWeights(c: FluxConfig, seed: number): Weights {
  const rand = mulberry32(seed);
  const w: Weights = new Map();
  for (const [name, out, inp] of linearModules(c)) {
    const s = Math.min(0.3, 1.2 / Math.sqrt(inp));
    w.set(`${name}.weight`, { shape: [out, inp], data: randomArray(rand, out * inp, s) });
    w.set(`${name}.bias`, { shape: [out], data: randomArray(rand, out, 0.1) });
  }
  for (const name of normScaleNames(c)) {
    const d = randomArray(rand, c.headDim, 0.3);
    for (let i = 0; i < d.length; i++) d[i] = (d[i] as number) + 1;
    w.set(name, { shape: [c.headDim], data: d });
  }
  return w;
}

function getter(w: Weights, accessed?: Set<string>): (name: string) => RefTensor {
  return (name) => {
    const t = w.get(name);
    if (t === undefined) throw new Error(`missing weight ${name}`);
    accessed?.add(name);
    return t;
  };
}

function imgIdsGrid(batch: number, rows: number, cols: number): Float64Array {
  const ids = new Float64Array(batch * rows * cols * 3);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const p = (b * rows * cols + r * cols + c) * 3;
        ids[p + 1] = r;
        ids[p + 2] = c;
      }
    }
  }
  return ids;
}

function randomInputs(c: FluxConfig, batch: number, seed: number): RefInputs {
  const rand = mulberry32(seed);
  const rows = 2;
  const cols = 3;
  const L = rows * cols;
  const T = 3;
  return {
    batch,
    imgTokens: L,
    txtTokens: T,
    img: randomArray(rand, batch * L * c.inChannels, 1),
    imgIds: imgIdsGrid(batch, rows, cols),
    txt: randomArray(rand, batch * T * c.jointAttentionDim, 1),
    txtIds: new Float64Array(batch * T * 3),
    timesteps: Float64Array.from({ length: batch }, () => 0.2 + 0.6 * rand()),
    y: randomArray(rand, batch * c.pooledProjectionDim, 1),
    ...(c.guidanceEmbeds ? { guidance: Float64Array.from({ length: batch }, () => 1 + 4 * rand()) } : {}),
  };
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

/** max |a - b| / max |b| */
function relErr(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m / Math.max(maxAbs(b), 1e-300);
}

describe('fluxReference', () => {
  it('(a) returns [B, L, inChannels], finite and input-dependent', () => {
    const w = randomWeights(CONFIG, 1);
    const inputs = randomInputs(CONFIG, 2, 2);
    const out = fluxReference(CONFIG, getter(w), inputs);
    expect(out.length).toBe(2 * inputs.imgTokens * CONFIG.inChannels);
    expect(out.every(Number.isFinite)).toBe(true);
    expect(maxAbs(out)).toBeGreaterThan(1e-2);
    // Batch items differ, so the output differs per item.
    const half = out.length / 2;
    expect(relErr(out.subarray(0, half), out.subarray(half))).toBeGreaterThan(1e-3);
  });

  it('reads every tensor of the §3.8 table and each one changes the output', () => {
    const w = randomWeights(CONFIG, 3);
    const inputs = randomInputs(CONFIG, 1, 4);
    const accessed = new Set<string>();
    const base = fluxReference(CONFIG, getter(w, accessed), inputs);
    expect([...accessed].sort()).toEqual([...w.keys()].sort());
    const rand = mulberry32(99);
    for (const [name, t] of w) {
      const data = Float64Array.from(t.data);
      for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) + 0.1 * (2 * rand() - 1);
      const w2 = new Map(w);
      w2.set(name, { shape: t.shape, data });
      const out = fluxReference(CONFIG, getter(w2), inputs);
      expect(relErr(out, base), name).toBeGreaterThan(1e-7);
    }
  });

  it('runs a schnell-like config without guidance weights (guidance input ignored)', () => {
    const w = randomWeights(SCHNELL_LIKE, 5);
    const inputs = randomInputs(SCHNELL_LIKE, 1, 6);
    const out = fluxReference(SCHNELL_LIKE, getter(w), inputs);
    const withG = fluxReference(SCHNELL_LIKE, getter(w), { ...inputs, guidance: new Float64Array([3.5]) });
    expect(out.every(Number.isFinite)).toBe(true);
    expect(relErr(withG, out)).toBe(0);
    // The dev-like config demands guidance.
    const wDev = randomWeights(CONFIG, 5);
    expect(() => fluxReference(CONFIG, getter(wDev), { ...inputs })).toThrow(/guidance/);
  });

  it('(b) zero modulation + zero final weight gives final_layer.linear.bias broadcast', () => {
    const c = TWO_BLOCKS;
    const w = randomWeights(c, 7);
    const zero = (name: string) => {
      const t = w.get(name);
      if (t === undefined) throw new Error(name);
      w.set(name, { shape: t.shape, data: new Float64Array(t.data.length) });
    };
    for (const [name] of linearModules(c)) {
      if (
        name.endsWith('_mod.lin') ||
        name.endsWith('modulation.lin') ||
        name === 'final_layer.adaLN_modulation.1'
      ) {
        zero(`${name}.weight`);
        zero(`${name}.bias`);
      }
    }
    zero('final_layer.linear.weight');
    const inputs = randomInputs(c, 2, 8);
    const out = fluxReference(c, getter(w), inputs);
    const bias = w.get('final_layer.linear.bias')?.data as Float64Array;
    expect(maxAbs(bias)).toBeGreaterThan(0);
    for (let i = 0; i < out.length; i++) expect(out[i]).toBe(bias[i % c.inChannels]);
  });

  it('final layer uses BFL order [shift; scale]: scale = -1 leaves W_out shift + b_out', () => {
    const c = CONFIG;
    const H = c.hiddenSize;
    const w = randomWeights(c, 23);
    const rand = mulberry32(24);
    const shift = randomArray(rand, H, 1);
    const bias = new Float64Array(2 * H);
    bias.set(shift, 0);
    bias.fill(-1, H); // 1 + scale = 0 kills LN(img)
    w.set('final_layer.adaLN_modulation.1.weight', { shape: [2 * H, H], data: new Float64Array(2 * H * H) });
    w.set('final_layer.adaLN_modulation.1.bias', { shape: [2 * H], data: bias });
    const wOut = w.get('final_layer.linear.weight')?.data as Float64Array;
    const bOut = w.get('final_layer.linear.bias')?.data as Float64Array;
    const expected = new Float64Array(c.inChannels);
    for (let o = 0; o < c.inChannels; o++) {
      let acc = bOut[o] as number;
      for (let k = 0; k < H; k++) acc += (wOut[o * H + k] as number) * (shift[k] as number);
      expected[o] = acc;
    }
    const out = fluxReference(c, getter(w), randomInputs(c, 2, 25));
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(expected[i % c.inChannels] as number, 12);
  });

  it('(c) timestepEmbedding: cos half first, f_i = exp(-ln(1e4) i / half)', () => {
    const t = 250; // 1000 * sigma for sigma 0.25
    const e = timestepEmbedding(t, 4);
    expect(e.length).toBe(4);
    // half = 2: f_0 = 1, f_1 = 1e4^(-1/2) = 0.01
    expect(e[0]).toBeCloseTo(Math.cos(250), 12);
    expect(e[1]).toBeCloseTo(Math.cos(2.5), 12);
    expect(e[2]).toBeCloseTo(Math.sin(250), 12);
    expect(e[3]).toBeCloseTo(Math.sin(2.5), 12);
    const e256 = timestepEmbedding(t, 256);
    expect(e256[127]).toBeCloseTo(Math.cos(t * Math.exp((-Math.log(10000) * 127) / 128)), 12);
    expect(e256[128]).toBeCloseTo(Math.sin(t), 12);
  });

  it('(c) ropeAngles: per-axis frequencies theta^(-2j/d_axis), hand-computed', () => {
    // axes [2, 2, 4] -> 4 pairs: (axis0, j0), (axis1, j0), (axis2, j0), (axis2, j1 -> 1e4^(-2/4) = 0.01)
    const ids = new Float64Array([5, 3, 7, 0, 0, 0]);
    const a = ropeAngles(ids, [2, 2, 4], 10000);
    expect(Array.from(a.subarray(0, 4))).toEqual([5, 3, 7, expect.closeTo(0.07, 14)]);
    expect(Array.from(a.subarray(4))).toEqual([0, 0, 0, 0]);
    // Full-size axes [16, 56, 56]: pair 8 + 27 is the last row pair, omega = 1e4^(-54/56).
    const big = ropeAngles(new Float64Array([1, 2, 3]), [16, 56, 56], 10000);
    expect(big.length).toBe(64);
    expect(big[7]).toBeCloseTo(10000 ** (-14 / 16), 14);
    expect(big[35]).toBeCloseTo(2 * 10000 ** (-54 / 56), 14);
    expect(big[36]).toBe(3);
  });

  it('(c) applyRope: interleaved pair rotation and relative-position property', () => {
    // One pair: (1, 0) rotated by pi/2 -> (0, 1); (x0, x1) = (2, 3) by a: (2c - 3s, 2s + 3c).
    const r = applyRope(new Float64Array([1, 0, 2, 3]), new Float64Array([Math.PI / 2, 0.3]));
    expect(r[0]).toBeCloseTo(0, 14);
    expect(r[1]).toBeCloseTo(1, 14);
    expect(r[2]).toBeCloseTo(2 * Math.cos(0.3) - 3 * Math.sin(0.3), 14);
    expect(r[3]).toBeCloseTo(2 * Math.sin(0.3) + 3 * Math.cos(0.3), 14);
    // q . k after rotation depends only on the position difference.
    const rand = mulberry32(11);
    const q = randomArray(rand, 8, 1);
    const k = randomArray(rand, 8, 1);
    const dot = (p: readonly number[], s: readonly number[]) => {
      const aq = ropeAngles(new Float64Array(p), [2, 2, 4], 10000);
      const ak = ropeAngles(new Float64Array(s), [2, 2, 4], 10000);
      const rq = applyRope(q, aq);
      const rk = applyRope(k, ak);
      return rq.reduce((acc, v, i) => acc + v * (rk[i] as number), 0);
    };
    expect(dot([0, 1, 2], [0, 4, 0])).toBeCloseTo(dot([1, 6, 5], [1, 9, 3]), 12);
    expect(Math.abs(dot([0, 1, 2], [0, 4, 0]) - dot([0, 1, 2], [0, 4, 1]))).toBeGreaterThan(1e-6);
  });

  it('attention: per-head softmax(q k^T / sqrt(d)) v, hand-computed', () => {
    // 2 tokens, 2 heads of dim 2. Head 0: q0 = (2, 0), k = (1, 0), (0, 1) -> scores (2, 0)/sqrt2.
    const q = new Float64Array([2, 0, 0, 0, 0, 0, 0, 0]);
    const k = new Float64Array([1, 0, 5, 5, 0, 1, 5, 5]);
    const v = new Float64Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const out = scaledDotProductAttention(q, k, v, 2, 2, 2);
    const e = Math.exp(2 / Math.SQRT2);
    const p0 = e / (e + 1);
    const p1 = 1 / (e + 1);
    expect(out[0]).toBeCloseTo(p0 * 1 + p1 * 5, 14);
    expect(out[1]).toBeCloseTo(p0 * 2 + p1 * 6, 14);
    // Head 1 (zero queries) and token 1 (zero queries) average the values uniformly.
    expect(Array.from(out.subarray(2))).toEqual([5, 6, 3, 4, 5, 6].map((x) => expect.closeTo(x, 14)));
  });

  it('shifting every id by the same offset leaves the output unchanged (RoPE on q and k alike)', () => {
    const w = randomWeights(CONFIG, 12);
    const inputs = randomInputs(CONFIG, 1, 13);
    const base = fluxReference(CONFIG, getter(w), inputs);
    const shift = (ids: Float64Array) => ids.map((v, i) => v + ([2, 5, -3][i % 3] as number));
    const moved = fluxReference(CONFIG, getter(w), {
      ...inputs,
      imgIds: shift(inputs.imgIds),
      txtIds: shift(inputs.txtIds),
    });
    expect(relErr(moved, base)).toBeLessThan(1e-12);
    // Moving only the image ids does change it.
    const imgOnly = fluxReference(CONFIG, getter(w), { ...inputs, imgIds: shift(inputs.imgIds) });
    expect(relErr(imgOnly, base)).toBeGreaterThan(1e-6);
  });

  it('permuting image tokens with their ids permutes the output rows', () => {
    const c = CONFIG;
    const w = randomWeights(c, 14);
    const inputs = randomInputs(c, 1, 15);
    const L = inputs.imgTokens;
    const perm = [3, 0, 5, 1, 4, 2];
    const p = (r: number) => perm[r] as number;
    const permute = (a: Float64Array, width: number) => {
      const out = new Float64Array(a.length);
      for (let r = 0; r < L; r++) out.set(a.subarray(p(r) * width, (p(r) + 1) * width), r * width);
      return out;
    };
    const base = fluxReference(c, getter(w), inputs);
    const out = fluxReference(c, getter(w), {
      ...inputs,
      img: permute(inputs.img, c.inChannels),
      imgIds: permute(inputs.imgIds, 3),
    });
    expect(relErr(out, permute(base, c.inChannels))).toBeLessThan(1e-12);
  });

  it('(d) LoRA (x A) B equals merging W + (A B)^T into the weights', () => {
    const c = TWO_BLOCKS;
    const w = randomWeights(c, 16);
    const inputs = randomInputs(c, 2, 17);
    const rand = mulberry32(18);
    const rank = 2;
    const lora = new Map<string, { a: Float64Array; b: Float64Array; rank: number }>();
    const merged = new Map(w);
    for (const [name, out, inp] of linearModules(c)) {
      const a = randomArray(rand, inp * rank, 0.2);
      const b = randomArray(rand, rank * out, 0.2);
      lora.set(name, { a, b, rank });
      const wt = w.get(`${name}.weight`) as RefTensor;
      const data = Float64Array.from(wt.data);
      for (let o = 0; o < out; o++) {
        for (let k = 0; k < inp; k++) {
          let d = 0;
          for (let j = 0; j < rank; j++) d += (a[k * rank + j] as number) * (b[j * out + o] as number);
          data[o * inp + k] = (data[o * inp + k] as number) + d;
        }
      }
      merged.set(`${name}.weight`, { shape: wt.shape, data });
    }
    const viaLora = fluxReference(c, getter(w), inputs, lora as RefLora);
    const viaMerge = fluxReference(c, getter(merged), inputs);
    const plain = fluxReference(c, getter(w), inputs);
    expect(relErr(viaLora, viaMerge)).toBeLessThan(1e-12);
    expect(relErr(viaLora, plain)).toBeGreaterThan(1e-3);
  });

  it('rejects a LoRA entry that names no Linear layer', () => {
    const w = randomWeights(CONFIG, 19);
    const inputs = randomInputs(CONFIG, 1, 20);
    const lora: RefLora = new Map([
      ['double_blocks.0.img_attn.qkvv', { a: new Float64Array(16), b: new Float64Array(48), rank: 1 }],
    ]);
    expect(() => fluxReference(CONFIG, getter(w), inputs, lora)).toThrow(/matches no Linear/);
  });

  it('(e) permuting batch items permutes the outputs', () => {
    const c = CONFIG;
    const w = randomWeights(c, 21);
    const B = 3;
    const inputs = randomInputs(c, B, 22);
    // Distinct ids per item too, so per-item RoPE is exercised.
    const imgIds = Float64Array.from(inputs.imgIds, (v, i) => v + Math.floor(i / (inputs.imgTokens * 3)));
    const base = fluxReference(c, getter(w), { ...inputs, imgIds });
    const perm = [2, 0, 1];
    const p = (b: number) => perm[b] as number;
    const permuteBatch = (a: Float64Array) => {
      const per = a.length / B;
      const out = new Float64Array(a.length);
      for (let b = 0; b < B; b++) out.set(a.subarray(p(b) * per, (p(b) + 1) * per), b * per);
      return out;
    };
    const permuted: RefInputs = {
      ...inputs,
      img: permuteBatch(inputs.img),
      imgIds: permuteBatch(imgIds),
      txt: permuteBatch(inputs.txt),
      txtIds: permuteBatch(inputs.txtIds),
      timesteps: permuteBatch(inputs.timesteps),
      y: permuteBatch(inputs.y),
      guidance: permuteBatch(inputs.guidance as Float64Array),
    };
    const out = fluxReference(c, getter(w), permuted);
    expect(relErr(out, permuteBatch(base))).toBe(0);
    // And each item equals a batch-1 call on that item alone.
    const single = fluxReference(c, getter(w), {
      ...inputs,
      batch: 1,
      img: inputs.img.subarray(0, inputs.img.length / B),
      imgIds: imgIds.subarray(0, imgIds.length / B),
      txt: inputs.txt.subarray(0, inputs.txt.length / B),
      txtIds: inputs.txtIds.subarray(0, inputs.txtIds.length / B),
      timesteps: inputs.timesteps.subarray(0, 1),
      y: inputs.y.subarray(0, c.pooledProjectionDim),
      guidance: (inputs.guidance as Float64Array).subarray(0, 1),
    });
    expect(relErr(single, base.subarray(0, base.length / B))).toBe(0);
  });
});
