/**
 * Packing (rank concatenation, scales folded into A, blocks to the part with their rows, absent
 * layers, config checks, inputs exactly as large as the LoRA's own factors), the byte size of a
 * parsed LoRA and the LRU cache bounded by it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { fluxLoraLayers } from '../../src/arch/flux-io.js';
import { fluxLinears } from '../../src/arch/flux-layers.js';
import type { LinearLayer } from '../../src/arch/param-tensor.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import {
  LoraCache,
  loraByteSize,
  type ParsedLora,
  packedBytes,
  packLoras,
  parseLora,
} from '../../src/lora/index.js';
import { targetTable } from '../../src/lora/lora-targets.js';
import { expectFluxThrow } from '../weights/fixtures.js';
import { fixtureBytes, type LoraFixture } from './lora-fixtures.js';
import { FORMATS, kohyaSplitQkv } from './lora-formats.js';

let c: FluxConfig;
let xlabs: ParsedLora;
let kohya: ParsedLora;
let comfy: ParsedLora;
beforeAll(async () => {
  c = (await loadModelSpec('tiny')).transformer;
  xlabs = parseLora(await fixtureBytes(FORMATS.xlabs(c)), c, { name: 'xlabs' });
  kohya = parseLora(await fixtureBytes(FORMATS.kohya(c)), c, { name: 'kohya' });
  comfy = parseLora(await fixtureBytes(FORMATS.comfyui(c)), c, { name: 'comfy' });
});

describe('packLoras', () => {
  it('touches only the layers a LoRA names; the rest are absent (rank 0)', () => {
    const feeds = packLoras(fluxLinears(c), [{ lora: xlabs, scale: 1 }]);
    expect([...feeds.keys()].sort()).toEqual([...xlabs.layers.keys()].sort());
    expect(feeds.has('img_in')).toBe(false);
    expect(packLoras(fluxLinears(c), [])).toEqual(new Map());
    expect(packLoras(fluxLinears(c), [{ lora: xlabs, scale: 0 }])).toEqual(new Map());
  });

  it('concatenates along the rank, the user and adapter scales in A, B untouched', () => {
    const layer = fluxLinears(c).find((l) => l.name === 'single_blocks.0.linear1');
    if (!layer) throw new Error('no layer');
    const feeds = packLoras(fluxLinears(c), [
      { lora: kohya, scale: 2 },
      { lora: comfy, scale: -0.5 },
    ]);
    const f = feeds.get(layer.name)?.whole;
    const k = kohya.layers.get(layer.name)?.[0];
    const x = comfy.layers.get(layer.name)?.[0];
    if (!f || !k || !x) throw new Error('missing');
    expect(feeds.get(layer.name)?.parts.size).toBe(0); // fused-layer LoRAs use the whole-layer pair
    expect(f.rank).toBe(k.rank + x.rank);
    expect(f.a[0]).toBeCloseTo(2 * k.scale * (k.a[0] as number), 6);
    expect(f.a[k.rank]).toBeCloseTo(-0.5 * x.scale * (x.a[0] as number), 6);
    expect(f.a[layer.in * f.rank - 1]).toBeCloseTo(
      -0.5 * x.scale * (x.a[layer.in * x.rank - 1] as number),
      6,
    );
    expect(Array.from(f.b.subarray(k.rank * layer.out))).toEqual(Array.from(x.b));
  });

  it("puts a block whose rows are a part's into that part's pair, without zero rows", () => {
    // XLabs' single-block qkv patches rows [0, 3·hidden) of linear1: the `qkv` part.
    const name = 'single_blocks.0.linear1';
    const x = xlabs.layers.get(name)?.[0];
    const f = packLoras(fluxLinears(c), [{ lora: xlabs, scale: 1 }]).get(name);
    if (!x || !f) throw new Error('missing');
    expect(f.whole).toBeUndefined();
    expect([...f.parts.keys()]).toEqual(['qkv']);
    expect(f.parts.get('qkv')?.b).toEqual(x.b);
  });

  it('zero-pads a block into the whole-layer pair where the layer has no such part (format 1 dirs)', () => {
    const wholeOnly = fluxLinears(c).map(({ parts: _, ...l }) => l);
    const layer = wholeOnly.find((l) => l.name === 'single_blocks.0.linear1');
    const f = packLoras(wholeOnly, [{ lora: xlabs, scale: 1 }]).get('single_blocks.0.linear1')?.whole;
    const x = xlabs.layers.get('single_blocks.0.linear1')?.[0];
    if (!layer || !f || !x) throw new Error('missing');
    const row = f.b.subarray(0, layer.out);
    expect(Array.from(row.subarray(0, 3 * c.hiddenSize))).toEqual(
      Array.from(x.b.subarray(0, 3 * c.hiddenSize)),
    );
    expect(row.subarray(3 * c.hiddenSize).every((v) => v === 0)).toBe(true);
  });

  const plain: [string, (cfg: FluxConfig) => LoraFixture][] = [
    ...Object.entries(FORMATS),
    ['kohya split q/k/v', (cfg) => kohyaSplitQkv(cfg, 3, 1.5)],
  ];
  it.each(plain)(
    'packs a %s LoRA in exactly the bytes of its own factors, fp32 and fp16',
    async (_, make) => {
      const fixture = make(c);
      const values = fixture.tensors
        .filter((t) => t.shape.length === 2)
        .reduce((n, t) => n + (t.shape[0] as number) * (t.shape[1] as number), 0);
      const lora = parseLora(await fixtureBytes(fixture), c, { name: 'own-bytes' });
      expect(packedBytes(packLoras(fluxLoraLayers(c, 'float32'), [{ lora, scale: 1 }]))).toBe(4 * values);
      expect(packedBytes(packLoras(fluxLoraLayers(c, 'float16'), [{ lora, scale: 1 }]))).toBe(2 * values);
    },
  );

  it('every row range a LoRA file can name is a whole layer or one of its parts (none is padded)', async () => {
    for (const spec of ['tiny', 'flux.1-dev'] as const) {
      for (const t of targetTable((await loadModelSpec(spec)).transformer).dotted.values()) {
        const { layer, rowOffset, rows } = t;
        const whole = rowOffset === 0 && rows === layer.out;
        const part = layer.parts?.some((p) => p.offset === rowOffset && p.rows === rows);
        expect(whole || part, `${layer.name} [${rowOffset}, +${rows})`).toBe(true);
      }
    }
  });

  it('a split q/k/v LoRA on a qkv layer is half the bytes it took as one zero-padded pair', async () => {
    const lora = parseLora(await fixtureBytes(FORMATS.diffusers(c)), c, { name: 'diffusers' });
    const name = 'double_blocks.0.img_attn.qkv';
    const bytes = (layers: readonly LinearLayer[]) => {
      const f = packLoras(layers, [{ lora, scale: 1 }]).get(name);
      return packedBytes(new Map(f ? [[name, f]] : []));
    };
    const wholeOnly = fluxLinears(c).map(({ parts: _, ...l }) => l);
    // B [3r, 3·hidden] two-thirds zeros against three pairs A [hidden, r], B [r, hidden].
    expect(bytes(wholeOnly)).toBe(2 * bytes(fluxLinears(c)));
  });

  it('refuses a LoRA parsed for another config, and a non-finite scale', async () => {
    const schnell = (await loadModelSpec('flux.1-schnell')).transformer;
    expectFluxThrow(
      () => packLoras(fluxLinears(schnell), [{ lora: kohya, scale: 1 }]),
      'FLUX_ERR_LORA',
      /another model/,
    );
    expectFluxThrow(
      () => packLoras(fluxLinears(c), [{ lora: kohya, scale: NaN }]),
      'FLUX_ERR_LORA',
      /finite/,
    );
  });
});

describe('LoraCache', () => {
  it('counts the factor bytes, evicts the least recently used, keeps nothing over the bound', () => {
    const arrays = [...kohya.layers.values()].flat().reduce((n, b) => n + b.a.byteLength + b.b.byteLength, 0);
    expect(loraByteSize(kohya)).toBeGreaterThan(arrays);
    expect(loraByteSize(kohya)).toBeLessThan(arrays * 1.5);
    const bound = loraByteSize(kohya) + loraByteSize(xlabs) + 10;
    const cache = new LoraCache(bound);
    cache.set('k', kohya);
    cache.set('x', xlabs);
    expect(cache.get('k')).toBe(kohya); // k is now the most recent
    cache.set('x2', xlabs);
    expect(cache.get('x')).toBeUndefined();
    expect(cache.get('k')).toBe(kohya);
    expect(cache.bytes).toBeLessThanOrEqual(bound);
    const small = new LoraCache(100);
    small.set('k', kohya);
    expect(small.size).toBe(0);
    let parses = 0;
    const parse = () => {
      parses++;
      return xlabs;
    };
    expect(cache.getOrParse('y', parse)).toBe(xlabs);
    expect(cache.getOrParse('y', parse)).toBe(xlabs);
    expect(parses).toBe(1);
  });
});
