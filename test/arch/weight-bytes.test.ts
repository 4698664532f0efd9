/** The per-variant weight sizes from a config equal what the builders really emit. */
import { describe, expect, it } from 'vitest';
import { buildFlux } from '../../src/arch/flux.js';
import { randomFluxTensors } from '../../src/arch/random-flux.js';
import { randomT5Tensors } from '../../src/arch/random-t5.js';
import { buildT5Encoder } from '../../src/arch/t5.js';
import { parseT5Config } from '../../src/arch/t5-config.js';
import { fluxWeightBytes, t5WeightBytes, type WeightVariant } from '../../src/arch/weight-bytes.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import type { Graph } from '../../src/onnx/graph.js';
import { inMemoryWeights } from '../../src/weights/checkpoint.js';

const VARIANTS: WeightVariant[] = [
  { dtype: 'float32' },
  { dtype: 'float16' },
  { dtype: 'float32', quant: 'int8' },
  { dtype: 'float16', quant: 'int8' },
  { dtype: 'float16', quant: 'int4' },
];

const weightBytes = (g: Graph) => g.initializers.reduce((n, t) => n + (t.constant ? 0 : t.byteLength), 0);
const label = (v: WeightVariant) => `${v.dtype}${v.quant ? ` ${v.quant}` : ''}`;

describe('weight bytes per variant', async () => {
  const spec = await loadModelSpec('tiny');
  const t5c = parseT5Config(spec.t5Json);
  const flux = inMemoryWeights(
    new Map(
      randomFluxTensors(spec.transformer, 1).map((t) => [t.name, { shape: t.shape, data: t.values() }]),
    ),
  );
  const t5 = inMemoryWeights(
    new Map(randomT5Tensors(t5c, 1).map((t) => [t.name, { shape: t.shape, data: t.values() }])),
  );

  it.each(VARIANTS.map((v) => [label(v), v] as const))('%s: counts what the builders emit', (_, v) => {
    expect(fluxWeightBytes(spec.transformer, v)).toBe(
      weightBytes(buildFlux(spec.transformer, flux, { ...v, ops: 'fused' })),
    );
    expect(t5WeightBytes(t5c, v)).toBe(weightBytes(buildT5Encoder(t5c, t5, { ...v, ops: 'fused' })));
  });

  it('FLUX.1 [schnell] at full width: int4 transformer and T5 fit a 24 GB card together', async () => {
    const schnell = await loadModelSpec('flux.1-schnell');
    const xxl = parseT5Config(schnell.t5Json);
    const fp16 = fluxWeightBytes(schnell.transformer, { dtype: 'float16' });
    expect(fp16).toBe(11_891_178_560 * 2); // every parameter in fp16
    const int4 = fluxWeightBytes(schnell.transformer, { dtype: 'float16', quant: 'int4' });
    const t5Int4 = t5WeightBytes(xxl, { dtype: 'float16', quant: 'int4' });
    expect(int4 + t5Int4).toBeLessThan(12e9);
    expect(fluxWeightBytes(schnell.transformer, { dtype: 'float16', quant: 'int8' })).toBeLessThan(
      fp16 * 0.6,
    );
  });
});
