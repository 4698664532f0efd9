/**
 * @module lora/lora-cache
 * Parsed LoRAs kept in memory by content hash, least recently used first out, bounded by bytes:
 * a LoRA repeated across requests costs no parsing, and a few large ones cannot exhaust memory.
 * A cache holds LoRAs parsed for one model config (the worker has one).
 */
import { loraByteSize, type ParsedLora } from './parsed-lora.js';

export class LoraCache {
  readonly #entries = new Map<string, { lora: ParsedLora; bytes: number }>();
  #bytes = 0;

  /** @param maxBytes - the bound on the sum of `loraByteSize` of the cached LoRAs */
  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached LoRA, now the most recently used. */
  get(hash: string): ParsedLora | undefined {
    const e = this.#entries.get(hash);
    if (!e) return undefined;
    this.#entries.delete(hash);
    this.#entries.set(hash, e);
    return e.lora;
  }

  /** Caches `lora`, evicting the least recently used; a LoRA larger than the bound is not kept. */
  set(hash: string, lora: ParsedLora): void {
    this.delete(hash);
    const bytes = loraByteSize(lora);
    if (bytes > this.maxBytes) return;
    this.#entries.set(hash, { lora, bytes });
    this.#bytes += bytes;
    for (const [key, e] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(key);
      this.#bytes -= e.bytes;
    }
  }

  delete(hash: string): boolean {
    const e = this.#entries.get(hash);
    if (!e) return false;
    this.#entries.delete(hash);
    this.#bytes -= e.bytes;
    return true;
  }

  /**
   * The cached LoRA, or `parse()`'s result cached under `hash`.
   *
   * @example
   * const cache = new LoraCache(2 * 1024 ** 3); // 2 GiB
   * const lora = cache.getOrParse(sha256, () => parseLora(bytes, config, { name }));
   */
  getOrParse(hash: string, parse: () => ParsedLora): ParsedLora {
    const hit = this.get(hash);
    if (hit) return hit;
    const lora = parse();
    this.set(hash, lora);
    return lora;
  }
}
