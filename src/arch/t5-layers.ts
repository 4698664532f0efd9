/**
 * @module arch/t5-layers
 * The single source of truth for T5 v1.1 encoder tensor names (HF T5EncoderModel keys, flux.md §2.2),
 * their shapes, and T5's relative-position bucketing. The graph builder, the weight check and the
 * random-weight writer all derive from these functions.
 */
import type { LinearLayer, ParamTensor } from './param-tensor.js';
import type { T5Config } from './t5-config.js';

/** The token embedding's key; `encoder.embed_tokens.weight` (tied to it) is accepted instead. */
export const T5_EMBEDDING = 'shared.weight';
/** Every key the token embedding may be stored under, in order of preference. */
export const T5_EMBEDDING_NAMES = [T5_EMBEDDING, 'encoder.embed_tokens.weight'] as const;
/** Block 0's relative-position table [buckets, heads], shared by every block. */
export const T5_RELATIVE_BIAS = 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight';
export const T5_FINAL_NORM = 'encoder.final_layer_norm';

/** Module paths of block `i`: the attention sub-layer (`layer.0`) and the FFN sub-layer (`layer.1`). */
export function t5BlockPaths(i: number): { attn: string; ffn: string } {
  return { attn: `encoder.block.${i}.layer.0`, ffn: `encoder.block.${i}.layer.1` };
}

/** Every bias-free linear of the encoder in graph order (weight `<name>.weight`, [out, in]). */
export function t5Linears(c: T5Config): LinearLayer[] {
  const layers: LinearLayer[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const { attn, ffn } = t5BlockPaths(i);
    for (const p of ['q', 'k', 'v'])
      layers.push({ name: `${attn}.SelfAttention.${p}`, in: c.dModel, out: c.innerDim });
    layers.push(
      { name: `${attn}.SelfAttention.o`, in: c.innerDim, out: c.dModel },
      { name: `${ffn}.DenseReluDense.wi_0`, in: c.dModel, out: c.dFf },
      { name: `${ffn}.DenseReluDense.wi_1`, in: c.dModel, out: c.dFf },
      { name: `${ffn}.DenseReluDense.wo`, in: c.dFf, out: c.dModel },
    );
  }
  return layers;
}

/** The RMSNorm modules (weight `<name>.weight`, [dModel]), two per block plus the final one. */
export function t5Norms(c: T5Config): string[] {
  const names: string[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const { attn, ffn } = t5BlockPaths(i);
    names.push(`${attn}.layer_norm`, `${ffn}.layer_norm`);
  }
  names.push(T5_FINAL_NORM);
  return names;
}

/**
 * Every tensor of a T5EncoderModel checkpoint, with the embedding under `shared.weight`:
 * 219 tensors and 4,762,310,656 parameters for t5-v1_1-xxl.
 */
export function t5Tensors(c: T5Config): ParamTensor[] {
  const tensors: ParamTensor[] = [{ name: T5_EMBEDDING, shape: [c.vocabSize, c.dModel] }];
  for (const l of t5Linears(c)) tensors.push({ name: `${l.name}.weight`, shape: [l.out, l.in] });
  tensors.push({ name: T5_RELATIVE_BIAS, shape: [c.numBuckets, c.numHeads] });
  for (const n of t5Norms(c)) tensors.push({ name: `${n}.weight`, shape: [c.dModel] });
  return tensors;
}

/**
 * T5's bidirectional relative-position bucket of `rel` = key position − query position
 * (HF `T5Attention._relative_position_bucket`, flux.md §2.2): half the buckets per direction
 * (keys to the right, rel > 0, use the upper half); within a half, distances below a quarter of
 * the buckets are exact and the rest are log-spaced up to `maxDistance`, beyond which they saturate.
 *
 * @example t5RelativeBucket(-20, 32, 128) === 10; t5RelativeBucket(20, 32, 128) === 26
 */
export function t5RelativeBucket(rel: number, numBuckets: number, maxDistance: number): number {
  if (!Number.isInteger(rel)) throw new RangeError(`relative position ${rel} is not an integer`);
  const half = Math.floor(numBuckets / 2);
  const maxExact = Math.floor(half / 2);
  const n = Math.abs(rel);
  const base = rel > 0 ? half : 0;
  if (n < maxExact) return base + n;
  // float64 gives exact integers at the powers (n = 16, 32, 64 for XXL), as the spec's table needs.
  const large =
    maxExact + Math.floor((Math.log(n / maxExact) / Math.log(maxDistance / maxExact)) * (half - maxExact));
  return base + Math.min(half - 1, large);
}

/**
 * The bucket of every rel in [-maxDistance, maxDistance] (index rel + maxDistance). Every distance
 * at or beyond maxDistance falls in its direction's last bucket, so clamping rel to that range and
 * looking it up is exact for any sequence length; the graph does exactly that.
 */
export function t5BucketTable(numBuckets: number, maxDistance: number): number[] {
  return Array.from({ length: 2 * maxDistance + 1 }, (_, i) =>
    t5RelativeBucket(i - maxDistance, numBuckets, maxDistance),
  );
}
