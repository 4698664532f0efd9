/**
 * @module hub
 * Fetching user-supplied URLs (images, LoRAs) under the private-network policy of api.md.
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
export { pinnedLookup, type ResolvedAddress } from './pinned-lookup.js';
export { type FetchedFile, type SafeFetchOptions, safeFetch } from './safe-fetch.js';
