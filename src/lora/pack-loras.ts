/**
 * @module lora/pack-loras
 * A request's LoRAs as the transformer's runtime inputs (ARCHITECTURE.md decision 2, lora.md §8.3):
 * per layer, every block of every LoRA concatenated along the rank, `A [in, R]` carrying each
 * block's `userScale · adapterScale` in its columns, `B [R, out]` holding each block's rows at its
 * row offset and zeros elsewhere (so split q/k/v factors land exactly in the fused weight's rows).
 * `x·A·B` is then exactly `x · Σ scaleᵢ·ΔWᵢᵀ`.
 */
import type { LinearLayer } from '../arch/param-tensor.js';
import { errors } from '../errors.js';
import type { LoraBlock, ParsedLora } from './parsed-lora.js';

/** One layer's feeds for `lora.<layer>.a` and `lora.<layer>.b`. */
export interface LoraFeed {
  /** [in, rank], row-major. */
  readonly a: Float32Array;
  /** [rank, out], row-major. */
  readonly b: Float32Array;
  readonly rank: number;
}

export interface LoraEntry {
  readonly lora: ParsedLora;
  /** The user's strength; 0 drops the LoRA, negatives are valid ("slider" LoRAs). */
  readonly scale: number;
}

function place(layer: LinearLayer, feed: LoraFeed, block: LoraBlock, at: number, scale: number): void {
  const { a, b, rank: R } = feed;
  const { rank, rows, rowOffset } = block;
  for (let i = 0; i < layer.in; i++) {
    const src = i * rank;
    const dst = i * R + at;
    for (let k = 0; k < rank; k++) a[dst + k] = scale * (block.a[src + k] as number);
  }
  for (let k = 0; k < rank; k++)
    b.set(block.b.subarray(k * rows, (k + 1) * rows), (at + k) * layer.out + rowOffset);
}

/**
 * Packs LoRAs into per-layer runtime inputs. Layers no LoRA touches are absent (feed rank 0).
 *
 * @throws FluxServeError FLUX_ERR_LORA when a LoRA was parsed for another model config, or a scale is not finite
 *
 * @example
 * const feeds = packLoras(fluxLinears(config), [{ lora: style, scale: 0.8 }, { lora: subject, scale: 1 }]);
 * const qkv = feeds.get('double_blocks.0.img_attn.qkv'); // { a: [in·R], b: [R·out], rank: R }
 */
export function packLoras(
  layers: readonly LinearLayer[],
  entries: readonly LoraEntry[],
): Map<string, LoraFeed> {
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
  const feeds = new Map<string, LoraFeed>();
  for (const layer of layers) {
    const parts = active.flatMap(({ lora, scale }) =>
      (lora.layers.get(layer.name) ?? []).map((block) => ({ block, scale: scale * block.scale })),
    );
    const rank = parts.reduce((n, p) => n + p.block.rank, 0);
    if (rank === 0) continue;
    const feed = { a: new Float32Array(layer.in * rank), b: new Float32Array(rank * layer.out), rank };
    let at = 0;
    for (const { block, scale } of parts) {
      place(layer, feed, block, at, scale);
      at += block.rank;
    }
    feeds.set(layer.name, feed);
  }
  return feeds;
}
