/**
 * The FLUX AE graphs against the independent float64 reference (test/reference/vae-reference.ts) on a
 * tiny random AE with the real structure (4 levels, 2 ResBlocks per level, mid attention), the
 * diffusers name view, the weight check and the real AE's published tensor and parameter counts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeDType } from '../../src/arch/build-context.js';
import { parameterCount } from '../../src/arch/param-tensor.js';
import { randomVaeTensors } from '../../src/arch/random-vae.js';
import { buildVaeDecoder, buildVaeEncoder, VAE_IO } from '../../src/arch/vae.js';
import { parseVaeConfig, type VaeConfig } from '../../src/arch/vae-config.js';
import {
  vaeDecoderTensors,
  vaeEncoderTensors,
  vaeTensors,
  vaeWeightsAsBfl,
} from '../../src/arch/vae-layers.js';
import type { Graph } from '../../src/onnx/graph.js';
import { writeModel } from '../../src/onnx/model-writer.js';
import { inMemoryWeights, type WeightSource } from '../../src/weights/checkpoint.js';
import { seededNormal } from '../../src/weights/random.js';
import { type RefWeights, vaeDecodeReference, vaeEncodeReference } from '../reference/vae-reference.js';
import { relativeError } from '../support/numerics.js';

type Tensors = Map<string, { shape: readonly number[]; data: Float32Array }>;

/** The real AE's structure at 1/8 width: levels [16, 16, 32, 32], 8 groups, 2 ResBlocks per level. */
const tiny: VaeConfig = parseVaeConfig({
  block_out_channels: [16, 16, 32, 32],
  norm_num_groups: 8,
  layers_per_block: 2,
  latent_channels: 16,
});

function randomWeights(c: VaeConfig, seed: number): Tensors {
  return new Map(randomVaeTensors(c, seed).map((t) => [t.name, { shape: t.shape, data: t.values() }]));
}

function refWeights(t: Tensors): RefWeights {
  return (name) => {
    const w = t.get(name);
    if (!w) throw new Error(`no weight ${name}`);
    return { shape: w.shape, data: Float64Array.from(w.data) };
  };
}

/** BFL → diffusers, written from flux.md §7.5 independently of src/arch/vae-layers.ts. */
function toDiffusers(c: VaeConfig, bfl: Tensors): Tensors {
  const last = c.blockOutChannels.length - 1;
  const rules: [RegExp, (...m: string[]) => string][] = [
    [/^encoder\.down\.(\d+)\.block\.(\d+)\./, (_, l, j) => `encoder.down_blocks.${l}.resnets.${j}.`],
    [/^encoder\.down\.(\d+)\.downsample\./, (_, l) => `encoder.down_blocks.${l}.downsamplers.0.`],
    [
      /^decoder\.up\.(\d+)\.block\.(\d+)\./,
      (_, l, j) => `decoder.up_blocks.${last - Number(l)}.resnets.${j}.`,
    ],
    [/^decoder\.up\.(\d+)\.upsample\./, (_, l) => `decoder.up_blocks.${last - Number(l)}.upsamplers.0.`],
    [/\.nin_shortcut\./, () => '.conv_shortcut.'],
    [/\.mid\.block_1\./, () => '.mid_block.resnets.0.'],
    [/\.mid\.block_2\./, () => '.mid_block.resnets.1.'],
    [/\.mid\.attn_1\.norm\./, () => '.mid_block.attentions.0.group_norm.'],
    [/\.mid\.attn_1\.([qkv])\./, (_, p) => `.mid_block.attentions.0.to_${p}.`],
    [/\.mid\.attn_1\.proj_out\./, () => '.mid_block.attentions.0.to_out.0.'],
    [/^(encoder|decoder)\.norm_out\./, (_, part) => `${part}.conv_norm_out.`],
  ];
  const out: Tensors = new Map();
  for (const [name, t] of bfl) {
    let d = name;
    for (const [re, f] of rules) d = d.replace(re, (...m) => f(...(m as string[])));
    const linear = /attentions\.0\.(to_[qkv]|to_out\.0)\.weight$/.test(d);
    out.set(d, { shape: linear ? t.shape.slice(0, 2) : t.shape, data: t.data });
  }
  return out;
}

let root: string;
let modelCount = 0;

async function session(graph: Graph): Promise<ort.InferenceSession> {
  const path = join(root, `${graph.name}-${modelCount++}.onnx`);
  await writeModel(graph, path);
  return ort.InferenceSession.create(path);
}

async function decode(s: ort.InferenceSession, z: Float64Array, dims: number[]): Promise<Float32Array> {
  const out = await s.run({ [VAE_IO.latent]: new ort.Tensor('float32', Float32Array.from(z), dims) });
  const image = out[VAE_IO.image] as ort.Tensor;
  const [b, , h, w] = dims as [number, number, number, number];
  expect(image.dims).toEqual([b, 3, 8 * h, 8 * w]);
  return image.data as Float32Array;
}

