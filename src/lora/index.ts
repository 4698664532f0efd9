/**
 * @module lora
 * Reading FLUX.1 LoRA files of every common format and packing up to five into the transformer's
 * runtime low-rank inputs. Bytes in, typed arrays out: no files, HTTP or ONNX Runtime here.
 *
 * @example
 * import { fluxLinears } from '../arch/flux-layers.js';
 * import { loraWarnings, packLoras, parseLora } from './lora/index.js';
 * const parsed = parseLora(await readFile(path), config, { name: 'style.safetensors' });
 * warnings.push(...loraWarnings(parsed.report));
 * const feeds = packLoras(fluxLinears(config), [{ lora: parsed, scale: 0.8 }]);
 */
export type { Algorithm } from './adapter-factors.js';
export type { AlphaSource } from './lora-alpha.js';
export { MAX_EXACT_RANK } from './lora-block.js';
export { LoraCache } from './lora-cache.js';
export type { IgnoreReason } from './lora-keys.js';
export { type IgnoredKey, type LoraFormat, type LoraReport, loraWarnings } from './lora-report.js';
export {
  type LayerFeeds,
  type LoraEntry,
  type LoraFeed,
  type LoraValues,
  type PackLayer,
  packedBytes,
  packLoras,
} from './pack-loras.js';
export { type ParseOptions, parseLora } from './parse-lora.js';
export { type LoraBlock, loraByteSize, type ParsedLora } from './parsed-lora.js';
