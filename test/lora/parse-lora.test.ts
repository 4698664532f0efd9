/**
 * Every LoRA format, parsed and packed, against the delta computed naively from the file's own
 * factors: detection, alpha handling, split q/k/v/mlp row slices, LoHa, LoKr and full diffs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { fluxLinears } from '../../src/arch/flux-layers.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { loraWarnings, packLoras, parseLora } from '../../src/lora/index.js';
import { type Deltas, fixtureBytes, type LoraFixture } from './lora-fixtures.js';
import { FORMATS, fullDiff, kohyaSplitQkv, loha, lokr } from './lora-formats.js';
import { packedDeltas as packedLayerDeltas } from './packed-deltas.js';

let c: FluxConfig;
beforeAll(async () => {
  c = (await loadModelSpec('tiny')).transformer;
});

/** The packed feeds multiplied back out: ΔW [out, in] per layer, float64. */
function packedDeltas(feeds: ReturnType<typeof packLoras>): Deltas {
  return packedLayerDeltas(fluxLinears(c), feeds);
}

function expectSameDeltas(got: Deltas, want: Deltas): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, w] of want) {
    const g = got.get(name) as Float64Array;
    let num = 0;
    let den = 0;
    for (let i = 0; i < w.length; i++) {
      num = Math.max(num, Math.abs((g[i] as number) - (w[i] as number)));
      den = Math.max(den, Math.abs(w[i] as number));
    }
    expect(num / den, name).toBeLessThan(1e-5);
  }
}

async function parse(f: LoraFixture, name = 'test.safetensors') {
  return parseLora(await fixtureBytes(f), c, { name });
}

describe('formats', () => {
  it.each(Object.keys(FORMATS) as (keyof typeof FORMATS)[])(
    '%s: detected, and exact on every layer it names',
    async (format) => {
      const fixture = FORMATS[format](c);
      const parsed = await parse(fixture);
      expect(parsed.report.format).toBe(format);
      expect(parsed.report.formats).toEqual([format]);
      expect(parsed.report.ignored).toEqual([]);
      expect(parsed.report.keys).toEqual({ total: fixture.tensors.length, used: fixture.tensors.length });
      expect(parsed.report.algorithms).toEqual({
        lora: parsed.report.algorithms.lora,
        loha: 0,
        lokr: 0,
        full: 0,
      });
      expectSameDeltas(packedDeltas(packLoras(fluxLinears(c), [{ lora: parsed, scale: 1 }])), fixture.delta);
    },
  );

  it('diffusers: split q/k/v/mlp land in their row slices and norm_out halves are swapped', async () => {
    const parsed = await parse(FORMATS.diffusers(c));
    const d = c.hiddenSize;
    const blocks = (layer: string) => parsed.layers.get(layer)?.map((b) => [b.rowOffset, b.rows]);
    expect(blocks('double_blocks.1.txt_attn.qkv')).toEqual([
      [0, d],
      [d, d],
      [2 * d, d],
    ]);
    expect(blocks('single_blocks.0.linear1')).toEqual([
      [0, d],
      [d, d],
      [2 * d, d],
      [3 * d, c.mlpHidden],
    ]);
    expect(blocks('final_layer.adaLN_modulation.1')).toEqual([[0, 2 * d]]);
    expect(parsed.report.layers).toHaveLength(fluxLinears(c).length);
    expect(parsed.report.alpha).toEqual({ sources: ['peft-metadata'], min: 2, max: 8 });
  });

  it('kohya: per-module alpha tensors win over ss_network_alpha, alpha 0 means α = r', async () => {
    const parsed = await parse(FORMATS.kohya(c));
    expect(parsed.layers.get('img_in')?.[0]?.scale).toBe(1 / 4);
    expect(parsed.layers.get('txt_in')?.[0]?.scale).toBe(1);
    expect(parsed.layers.get('time_in.in_layer')?.[0]?.scale).toBe(2 / 4);
    expect(parsed.report.alpha.sources).toEqual(['tensor']);
    expect(parsed.report.baseModel).toBe('flux-1-dev/lora');
    expect(parsed.report.rank).toEqual({ min: 4, max: 4 });
  });

  it('kohya without alpha tensors falls back to ss_network_alpha', async () => {
    const f = FORMATS.kohya(c);
    const noAlpha = { ...f, tensors: f.tensors.filter((t) => !t.name.endsWith('.alpha')) };
    const parsed = await parse(noAlpha);
    expect(parsed.report.alpha.sources).toEqual(['kohya-metadata']);
    expect(parsed.layers.get('txt_in')?.[0]?.scale).toBe(1 / 4);
  });

  it('comfyui without alpha: scale 1, alpha source none', async () => {
    const parsed = await parse(FORMATS.comfyui(c));
    expect(parsed.report.alpha).toEqual({ sources: ['none'], min: undefined, max: undefined });
    expect([...parsed.layers.values()].flat().every((b) => b.scale === 1)).toBe(true);
  });

  it('kohya split_qkv: the block-diagonal up is exact with r = k·rank', async () => {
    const fixture = kohyaSplitQkv(c, 2, 3);
    const parsed = await parse(fixture);
    expect(parsed.report.format).toBe('kohya');
    expect(parsed.layers.get('double_blocks.0.img_attn.qkv')?.[0]).toMatchObject({ rank: 6, scale: 3 / 6 });
    expect(parsed.layers.get('single_blocks.1.linear1')?.[0]).toMatchObject({ rank: 8, scale: 3 / 8 });
    expectSameDeltas(packedDeltas(packLoras(fluxLinears(c), [{ lora: parsed, scale: 1 }])), fixture.delta);
  });

  it('LoHa: Khatri–Rao factors equal (w1a w1b) ⊙ (w2a w2b), rank r1·r2 or the dense route', async () => {
    const fixture = loha(c, 31);
    const parsed = await parse(fixture);
    expect(parsed.report.algorithms).toEqual({ lora: 0, loha: fluxLinears(c).length, lokr: 0, full: 0 });
    expect(parsed.layers.get('double_blocks.0.img_mod.lin')?.[0]?.rank).toBe(6);
    // module 0 (img_in, 32×64) has r1 = r2 = 6: rank 36 > 32 goes through the dense delta.
    expect(parsed.layers.get('img_in')?.[0]?.rank).toBe(c.hiddenSize);
    expectSameDeltas(packedDeltas(packLoras(fluxLinears(c), [{ lora: parsed, scale: 1 }])), fixture.delta);
  });

  it('LoKr: kron factors equal kron(W1, W2), γ from the decomposed factor, 1 when both are full', async () => {
    const fixture = lokr(c, 32);
    const parsed = await parse(fixture);
    expect(parsed.report.format).toBe('lycoris');
    expect(parsed.report.algorithms.lokr).toBe(
      fixture.tensors.filter((t) => t.name.endsWith('.alpha')).length,
    );
    // x_embedder: w1 full [4, 2] (rank 2) ⊗ w2 rank 2 → rank 4, γ = 3 / 2.
    expect(parsed.layers.get('img_in')?.[0]).toMatchObject({ rank: 4, scale: 1.5 });
    expectSameDeltas(packedDeltas(packLoras(fluxLinears(c), [{ lora: parsed, scale: 1 }])), fixture.delta);
  });

  it('full diff: exact through an identity factor at rank min(rows, in); zero diff_b counts as applied', async () => {
    const fixture = fullDiff(c, 33);
    const parsed = await parse(fixture);
    expect(parsed.report.algorithms.full).toBe(fixture.tensors.length / 2);
    expect(parsed.layers.get('img_in')?.[0]?.rank).toBe(c.hiddenSize);
    expect(parsed.report.keys.used).toBe(fixture.tensors.length);
    expectSameDeltas(packedDeltas(packLoras(fluxLinears(c), [{ lora: parsed, scale: 1 }])), fixture.delta);
  });
});

