/**
 * @module hub
 * Fetching user-supplied URLs (images, LoRAs) under the private-network policy of api.md, and
 * resolving a request's LoRA path (folder file, URL, hub repo) to a cached local file.
 */
export {
  type AddressClass,
  type AddressPolicy,
  classifyAddress,
  describeAddress,
  isAllowed,
} from './address-policy.js';
export { displayUrl, fetchError, formatBytes } from './fetch-errors.js';
export {
  type FetchTarget,
  type HostLookup,
  parseFetchUrl,
  resolveFetchTarget,
  systemLookup,
} from './fetch-target.js';
export {
  DEFAULT_LORA_MAX_BYTES,
  DEFAULT_REF_TTL_MS,
  type ResolvedLora,
  type ResolveLoraOptions,
  resolveLora,
} from './lora-resolve.js';
export { pinnedLookup, type ResolvedAddress } from './pinned-lookup.js';
export { type DownloadedFile, discardPart, type SafeDownloadOptions, safeDownload } from './safe-download.js';
export { type FetchedFile, type SafeFetchOptions, safeFetch } from './safe-fetch.js';
