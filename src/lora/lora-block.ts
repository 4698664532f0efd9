/**
 * @module lora/lora-block
 * Turns an adapter's exact factorisation into the runtime block layout, choosing the cheaper exact
 * form: its own factors, or — when their rank exceeds min(rows, in) — the dense delta through an
 * identity factor. Ranks above the limit are refused rather than approximated.
 */
import { errors } from '../errors.js';
import type { Factored } from './adapter-factors.js';
import type { Target } from './lora-targets.js';
import { identity, type Matrix, transpose } from './matrix.js';
import type { LoraBlock } from './parsed-lora.js';

/**
 * Default for the largest rank one LoRA may give one layer. Each unit of rank costs (in + out)
 * multiply-adds per token against the layer's in·out, so at 1024 a 3072×3072 layer's LoRA branch
 * costs 2/3 of the layer itself; a full `diff` or a LoKr with two full factors on real FLUX layers
 * (rank 3072) is beyond it and refused with the layer and rank named. Plain LoRAs never come near.
 */
export const MAX_EXACT_RANK = 1024;

/** Swaps the two halves of the rows axis of `b [rank, rows]` (diffusers [scale; shift] → BFL [shift; scale]). */
function swapHalves(b: Float32Array, rank: number, rows: number): void {
  const half = rows / 2;
  const tmp = new Float32Array(half);
  for (let k = 0; k < rank; k++) {
    const row = b.subarray(k * rows, (k + 1) * rows);
    tmp.set(row.subarray(0, half));
    row.copyWithin(0, half);
    row.set(tmp, half);
  }
}

/**
 * @throws FluxServeError FLUX_ERR_LORA when the exact rank exceeds `maxRank`, or a value overflows
 *
 * @example
 * const block = loraBlock('style', target, 'transformer.x_embedder', factored, 0.5, MAX_EXACT_RANK);
 */
export function loraBlock(
  lora: string,
  target: Target,
  module: string,
  f: Factored,
  scale: number,
  maxRank: number,
): LoraBlock {
  const { rows, layer } = target;
  const denseRank = Math.min(rows, layer.in);
  const rank = Math.min(f.rank, denseRank);
  if (rank > maxRank) {
    throw errors.LORA(
      lora,
      `${f.algorithm} module ${module} on ${layer.name} needs rank ${rank} to be applied exactly, ` +
        `above the limit of ${maxRank} per layer`,
    );
  }
  let up: Matrix;
  let down: Matrix;
  if (f.rank <= denseRank) ({ up, down } = f.factors());
  else {
    const delta = f.dense();
    ({ up, down } =
      rows <= layer.in ? { up: identity(rows), down: delta } : { up: delta, down: identity(layer.in) });
  }
  const a = transpose(down).data;
  const b = transpose(up).data;
  if (target.swapHalves) swapHalves(b, rank, rows);
  for (const values of [a, b]) {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        throw errors.LORA(lora, `${f.algorithm} module ${module} overflows float32 (${values[i]})`);
      }
    }
  }
  return { a, b, rank, rowOffset: target.rowOffset, rows, scale };
}