describe('report', () => {
  it('text-encoder, unknown, guidance (absent on schnell) and non-zero bias keys are reported, not applied', async () => {
    const f = FORMATS.comfyui(c);
    const extra = [
      'lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight',
      'text_encoders.clip_l.transformer.text_model.encoder.layers.0.mlp.fc1.lora_up.weight',
      'lora_unet_guidance_in_in_layer.lora_down.weight',
      'diffusion_model.double_blocks.0.img_attn.norm.query_norm.diff',
      'something_else.weight',
    ].map((name) => ({ name, dtype: 'F32' as const, shape: [2, 2], data: new Float32Array(4) }));
    const bias = {
      name: 'diffusion_model.img_in.lora_B.bias',
      dtype: 'F32' as const,
      shape: [c.hiddenSize],
      data: new Float32Array(c.hiddenSize).fill(0.5),
    };
    const parsed = await parse({ ...f, tensors: [...f.tensors, ...extra, bias] }, 'mixed.safetensors');
    expect(parsed.report.ignored).toEqual([
      { key: extra[0]?.name, reason: 'text-encoder' },
      { key: extra[1]?.name, reason: 'text-encoder' },
      { key: extra[2]?.name, reason: 'target-absent' },
      { key: extra[3]?.name, reason: 'unknown-key' },
      { key: extra[4]?.name, reason: 'unknown-key' },
      { key: bias.name, reason: 'bias-delta' },
    ]);
    expect(parsed.report.keys).toEqual({ total: f.tensors.length + 6, used: f.tensors.length });
    const warnings = loraWarnings(parsed.report);
    expect(warnings).toHaveLength(4);
    expect(warnings[0]).toMatch(
      /^LoRA mixed\.safetensors: 2 text-encoder keys ignored .*lora_te1_text_model/,
    );
    expect(warnings.join('\n')).toMatch(/1 non-zero bias deltas ignored/);
    expect(loraWarnings((await parse(f)).report)).toEqual([]);
  });
});
