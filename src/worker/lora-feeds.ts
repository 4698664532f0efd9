/**
 * @module worker/lora-feeds
 * A request's LoRAs as the transformer's `lora.*` input tensors. Parsed LoRAs are kept in memory by
 * content hash (LRU by bytes), so a repeated LoRA costs no reading or conversion; the packed inputs
 * of the last LoRA set are kept too, because packing five full-size LoRAs takes seconds and
 * consecutive tasks often share their set. The files are local by now: the server (or the CLI)
 * downloaded them and filled in `file` and `sha256`.
 */
import { readFile } from 'node:fs/promises';
import type * as ort from 'onnxruntime-node';
import type { FluxConfig } from '../arch/flux-config.js';
import { errors } from '../errors.js';
import { LoraCache, loraWarnings, packLoras, parseLora } from '../lora/index.js';
import { type LoraSummary, loraSummary } from '../lora/lora-report.js';
import type { LoraRequest } from '../pipeline/generation-request.js';
import { loraTensors } from '../pipeline/lora-tensors.js';
import type { ManifestLayer } from '../runtime/manifest.js';

export interface PreparedLoras {
  readonly tensors: Readonly<Record<string, ort.Tensor>>;
  /** Keys that matched no layer, per LoRA (api.md `warnings`). */
  readonly warnings: string[];
  /** Each LoRA's load report in short (format, layers, rank, alpha source, ignored keys), for the log. */
  readonly reports: LoraSummary[];
  /** LoRAs found parsed in memory, and LoRAs read and converted for this request. */
  readonly hits: number;
  readonly misses: number;
}

export class LoraFeeds {
  private readonly parsed: LoraCache;
  private last: { readonly key: string; readonly tensors: Record<string, ort.Tensor> } | undefined;

  /** @param maxBytes memory for parsed LoRAs (the packed set of the last request comes on top). */
  constructor(
    private readonly config: FluxConfig,
    private readonly layers: readonly ManifestLayer[],
    maxBytes: number,
  ) {
    this.parsed = new LoraCache(maxBytes);
  }

  /** @example const { tensors, warnings, reports } = await feeds.prepare(request.loras); */
  async prepare(loras: readonly LoraRequest[]): Promise<PreparedLoras> {
    const warnings: string[] = [];
    const reports: LoraSummary[] = [];
    const entries = [];
    let hits = 0;
    for (const [i, l] of loras.entries()) {
      if (!l.file || !l.sha256)
        throw errors.USAGE(`loras[${i}].path: ${l.path} was not made local before rendering`);
      let lora = this.parsed.get(l.sha256);
      if (lora) hits++;
      else {
        lora = parseLora(await readFile(l.file), this.config, { name: l.path });
        this.parsed.set(l.sha256, lora);
      }
      warnings.push(...loraWarnings(lora.report));
      reports.push(loraSummary(l.path, lora.report));
      entries.push({ lora, scale: l.scale });
    }
    const key = JSON.stringify(loras.map((l) => [l.sha256, l.scale]));
    if (this.last?.key !== key) {
      // Drop the old set before packing the new one: both at once can be gigabytes.
      this.last = undefined;
      const tensors = loraTensors(this.layers, packLoras(this.layers, entries));
      this.last = { key, tensors };
    }
    return { tensors: this.last.tensors, warnings, reports, hits, misses: loras.length - hits };
  }
}
