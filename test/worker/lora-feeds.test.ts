/**
 * LoraFeeds.prepare on real LoRA files of the tiny model: the runtime inputs, and the per-LoRA load
 * report summary the worker logs (lora.md §11), the same whether the LoRA was parsed now or cached.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { fluxLoraLayers } from '../../src/arch/flux-io.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import type { LoraRequest } from '../../src/pipeline/generation-request.js';
import type { ManifestLayer } from '../../src/runtime/manifest.js';
import { f32ToF16 } from '../../src/weights/float16.js';
import { LoraFeeds } from '../../src/worker/lora-feeds.js';
import { fixtureBytes, localLora } from '../lora/lora-fixtures.js';
import { FORMATS } from '../lora/lora-formats.js';

let c: FluxConfig;
let layers: ManifestLayer[];
let loras: LoraRequest[];
let dir: string;

beforeAll(async () => {
  c = (await loadModelSpec('tiny')).transformer;
  layers = fluxLoraLayers(c, 'float32');
  dir = await mkdtemp(join(tmpdir(), 'lora-feeds-'));
  const kohya = FORMATS.kohya(c);
  const te = {
    name: 'lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight',
    dtype: 'F32' as const,
    shape: [2, 2],
    data: new Float32Array(4),
  };
  loras = [
    await localLora(
      dir,
      'kohya.safetensors',
      await fixtureBytes({ ...kohya, tensors: [...kohya.tensors, te] }),
      1,
    ),
    await localLora(dir, 'diffusers.safetensors', await fixtureBytes(FORMATS.diffusers(c)), 0.5),
    await localLora(dir, 'comfy.safetensors', await fixtureBytes(FORMATS.comfyui(c)), 1),
  ];
});

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('LoraFeeds.prepare', () => {
  it('returns a load report summary per LoRA, parsed now or cached', async () => {
    const feeds = new LoraFeeds(c, layers, 1 << 30);
    const first = await feeds.prepare(loras);
    const all = `${layers.length}/${layers.length}`;
    expect(first.reports).toEqual([
      // kohya alpha tensors 1, 0, 2, 8 (0 meaning α = rank), one text-encoder key added
      {
        path: 'kohya.safetensors',
        format: 'kohya',
        layers: all,
        rank: '4',
        alpha: 'tensor 0-8',
        ignored: { 'text-encoder': 1 },
      },
      // lora_alpha 8 in the PEFT metadata, 2 for one module by alpha_pattern
      {
        path: 'diffusers.safetensors',
        format: 'diffusers',
        layers: all,
        rank: '4',
        alpha: 'peft-metadata 2-8',
        ignored: {},
      },
      {
        path: 'comfy.safetensors',
        format: 'comfyui',
        layers: all,
        rank: '3',
        alpha: 'none (α = rank)',
        ignored: {},
      },
    ]);
    expect(first.warnings).toEqual([
      expect.stringMatching(/^LoRA kohya\.safetensors: 1 text-encoder keys ignored/),
    ]);
    expect([first.hits, first.misses]).toEqual([0, 3]);
    // kohya and ComfyUI fill every whole-layer pair; diffusers' split q/k/v (and linear1's MLP)
    // fill the parts of the fused layers, all of them but XLabs' attention rows of linear1.
    const splitParts = layers.reduce((n, l) => n + l.parts.filter((p) => p.name !== 'qkv').length, 0);
    expect(Object.keys(first.tensors)).toHaveLength(2 * (layers.length + splitParts));
    const again = await feeds.prepare(loras);
    expect([again.hits, again.misses]).toEqual([3, 0]);
    expect(again.reports).toEqual(first.reports);
  });

  it('feeds an fp16 graph float16 tensors: the fp32 packing rounded to half precision', async () => {
    const fp32 = await new LoraFeeds(c, layers, 1 << 30).prepare(loras);
    const fp16 = await new LoraFeeds(c, fluxLoraLayers(c, 'float16'), 1 << 30).prepare(loras);
    expect(Object.keys(fp16.tensors)).toEqual(Object.keys(fp32.tensors));
    for (const [name, t] of Object.entries(fp16.tensors)) {
      const want = fp32.tensors[name] as ort.Tensor;
      expect([t.type, t.dims, t.data instanceof Uint16Array]).toEqual(['float16', want.dims, true]);
      expect(t.data).toEqual(f32ToF16(want.data as Float32Array));
    }
  });
});
