/**
 * @module lora/pack-loras
 * A request's LoRAs as the transformer's runtime inputs (ARCHITECTURE.md decision 2, lora.md §8.3).
 * A layer has a whole-layer input pair and one per part of a fused weight (q, k, v, the single
 * blocks' MLP and attention rows: arch/flux-layers.ts). Each block goes to the pair whose rows are
 * exactly its own, so a split q/k/v LoRA is packed as its own factors, with no zero rows; a block
 * whose rows match no part goes to the whole-layer pair with zeros in B outside its rows (exact, only
 * larger: never the case for the formats parse-lora maps, and every block of a model dir built
 * before the parts existed). Per pair, the blocks of every LoRA are concatenated along the rank,
 * `A [in, R]` carrying each block's `userScale · adapterScale` in its columns, so `x·A·B` is exactly
 * `x · Σ scaleᵢ·ΔWᵢᵀ` on the pair's rows.
 *
 * A fused-layer LoRA (BFL, kohya, ComfyUI) stays whole rather than being split into the parts:
 * split, its A would be sent once per part, 1.5× its own bytes on a qkv layer and 1.375× on linear1,
 * against exactly 1× as it is. For an fp16 graph each pair's feed is rounded to fp16 as soon as it is
 * packed: the same values the graph's own cast of float32 inputs gave, without a float32 copy of the
 * whole set next to the fp16 one.
 */
import type { ComputeDType } from '../arch/build-context.js';
import type { LinearLayer } from '../arch/param-tensor.js';
import { errors } from '../errors.js';
import { f32ToF16 } from '../weights/float16.js';
import type { LoraBlock, ParsedLora } from './parsed-lora.js';

/** Float32 values, or the IEEE half-precision bit patterns of an fp16 feed. */
export type LoraValues = Float32Array | Uint16Array;

/** The feed of one input pair. */
export interface LoraFeed {
  /** [in, rank], row-major. */
  readonly a: LoraValues;
  /** [rank, rows of the pair], row-major. */
  readonly b: LoraValues;
  readonly rank: number;
}

/** A layer's feeds: `whole` for `lora.<layer>.a/b`, `parts` for `lora.<layer>.<part>.a/b`. Absent = rank 0. */
export interface LayerFeeds {
  readonly whole?: LoraFeed;
  readonly parts: ReadonlyMap<string, LoraFeed>;
}

/** A layer to pack for, in the dtype of its LoRA inputs (absent: float32). */
export type PackLayer = LinearLayer & { readonly loraDType?: ComputeDType };

/** The rows of one input pair; `part` absent for the whole layer. */
interface Slot {
  readonly part?: string;
  readonly offset: number;
  readonly rows: number;
}

interface Scaled {
  readonly block: LoraBlock;
  readonly scale: number;
}

export interface LoraEntry {
  readonly lora: ParsedLora;
  /** The user's strength; 0 drops the LoRA, negatives are valid ("slider" LoRAs). */
  readonly scale: number;
}

function slotOf(layer: LinearLayer, block: LoraBlock): Slot {
  const part = layer.parts?.find((p) => p.offset === block.rowOffset && p.rows === block.rows);
  return part ? { part: part.name, offset: part.offset, rows: part.rows } : { offset: 0, rows: layer.out };
}

/**
 * Float32 working memory for fp16 feeds, reused from pair to pair: only the fp16 arrays are fresh
 * allocations, and packing five full-size LoRAs is mostly first touches of fresh pages.
 */
class Scratch {
  private buffer = new Float32Array(0);

  /** `n` zeros. */
  take(n: number): Float32Array {
    if (this.buffer.length < n) this.buffer = new Float32Array(n);
    return this.buffer.subarray(0, n).fill(0);
  }
}

