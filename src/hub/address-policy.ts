/**
 * @module hub/address-policy
 * Which IP addresses a server that fetches user-supplied URLs may connect to (api.md, "URL
 * fetching"). Anything that is not globally reachable unicast is refused unless configuration
 * allows it, so the server never becomes a proxy into the network it runs in. Ranges follow the
 * IANA special-purpose registries (RFC 6890 and successors); addresses that carry an IPv4 address
 * (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by that IPv4 address, because that is
 * where a packet to them ends up.
 */
import { isIP } from 'node:net';
import { errors } from '../errors.js';

/**
 * What kind of destination an address is. Only `public` is reachable without configuration;
 * `loopback` and `private`/`shared` can be allowed; the rest never are.
 */
export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link-local'
  | 'metadata'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'reserved';

/** Exceptions to "public only", from configuration. */
export interface AddressPolicy {
  /** 127.0.0.0/8 and ::1 (tests, a model server on the same host). */
  readonly allowLoopback?: boolean;
  /** RFC 1918, unique-local fc00::/7, site-local fec0::/10 and CGNAT 100.64.0.0/10 (LAN, VPN, Tailscale). */
  readonly allowPrivate?: boolean;
}

/** Embedded IPv4 address: judge the address by what it carries. */
type Embedded = { readonly embedded: 'low32' | '6to4' };
type Rule = readonly [cidr: string, verdict: AddressClass | Embedded];

const V4_RULES: readonly Rule[] = [
  ['0.0.0.0/8', 'unspecified'], // "this network"; Linux connects 0.0.0.0 to the local host
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared'], // carrier-grade NAT, also Tailscale
  ['100.100.100.200/32', 'metadata'], // Alibaba Cloud metadata service, inside the CGNAT block
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['169.254.169.254/32', 'metadata'], // AWS, GCP, Azure, OpenStack, DigitalOcean, …
  ['169.254.170.2/32', 'metadata'], // AWS ECS task credentials
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'], // deprecated 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'], // benchmarking
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['255.255.255.255/32', 'broadcast'],
];

const V6_RULES: readonly Rule[] = [
  // Outside 2000::/3 nothing is allocated as global unicast: refuse by default.
  ['::/0', 'reserved'],
  ['2000::/3', 'public'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', { embedded: 'low32' }], // deprecated IPv4-compatible ::a.b.c.d
  ['::ffff:0:0/96', { embedded: 'low32' }], // IPv4-mapped
  ['64:ff9b::/96', { embedded: 'low32' }], // well-known NAT64 prefix
  ['100::/64', 'reserved'], // discard-only
  ['2001::/23', 'reserved'], // IETF protocol assignments, incl. Teredo 2001::/32 (obfuscated IPv4)
  ['2001:db8::/32', 'documentation'],
  ['2002::/16', { embedded: '6to4' }],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'private'], // unique local
  ['fd00:ec2::254/128', 'metadata'], // AWS metadata service over IPv6, inside fc00::/7
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'private'], // deprecated site-local
  ['ff00::/8', 'multicast'],
];

interface Compiled {
  readonly base: bigint;
  readonly mask: bigint;
  readonly bits: number;
  readonly verdict: AddressClass | Embedded;
}

function v4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);
}

/** 128-bit value of an IPv6 address already validated by `isIP`; handles `::` and a dotted IPv4 tail. */
function v6ToBigInt(ip: string): bigint {
  let text = ip;
  let tail: bigint[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = v4ToBigInt(text.slice(lastColon + 1));
    tail = [v4 >> 16n, v4 & 0xffffn];
    // Keep a '::' that ends right before the IPv4 part; drop a single separating ':'.
    text = text.endsWith('::', lastColon + 1) ? text.slice(0, lastColon + 1) : text.slice(0, lastColon);
  }
  const [head = '', rest] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => BigInt(`0x${g}`)));
  const h = groups(head);
  const t = [...groups(rest ?? ''), ...tail];
  const all =
    rest === undefined ? [...h, ...t] : [...h, ...new Array(8 - h.length - t.length).fill(0n), ...t];
  return all.reduce((n, g) => (n << 16n) | g, 0n);
}

