/**
 * Random tiny weights must make every block matter, or a graph bug inside a block could hide.
 */
import { describe, expect, it } from 'vitest';
import { randomFluxTensors } from '../../src/arch/random-flux.js';
import { loadModelSpec } from '../../src/build/model-spec.js';
import { fluxReference, type RefTensor } from '../reference/flux-reference.js';
import { randomInputs } from '../support/flux-session.js';
import { relativeError } from '../support/numerics.js';

describe('randomFluxTensors', () => {
  it('is deterministic per seed and differs across seeds', async () => {
    const c = (await loadModelSpec('tiny')).transformer;
    const a = randomFluxTensors(c, 1)[5]?.values();
    expect(Array.from(randomFluxTensors(c, 1)[5]?.values() ?? [])).toEqual(Array.from(a ?? []));
    expect(Array.from(randomFluxTensors(c, 2)[5]?.values() ?? [])).not.toEqual(Array.from(a ?? []));
  });

  it('every double and single block changes the output by more than 1%', async () => {
    const c = (await loadModelSpec('tiny-dev')).transformer;
    const weights = new Map<string, RefTensor>(
      randomFluxTensors(c, 3).map((t) => [t.name, { shape: t.shape, data: Float64Array.from(t.values()) }]),
    );
    const x = randomInputs(c, 4, 1, 2, 3, 4);
    const lookup = (ws: Map<string, RefTensor>) => (n: string) => ws.get(n) as RefTensor;
    const base = fluxReference(c, lookup(weights), x);
    const blocks = [
      ...Array.from({ length: c.numLayers }, (_, i) => `double_blocks.${i}.`),
      ...Array.from({ length: c.numSingleLayers }, (_, i) => `single_blocks.${i}.`),
    ];
    for (const prefix of blocks) {
      // Zeroing a block's modulation silences its gates: the block becomes the identity.
      const silenced = new Map(weights);
      for (const [name, t] of weights) {
        if (name.startsWith(prefix) && /(_mod|modulation)\.lin\./.test(name)) {
          silenced.set(name, { shape: t.shape, data: new Float64Array(t.data.length) });
        }
      }
      expect(relativeError(fluxReference(c, lookup(silenced), x), base), prefix).toBeGreaterThan(0.01);
    }
  });
});