function pack(
  layer: PackLayer,
  slot: Slot,
  scaled: readonly Scaled[],
  scratch: [Scratch, Scratch],
): LoraFeed {
  const R = scaled.reduce((n, s) => n + s.block.rank, 0);
  const fp16 = layer.loraDType === 'float16';
  const a = fp16 ? scratch[0].take(layer.in * R) : new Float32Array(layer.in * R);
  const b = fp16 ? scratch[1].take(R * slot.rows) : new Float32Array(R * slot.rows);
  let at = 0;
  for (const { block, scale } of scaled) {
    const { rank, rows } = block;
    for (let i = 0; i < layer.in; i++) {
      const src = i * rank;
      const dst = i * R + at;
      for (let k = 0; k < rank; k++) a[dst + k] = scale * (block.a[src + k] as number);
    }
    const column = block.rowOffset - slot.offset;
    for (let k = 0; k < rank; k++)
      b.set(block.b.subarray(k * rows, (k + 1) * rows), (at + k) * slot.rows + column);
    at += rank;
  }
  return fp16 ? { a: f32ToF16(a), b: f32ToF16(b), rank: R } : { a, b, rank: R };
}

/** The bytes of every input a set of feeds fills (what each run uploads). */
export function packedBytes(feeds: ReadonlyMap<string, LayerFeeds>): number {
  let bytes = 0;
  for (const { whole, parts } of feeds.values()) {
    for (const f of [whole, ...parts.values()]) if (f) bytes += f.a.byteLength + f.b.byteLength;
  }
  return bytes;
}

/**
 * Packs LoRAs into per-layer runtime inputs, each in its layer's LoRA input dtype. Layers no LoRA
 * touches are absent, and so are the pairs of a layer no block goes to (rank 0).
 *
 * @throws FluxServeError FLUX_ERR_LORA when a LoRA was parsed for another model config, or a scale is not finite
 *
 * @example
 * const feeds = packLoras(fluxLinears(config), [{ lora: style, scale: 0.8 }, { lora: subject, scale: 1 }]);
 * const qkv = feeds.get('double_blocks.0.img_attn.qkv'); // { whole?: { a, b, rank }, parts: Map { 'q' → … } }
 */
export function packLoras(
  layers: readonly PackLayer[],
  entries: readonly LoraEntry[],
): Map<string, LayerFeeds> {
  const byName = new Map(layers.map((l) => [l.name, l]));
  for (const { lora, scale } of entries) {
    if (!Number.isFinite(scale)) throw errors.LORA(lora.name, `scale must be a finite number, got ${scale}`);
    for (const [name, blocks] of lora.layers) {
      const layer = byName.get(name);
      const bad = blocks.find(
        (b) => layer && (b.a.length !== layer.in * b.rank || b.rowOffset + b.rows > layer.out),
      );
      if (!layer || bad) {
        const why = layer ? 'has other dimensions here' : 'is not a layer of this model';
        throw errors.LORA(lora.name, `was parsed for another model: layer ${name} ${why}`);
      }
    }
  }
  const active = entries.filter((e) => e.scale !== 0);
  const feeds = new Map<string, LayerFeeds>();
  const scratch: [Scratch, Scratch] = [new Scratch(), new Scratch()];
  for (const layer of layers) {
    const bySlot = new Map<string | undefined, { slot: Slot; scaled: Scaled[] }>();
    for (const { lora, scale } of active) {
      for (const block of lora.layers.get(layer.name) ?? []) {
        if (block.rank === 0) continue;
        const slot = slotOf(layer, block);
        const entry = bySlot.get(slot.part) ?? { slot, scaled: [] };
        entry.scaled.push({ block, scale: scale * block.scale });
        bySlot.set(slot.part, entry);
      }
    }
    if (bySlot.size === 0) continue;
    const parts = new Map<string, LoraFeed>();
    let whole: LoraFeed | undefined;
    for (const { slot, scaled } of bySlot.values()) {
      const feed = pack(layer, slot, scaled, scratch);
      if (slot.part === undefined) whole = feed;
      else parts.set(slot.part, feed);
    }
    feeds.set(layer.name, whole ? { whole, parts } : { parts });
  }
  return feeds;
}
