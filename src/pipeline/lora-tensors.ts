/**
 * @module pipeline/lora-tensors
 * Packed LoRA feeds as the transformer's `lora.*` input tensors, each in the dtype the manifest
 * gives its layer (fp16 bit patterns travel as Uint16Array-backed 'float16' tensors).
 */
import * as ort from 'onnxruntime-node';
import type { LayerFeeds, LoraFeed, LoraValues } from '../lora/index.js';
import type { ManifestLayer } from '../runtime/manifest.js';

/** One input pair of a layer: the whole layer's, or a part's. */
interface Pair {
  readonly loraA: string;
  readonly loraB: string;
  readonly rows: number;
  readonly feed: (feeds: LayerFeeds) => LoraFeed | undefined;
}

function pairs(layer: ManifestLayer): Pair[] {
  return [
    { loraA: layer.loraA, loraB: layer.loraB, rows: layer.out, feed: (f) => f.whole },
    ...layer.parts.map((p) => ({
      loraA: p.loraA,
      loraB: p.loraB,
      rows: p.rows,
      feed: (f: LayerFeeds) => f.parts.get(p.name),
    })),
  ];
}

function tensor(layer: ManifestLayer, data: LoraValues, dims: number[]): ort.Tensor {
  const want = layer.loraDType === 'float16' ? Uint16Array : Float32Array;
  if (!(data instanceof want)) throw new Error(`LoRA input of ${layer.name} is not ${layer.loraDType}`);
  return layer.loraDType === 'float16'
    ? new ort.Tensor('float16', data as Uint16Array, dims)
    : new ort.Tensor('float32', data as Float32Array, dims);
}

/** The inputs that `packed` fills (the others are left out: rank 0). */
export function loraTensors(
  layers: readonly ManifestLayer[],
  packed: ReadonlyMap<string, LayerFeeds>,
): Record<string, ort.Tensor> {
  const tensors: Record<string, ort.Tensor> = {};
  for (const layer of layers) {
    const feeds = packed.get(layer.name);
    if (!feeds) continue;
    for (const pair of pairs(layer)) {
      const feed = pair.feed(feeds);
      if (!feed) continue;
      tensors[pair.loraA] = tensor(layer, feed.a, [layer.in, feed.rank]);
      tensors[pair.loraB] = tensor(layer, feed.b, [feed.rank, pair.rows]);
    }
  }
  return tensors;
}

/** Every LoRA input of `layers`: `given` where it has one, rank 0 (empty) elsewhere. */
export function allLoraTensors(
  layers: readonly ManifestLayer[],
  given: Readonly<Record<string, ort.Tensor>> = {},
): Record<string, ort.Tensor> {
  const empty = (layer: ManifestLayer) =>
    layer.loraDType === 'float16' ? new Uint16Array(0) : new Float32Array(0);
  const tensors: Record<string, ort.Tensor> = {};
  for (const layer of layers) {
    for (const pair of pairs(layer)) {
      tensors[pair.loraA] = given[pair.loraA] ?? tensor(layer, empty(layer), [layer.in, 0]);
      tensors[pair.loraB] = given[pair.loraB] ?? tensor(layer, empty(layer), [0, pair.rows]);
    }
  }
  return tensors;
}