function compile(rules: readonly Rule[], width: number, parse: (ip: string) => bigint): Compiled[] {
  const full = (1n << BigInt(width)) - 1n;
  return rules
    .map(([cidr, verdict]) => {
      const [ip = '', len = ''] = cidr.split('/');
      const bits = Number(len);
      const mask = full ^ ((1n << BigInt(width - bits)) - 1n);
      return { base: parse(ip) & mask, mask, bits, verdict };
    })
    .sort((a, b) => b.bits - a.bits); // longest prefix first, so table order does not matter
}

const V4 = compile(V4_RULES, 32, v4ToBigInt);
const V6 = compile(V6_RULES, 128, v6ToBigInt);

function match(table: readonly Compiled[], value: bigint): AddressClass | Embedded {
  for (const rule of table) if ((value & rule.mask) === rule.base) return rule.verdict;
  return 'public'; // unreachable for V6 (::/0); IPv4 outside every special range
}

function v4FromBigInt(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 0xffn)).join('.');
}

function classifyV4(ip: string): AddressClass {
  const verdict = match(V4, v4ToBigInt(ip));
  return typeof verdict === 'string' ? verdict : 'reserved';
}

function classifyV6(ip: string): AddressClass {
  const value = v6ToBigInt(ip);
  const verdict = match(V6, value);
  if (typeof verdict === 'string') return verdict;
  const v4 = verdict.embedded === 'low32' ? value & 0xffffffffn : (value >> 80n) & 0xffffffffn;
  return classifyV4(v4FromBigInt(v4));
}

/**
 * Classifies an IPv4 or IPv6 address (an IPv6 zone such as `%eth0` is ignored).
 *
 * @throws FluxServeError FLUX_ERR_USAGE if `ip` is not an IP address
 *
 * @example
 * classifyAddress('169.254.169.254'); // 'metadata'
 * classifyAddress('::ffff:10.0.0.1'); // 'private'
 * classifyAddress('2606:4700::1111'); // 'public'
 */
export function classifyAddress(ip: string): AddressClass {
  const bare = ip.replace(/%.*$/, '');
  const version = isIP(bare);
  if (version === 4) return classifyV4(bare);
  if (version === 6) return classifyV6(bare.toLowerCase());
  throw errors.USAGE(`not an IP address: ${JSON.stringify(ip)}`);
}

/**
 * Whether a fetch may connect to `ip` under `policy`. Link-local, metadata, multicast and
 * reserved addresses are never allowed: no configuration makes them a sensible download source,
 * and cloud metadata is the classic target of request forgery. Not an IP address: false.
 *
 * @example
 * isAllowed('127.0.0.1', {}); // false
 * isAllowed('127.0.0.1', { allowLoopback: true }); // true
 * isAllowed('169.254.169.254', { allowLoopback: true, allowPrivate: true }); // false
 */
export function isAllowed(ip: string, policy: AddressPolicy): boolean {
  if (isIP(ip.replace(/%.*$/, '')) === 0) return false;
  switch (classifyAddress(ip)) {
    case 'public':
      return true;
    case 'loopback':
      return policy.allowLoopback === true;
    case 'private':
    case 'shared':
      return policy.allowPrivate === true;
    default:
      return false;
  }
}

const DESCRIPTIONS: Readonly<Record<AddressClass, string>> = {
  public: 'a public address',
  unspecified: 'an unspecified address',
  loopback: 'a loopback address',
  private: 'a private address',
  shared: 'a shared (carrier-grade NAT) address',
  'link-local': 'a link-local address',
  metadata: 'a cloud metadata address',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
  documentation: 'a documentation address',
  reserved: 'a reserved address',
};

/**
 * The class of an address as a phrase for error messages.
 *
 * @example
 * describeAddress('10.0.0.1'); // 'a private address'
 */
export function describeAddress(ip: string): string {
  return DESCRIPTIONS[classifyAddress(ip)];
}
