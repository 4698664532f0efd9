/**
 * Packing (rank concatenation, scales folded into A, absent layers, config checks), the byte size
 * of a parsed LoRA and the LRU cache bounded by it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FluxConfig } from '../../src/arch/flux-config.js';
import { fluxLinears } from '../../src/arch/flux-layers.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { LoraCache, loraByteSize, type ParsedLora, packLoras, parseLora } from '../../src/lora/index.js';
import { expectFluxThrow } from '../weights/fixtures.js';
import { fixtureBytes } from './lora-fixtures.js';
import { FORMATS } from './lora-formats.js';

let c: FluxConfig;
let xlabs: ParsedLora;
let kohya: ParsedLora;
beforeAll(async () => {
  c = (await loadModelSpec('tiny')).transformer;
  xlabs = parseLora(await fixtureBytes(FORMATS.xlabs(c)), c, { name: 'xlabs' });
  kohya = parseLora(await fixtureBytes(FORMATS.kohya(c)), c, { name: 'kohya' });
});

describe('packLoras', () => {
  it('touches only the layers a LoRA names; the rest are absent (rank 0)', () => {
    const feeds = packLoras(fluxLinears(c), [{ lora: xlabs, scale: 1 }]);
    expect([...feeds.keys()].sort()).toEqual([...xlabs.layers.keys()].sort());
    expect(feeds.has('img_in')).toBe(false);
    expect(packLoras(fluxLinears(c), [])).toEqual(new Map());
    expect(packLoras(fluxLinears(c), [{ lora: xlabs, scale: 0 }])).toEqual(new Map());
  });

  it('concatenates along the rank, the user and adapter scales in A, B untouched and zero-padded', () => {
    const layer = fluxLinears(c).find((l) => l.name === 'single_blocks.0.linear1');
    if (!layer) throw new Error('no layer');
    const feeds = packLoras(fluxLinears(c), [
      { lora: kohya, scale: 2 },
      { lora: xlabs, scale: -0.5 },
    ]);
    const f = feeds.get(layer.name);
    const k = kohya.layers.get(layer.name)?.[0];
    const x = xlabs.layers.get(layer.name)?.[0];
    if (!f || !k || !x) throw new Error('missing');
    expect(f.rank).toBe(k.rank + x.rank);
    expect(f.a[0]).toBeCloseTo(2 * k.scale * (k.a[0] as number), 6);
    expect(f.a[k.rank]).toBeCloseTo(-0.5 * x.scale * (x.a[0] as number), 6);
    expect(f.a[layer.in * f.rank - 1]).toBeCloseTo(
      -0.5 * x.scale * (x.a[layer.in * x.rank - 1] as number),
      6,
    );
    // XLabs' single-block qkv patches rows [0, 3·hidden) of linear1: the MLP columns of its B rows are 0.
    const row = f.b.subarray(k.rank * layer.out, (k.rank + 1) * layer.out);
    expect(Array.from(row.subarray(0, 3 * c.hiddenSize))).toEqual(
      Array.from(x.b.subarray(0, 3 * c.hiddenSize)),
    );
    expect(row.subarray(3 * c.hiddenSize).every((v) => v === 0)).toBe(true);
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
