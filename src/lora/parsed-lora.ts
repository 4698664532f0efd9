/**
 * @module lora/parsed-lora
 * A LoRA converted to what the runtime consumes: per BFL layer, low-rank blocks already laid out as
 * the graph's inputs want them (`a [in, k]`, `b [k, rows]`), so packing a request's LoRAs is copies
 * and one multiply per value. This is what the worker caches, hence the byte count.
 */
import type { LoraReport } from './lora-report.js';

/** One source module's exact delta on rows `[rowOffset, rowOffset + rows)` of a layer: `scale · (a · b)ᵀ`. */
export interface LoraBlock {
  /** [in, rank], row-major: the down factor transposed. */
  readonly a: Float32Array;
  /** [rank, rows], row-major: the up factor transposed, rows in the BFL layer's order. */
  readonly b: Float32Array;
  readonly rank: number;
  readonly rowOffset: number;
  readonly rows: number;
  /** The adapter's own scaling (α / r, α / √r for rsLoRA, or 1); the user scale multiplies it. */
  readonly scale: number;
}

export interface ParsedLora {
  readonly name: string;
  /** BFL layer name → its blocks, in file order. */
  readonly layers: ReadonlyMap<string, readonly LoraBlock[]>;
  readonly report: LoraReport;
}

/** Fixed cost per block and per LoRA (objects, report), a rough allowance beside the arrays. */
const BLOCK_OVERHEAD = 128;
const LORA_OVERHEAD = 4096;

/**
 * Bytes a parsed LoRA holds in memory, for the cache's bound.
 *
 * @example
 * const bytes = loraByteSize(parseLora(fileBytes, config)); // ≈ 2× a 16-bit file's size
 */
export function loraByteSize(lora: ParsedLora): number {
  let bytes = LORA_OVERHEAD + 64 * lora.report.ignored.length;
  for (const blocks of lora.layers.values()) {
    for (const b of blocks) bytes += b.a.byteLength + b.b.byteLength + BLOCK_OVERHEAD;
  }
  return bytes;
}
