/**
 * Test support: packed LoRA feeds multiplied back out, per layer ΔW [out, in] in float64, each
 * input pair's A·B placed at its rows (the whole layer's, or a part's), as the graph adds them.
 */
import type { LinearLayer } from '../../src/arch/param-tensor.js';
import type { LayerFeeds, LoraFeed } from '../../src/lora/index.js';
import type { Deltas } from './lora-fixtures.js';

function addProduct(d: Float64Array, layer: LinearLayer, f: LoraFeed, offset: number, rows: number): void {
  for (let o = 0; o < rows; o++) {
    for (let i = 0; i < layer.in; i++) {
      let s = 0;
      for (let k = 0; k < f.rank; k++) s += (f.a[i * f.rank + k] as number) * (f.b[k * rows + o] as number);
      d[(offset + o) * layer.in + i] = (d[(offset + o) * layer.in + i] as number) + s;
    }
  }
}

/** Float32 feeds only: fp16 ones hold bit patterns. */
export function packedDeltas(layers: readonly LinearLayer[], feeds: ReadonlyMap<string, LayerFeeds>): Deltas {
  const out: Deltas = new Map();
  for (const layer of layers) {
    const f = feeds.get(layer.name);
    if (!f) continue;
    const d = new Float64Array(layer.out * layer.in);
    if (f.whole) addProduct(d, layer, f.whole, 0, layer.out);
    for (const part of layer.parts ?? []) {
      const p = f.parts.get(part.name);
      if (p) addProduct(d, layer, p, part.offset, part.rows);
    }
    out.set(layer.name, d);
  }
  return out;
}
