import { describe, expect, it } from 'vitest';
import { parseClipTextConfig } from '../../src/arch/clip-config.js';
import { parseFluxConfig } from '../../src/arch/flux-config.js';
import { parseT5Config } from '../../src/arch/t5-config.js';
import { parseVaeConfig } from '../../src/arch/vae-config.js';
import { loadModelSpec } from '../../src/build/model-spec.js';

describe('config parsers take config.json objects only', () => {
  it('refuse an already-parsed config instead of building the full-size defaults from it', async () => {
    const spec = await loadModelSpec('tiny');
    const parsers = [
      [parseFluxConfig, spec.transformerJson, 'transformer'],
      [parseClipTextConfig, spec.clipJson, 'text_encoder'],
      [parseT5Config, spec.t5Json, 'T5'],
      [parseVaeConfig, spec.vaeJson, 'vae'],
    ] as const;
    for (const [parse, json, what] of parsers) {
      const parsed = (parse as (x: unknown) => object)(json);
      expect(() => (parse as (x: unknown) => object)(parsed)).toThrow(
        new RegExp(`: ${what} config has the key "[a-z]+[A-Z]\\w*": expected the snake_case fields`),
      );
    }
  });

  it('read diffusers files with their private keys, and refuse what is not an object', () => {
    const c = parseFluxConfig({
      _class_name: 'FluxTransformer2DModel',
      _diffusers_version: '0.30.0.dev0',
      attention_head_dim: 16,
      axes_dims_rope: [4, 6, 6],
      num_attention_heads: 2,
      num_layers: 1,
      num_single_layers: 1,
    });
    expect(c.hiddenSize).toBe(32);
    for (const bad of [null, 3, 'x', [1]]) expect(() => parseFluxConfig(bad)).toThrow(/not a JSON object/);
  });
});
