/**
 * @module hub/pinned-lookup
 * A `lookup` for http(s).request that answers with addresses already vetted, never asking DNS
 * again. Checking a name and then letting the socket resolve it a second time would let a hostile
 * DNS server answer "public" to the check and "10.0.0.1" to the connect (DNS rebinding); with the
 * answer pinned the socket goes exactly where the check looked, while the Host header and the TLS
 * server name still come from the URL's hostname.
 */
import type { LookupFunction } from 'node:net';

/** An address from a resolver, as `dns.lookup(host, { all: true })` returns them. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: number;
}

/**
 * A lookup function that always returns `addresses` (all of them when the socket asks for all,
 * e.g. for happy-eyeballs family selection; otherwise the first).
 *
 * @example
 * http.request({ host: 'example.com', lookup: pinnedLookup([{ address: '93.184.215.14', family: 4 }]) });
 */
export function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  const first = addresses[0];
  if (first === undefined) throw new Error('pinnedLookup needs at least one address');
  return (_hostname, options, callback) => {
    if (options?.all) {
      callback(
        null,
        addresses.map((a) => ({ address: a.address, family: a.family })),
      );
    } else {
      callback(null, first.address, first.family);
    }
  };
}
