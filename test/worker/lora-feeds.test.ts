/**
 * LoraFeeds.prepare on real LoRA files of the tiny model: the runtime inputs, and the per-LoRA load
 * report summary the worker logs (lora.md §11), the same whether the LoRA was parsed now or cached.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { fluxLinears } from '../../src/arch/flux-layers.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import type { LoraRequest } from '../../src/pipeline/generation-request.js';
import type { ManifestLayer } from '../../src/runtime/manifest.js';
import { LoraFeeds } from '../../src/worker/lora-feeds.js';
import { fixtureBytes, localLora } from '../lora/lora-fixtures.js';
import { FORMATS } from '../lora/lora-formats.js';
import { tempDir } from '../weights/fixtures.js';

let c: FluxConfig;
let layers: ManifestLayer[];
let loras: LoraRequest[];

beforeAll(async () => {
  c = (await loadModelSpec('tiny')).transformer;
  layers = fluxLinears(c).map((l) => ({
    name: l.name,
    in: l.in,
    out: l.out,
    loraA: `lora.${l.name}.a`,
    loraB: `lora.${l.name}.b`,
  }));
  const dir = await tempDir();
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
    expect(Object.keys(first.tensors)).toHaveLength(2 * layers.length);
    const again = await feeds.prepare(loras);
    expect([again.hits, again.misses]).toEqual([3, 0]);
    expect(again.reports).toEqual(first.reports);
  });
});