async function encode(
  s: ort.InferenceSession,
  x: Float64Array,
  dims: number[],
): Promise<{ latent: Float32Array; logvar: Float32Array }> {
  const out = await s.run({ [VAE_IO.image]: new ort.Tensor('float32', Float32Array.from(x), dims) });
  const [b, , h, w] = dims as [number, number, number, number];
  for (const name of [VAE_IO.latent, VAE_IO.logvar])
    expect((out[name] as ort.Tensor).dims).toEqual([b, 16, h / 8, w / 8]);
  return {
    latent: (out[VAE_IO.latent] as ort.Tensor).data as Float32Array,
    logvar: (out[VAE_IO.logvar] as ort.Tensor).data as Float32Array,
  };
}

/** A smooth image in [-1, 1] plus a little noise, like a real picture. */
function testImage(seed: number, b: number, H: number, W: number): Float64Array {
  const randn = seededNormal(seed);
  const x = new Float64Array(b * 3 * H * W);
  for (let i = 0; i < x.length; i++) {
    const col = i % W;
    const row = Math.floor(i / W) % H;
    const ch = Math.floor(i / (W * H)) % 3;
    x[i] = Math.max(
      -1,
      Math.min(1, 0.8 * Math.sin(0.3 * col + ch) * Math.cos(0.2 * row) + 0.1 * randn.next()),
    );
  }
  return x;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vae-graph-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('FLUX AE tables', () => {
  it('has the published tensor and parameter counts (flux.md §7.4-7.5)', () => {
    const c = parseVaeConfig({});
    expect(vaeTensors(c)).toHaveLength(244);
    expect(parameterCount(vaeEncoderTensors(c))).toBe(34_274_208);
    expect(parameterCount(vaeDecoderTensors(c))).toBe(49_545_475);
    expect(parameterCount(vaeTensors(c))).toBe(83_819_683);
  });

  it('parses the real diffusers vae/config.json to the defaults', () => {
    const real = parseVaeConfig({
      _class_name: 'AutoencoderKL',
      act_fn: 'silu',
      block_out_channels: [128, 256, 512, 512],
      down_block_types: new Array(4).fill('DownEncoderBlock2D'),
      force_upcast: true,
      in_channels: 3,
      latent_channels: 16,
      latents_mean: null,
      latents_std: null,
      layers_per_block: 2,
      mid_block_add_attention: true,
      norm_num_groups: 32,
      out_channels: 3,
      sample_size: 1024,
      scaling_factor: 0.3611,
      shift_factor: 0.1159,
      up_block_types: new Array(4).fill('UpDecoderBlock2D'),
      use_post_quant_conv: false,
      use_quant_conv: false,
    });
    expect(real).toEqual(parseVaeConfig({}));
    expect(real.scalingFactor).toBe(0.3611);
    expect(real.shiftFactor).toBe(0.1159);
    expect(() => parseVaeConfig({ block_out_channels: [16, 24], norm_num_groups: 32 })).toThrow(/divisible/);
    expect(() => parseVaeConfig({ use_quant_conv: true })).toThrow(/quant/);
  });

  it('drops the 10 attention tensors per half without mid-block attention', () => {
    expect(vaeTensors(parseVaeConfig({ mid_block_add_attention: false }))).toHaveLength(224);
  });
});

describe('tiny VAE graphs against the float64 reference', () => {
  const bfl = randomWeights(tiny, 5);
  const W = refWeights(bfl);
  const sessions = new Map<string, ort.InferenceSession>();
  const get = (k: string) => sessions.get(k) as ort.InferenceSession;

  beforeAll(async () => {
    for (const dtype of ['float32', 'float16'] as ComputeDType[]) {
      sessions.set(`decoder-${dtype}`, await session(buildVaeDecoder(tiny, inMemoryWeights(bfl), { dtype })));
      sessions.set(`encoder-${dtype}`, await session(buildVaeEncoder(tiny, inMemoryWeights(bfl), { dtype })));
    }
  });

  it.each([
    [2, 4, 6],
    [1, 3, 5],
  ])('fp32 decoder matches on latent [%i, 16, %i, %i] within 1e-4', async (b, h, w) => {
    const z = seededNormal(10 + h).fill(new Float64Array(b * 16 * h * w));
    const expected = vaeDecodeReference(tiny, W, z, b, h, w);
    const got = await decode(get('decoder-float32'), z, [b, 16, h, w]);
    expect(relativeError(got, expected)).toBeLessThan(1e-4);
  });

  it.each([
    [1, 32, 48],
    [2, 16, 24],
  ])('fp32 encoder matches on image [%i, 3, %i, %i] within 1e-4 (latent and logvar)', async (b, H, Wd) => {
    const x = testImage(20 + H, b, H, Wd);
    const expected = vaeEncodeReference(tiny, W, x, b, H, Wd);
    const got = await encode(get('encoder-float32'), x, [b, 3, H, Wd]);
    expect(relativeError(got.latent, expected.latent)).toBeLessThan(1e-4);
    expect(relativeError(got.logvar, expected.logvar)).toBeLessThan(1e-4);
  });

  it('fp16 graphs stay within 3e-3 of fp32 (measured 3.5e-4 decoder, 8.8e-4 encoder)', async () => {
    const z = seededNormal(30).fill(new Float64Array(2 * 16 * 4 * 6));
    const d32 = await decode(get('decoder-float32'), z, [2, 16, 4, 6]);
    const d16 = await decode(get('decoder-float16'), z, [2, 16, 4, 6]);
    const x = testImage(31, 1, 32, 48);
    const e32 = await encode(get('encoder-float32'), x, [1, 3, 32, 48]);
    const e16 = await encode(get('encoder-float16'), x, [1, 3, 32, 48]);
    const errors = [
      relativeError(d16, d32),
      relativeError(e16.latent, e32.latent),
      relativeError(e16.logvar, e32.logvar),
    ];
    for (const err of errors) {
      expect(err).toBeLessThan(3e-3);
      expect(err).toBeGreaterThan(0); // it really ran in half precision
    }
  });

  it('diffusers-named weights give identical graphs and outputs', async () => {
    const diffusers = toDiffusers(tiny, bfl);
    expect(diffusers.has('decoder.up_blocks.0.upsamplers.0.conv.weight')).toBe(true); // BFL up.3
    expect(diffusers.get('decoder.mid_block.attentions.0.to_q.weight')?.shape).toEqual([32, 32]);
    const view: WeightSource = vaeWeightsAsBfl(tiny, inMemoryWeights(diffusers));
    expect(view.names()).toEqual([...bfl.keys()].sort());
    expect(view.info('decoder.mid.attn_1.q.weight').shape).toEqual([32, 32, 1, 1]);
    const fromDiffusers = buildVaeDecoder(tiny, view, { dtype: 'float32' });
    const fromBfl = buildVaeDecoder(tiny, inMemoryWeights(bfl), { dtype: 'float32' });
    expect(fromDiffusers.initializers.map((i) => i.name)).toEqual(fromBfl.initializers.map((i) => i.name));
    const bytes = (g: Graph) =>
      Promise.all(g.initializers.map(async (init) => Buffer.from(await init.bytes())));
    const [da, db] = [await bytes(fromDiffusers), await bytes(fromBfl)];
    for (const [i, buf] of da.entries()) expect(buf.equals(db[i] as Buffer)).toBe(true);
    const z = seededNormal(40).fill(new Float64Array(16 * 3 * 4));
    const a = await decode(await session(fromDiffusers), z, [1, 16, 3, 4]);
    const b = await decode(get('decoder-float32'), z, [1, 16, 3, 4]);
    expect(Array.from(a)).toEqual(Array.from(b));
    const x = testImage(41, 1, 16, 16);
    const ea = await encode(
      await session(buildVaeEncoder(tiny, view, { dtype: 'float32' })),
      x,
      [1, 3, 16, 16],
    );
    const eb = await encode(get('encoder-float32'), x, [1, 3, 16, 16]);
    expect(Array.from(ea.latent)).toEqual(Array.from(eb.latent));
    expect(vaeWeightsAsBfl(tiny, inMemoryWeights(bfl)).names()).toEqual([...bfl.keys()].sort()); // BFL passes through
  });
});

describe('VAE checkpoint validation', () => {
  const bfl = randomWeights(tiny, 6);

  it('names missing tensors, wrong shapes and foreign tensors', () => {
    const broken: Tensors = new Map(bfl);
    broken.delete('decoder.up.2.block.1.conv2.bias');
    broken.set('decoder.conv_in.bias', { shape: [7], data: new Float32Array(7) });
    broken.set('quant_conv.weight', { shape: [1], data: new Float32Array(1) });
    const build = () => buildVaeDecoder(tiny, inMemoryWeights(broken), { dtype: 'float32' });
    expect(build).toThrow(/missing decoder\.up\.2\.block\.1\.conv2\.bias \[32\]/);
    expect(build).toThrow(/decoder\.conv_in\.bias has shape \[7\], expected \[32\]/);
    expect(build).toThrow(/unexpected tensor.*quant_conv\.weight/);
  });

  it('builds the decoder from a decoder-only checkpoint but not the encoder', () => {
    const decoderOnly: Tensors = new Map([...bfl].filter(([k]) => k.startsWith('decoder.')));
    expect(() => buildVaeDecoder(tiny, inMemoryWeights(decoderOnly), { dtype: 'float16' })).not.toThrow();
    expect(() => buildVaeEncoder(tiny, inMemoryWeights(decoderOnly), { dtype: 'float32' })).toThrow(
      /missing encoder\.conv_in\.weight/,
    );
  });
});
