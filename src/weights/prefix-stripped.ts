/**
 * @module weights/prefix-stripped
 * Single-file checkpoints from ComfyUI and similar tools nest the transformer under a prefix such
 * as `model.diffusion_model.`. Stripping it lets the graph builder use one set of names for all.
 */
import type { TensorInfo, WeightSource } from './weight-source.js';

class PrefixStripped implements WeightSource {
  constructor(
    private readonly inner: WeightSource,
    private readonly prefix: string,
  ) {}

  names(): string[] {
    // Dropping a common prefix keeps the sort order.
    return this.inner.names().map((n) => n.slice(this.prefix.length));
  }

  has(name: string): boolean {
    return this.inner.has(this.prefix + name);
  }

  info(name: string): TensorInfo {
    return this.inner.info(this.prefix + name);
  }

  readF32(name: string): Promise<Float32Array> {
    return this.inner.readF32(this.prefix + name);
  }

  readF16(name: string): Promise<Uint16Array> {
    return this.inner.readF16(this.prefix + name);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Exposes `prefix + name` as `name` when every tensor name starts with `prefix`; otherwise (or for an
 * empty prefix or an empty source) returns `source` itself, so it is safe to apply unconditionally.
 * Errors for missing tensors name the full, prefixed tensor.
 *
 * @example
 * const weights = prefixStripped(await openCheckpoint([file]), 'model.diffusion_model.');
 * weights.has('img_in.weight'); // true for ComfyUI and for diffusers-free BFL files alike
 */
export function prefixStripped(source: WeightSource, prefix: string): WeightSource {
  const names = source.names();
  if (prefix === '' || names.length === 0 || !names.every((n) => n.startsWith(prefix))) return source;
  return new PrefixStripped(source, prefix);
}
