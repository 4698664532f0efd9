/**
 * @module hub/fetch-target
 * Turns a user-supplied URL into a place a fetch may connect to: http(s) only, no credentials,
 * and the host resolved here (all addresses) and refused if any of them breaks the address policy.
 * Refusing when only one of several addresses is bad matters: the socket may pick any of them, and
 * a hostile name can list a public address first to pass a check that looks only at it.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type AddressPolicy, describeAddress, isAllowed } from './address-policy.js';
import { displayUrl, fetchError } from './fetch-errors.js';
import type { ResolvedAddress } from './pinned-lookup.js';

/** Resolves a hostname to all its addresses (injected by tests, so that no query leaves the host). */
export type HostLookup = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** A URL that passed every check, with the addresses a socket may use for it. */
export interface FetchTarget {
  readonly url: URL;
  /** The hostname without IPv6 brackets, as http.request's `host` wants it. */
  readonly hostname: string;
  readonly addresses: readonly ResolvedAddress[];
}

/**
 * The system resolver (getaddrinfo, so /etc/hosts counts), every address in the order given.
 *
 * @example
 * await systemLookup('localhost'); // [{ address: '127.0.0.1', family: 4 }, …]
 */
export const systemLookup: HostLookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * Parses `raw` (a request field, or a redirect's Location resolved against `base`) and checks its
 * scheme and credentials. The WHATWG parser normalises hosts first, so `http://0x7f.1/` and
 * `http://2130706433/` are seen as 127.0.0.1 here and by the socket alike.
 *
 * @throws FluxServeError FLUX_ERR_USAGE for an invalid URL, a scheme other than http(s), or credentials
 *
 * @example
 * parseFetchUrl('image', 'https://example.com/cat.png'); // URL
 * parseFetchUrl('image', 'file:///etc/passwd'); // throws: only http and https URLs are fetched
 */
export function parseFetchUrl(field: string, raw: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch (cause) {
    throw fetchError(field, `${JSON.stringify(displayUrl(raw))} is not a valid URL`, cause);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw fetchError(
      field,
      `refused to download ${displayUrl(url)}: only http and https URLs are downloaded, not ${url.protocol}`,
    );
  }
  // Credentials would be sent to whatever the URL names; a request field has no business with them.
  if (url.username !== '' || url.password !== '') {
    throw fetchError(field, `refused to download ${displayUrl(url)}: URLs with credentials are not accepted`);
  }
  return url;
}

/** Rejects with `signal`'s reason as soon as it aborts (dns.lookup cannot be cancelled). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Why the policy refuses `url`'s host when it is an IP literal (`"127.0.0.1 is a loopback address"`),
 * else undefined: names are only judged once resolved.
 */
export function refusedLiteral(url: URL, policy: AddressPolicy): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) !== 0 && !isAllowed(host, policy) ? `${host} is ${describeAddress(host)}` : undefined;
}

/** The longest DNS name (RFC 1035: 255 octets on the wire, 253 characters written). */
const MAX_HOSTNAME_CHARS = 253;

/**
 * Resolves `url`'s host and checks every address against `policy`. IP-literal hosts are checked
 * as they are, without a lookup.
 *
 * @throws FluxServeError FLUX_ERR_USAGE when the host does not resolve or any address is refused;
 *   an abort of `signal` rejects with the signal's reason
 *
 * @example
 * const target = await resolveFetchTarget('image', new URL('http://10.0.0.1/x.png'), {}, systemLookup);
 * // throws: image: refused to download http://10.0.0.1/x.png: 10.0.0.1 is a private address
 */
export async function resolveFetchTarget(
  field: string,
  url: URL,
  policy: AddressPolicy,
  lookup: HostLookup,
  signal?: AbortSignal,
): Promise<FetchTarget> {
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const refuse = (why: string) => fetchError(field, `refused to download ${displayUrl(url)}: ${why}`);
  const literal = isIP(hostname);
  if (literal !== 0) {
    const refused = refusedLiteral(url, policy);
    if (refused) throw refuse(refused);
    return { url, hostname, addresses: [{ address: hostname, family: literal }] };
  }
  // DNS names are at most 253 characters; a longer one cannot resolve, and would only fill errors and logs.
  if (hostname.length > MAX_HOSTNAME_CHARS)
    throw refuse(`a host name of ${hostname.length} characters (DNS allows ${MAX_HOSTNAME_CHARS})`);
  let addresses: readonly ResolvedAddress[];
  try {
    addresses = await raceAbort(lookup(hostname), signal);
  } catch (cause) {
    if (signal?.aborted) throw cause;
    const code = (cause as { code?: string }).code ?? (cause as Error).message;
    throw fetchError(field, `cannot resolve ${hostname} (${code})`, cause);
  }
  if (addresses.length === 0) throw refuse(`${hostname} has no address`);
  for (const { address } of addresses) {
    if (isIP(address.replace(/%.*$/, '')) === 0) {
      throw refuse(`${hostname} resolves to ${JSON.stringify(address)}, which is not an IP address`);
    }
    if (!isAllowed(address, policy)) {
      throw refuse(`${hostname} resolves to ${address}, which is ${describeAddress(address)}`);
    }
  }
  // The socket gets the family from the address itself, not from the resolver's claim.
  return {
    url,
    hostname,
    addresses: addresses.map(({ address }) => ({ address, family: isIP(address.replace(/%.*$/, '')) })),
  };
}
