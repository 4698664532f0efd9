/**
 * @module api/auth
 * Bearer-key auth (api.md, "Auth"). Without keys the server must only be reachable from this
 * machine, so an open address without keys is refused at start-up rather than silently exposed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { errors } from '../errors.js';

/** Configured keys; `id` is a short, non-secret handle for logs and per-key limits. */
export interface ApiKey {
  readonly id: string;
  readonly key: string;
}

export type AuthResult = { readonly ok: true; readonly keyId: string | null } | { readonly ok: false };

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** A stable id that reveals nothing usable: the first hex digits of the key's SHA-256. */
function keyId(key: string): string {
  return `key_${sha256(key).toString('hex').slice(0, 8)}`;
}

/**
 * Reads a keys file (one key per line, blank lines and `#` comments ignored) and adds `listed` keys
 * (FLUX_SERVE_KEYS, already split, taken whole: a `#` there is part of the key), without duplicates.
 * @example parseApiKeys('# ops\nsk-one\n\nsk-two # laptop', ['sk-three']) // [{ id: 'key_…', key: 'sk-one' }, … 'sk-two' …, … 'sk-three' …]
 */
export function parseApiKeys(text: string, listed: readonly string[] = []): ApiKey[] {
  const keys: ApiKey[] = [];
  const fromFile = text.split(/\r?\n/).map((line) => line.replace(/#.*$/, '').trim());
  for (const key of [...fromFile, ...listed.map((k) => k.trim())]) {
    if (key !== '' && !keys.some((k) => k.key === key)) keys.push({ id: keyId(key), key });
  }
  return keys;
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Refuses to listen beyond loopback without keys: an open generation server is free GPU time for anyone.
 * @example checkListenAddress('0.0.0.0', []) // throws FLUX_ERR_USAGE
 */
export function checkListenAddress(host: string, keys: readonly ApiKey[]): void {
  if (keys.length === 0 && !isLoopbackHost(host)) {
    throw errors.USAGE(
      `listen: refusing to listen on ${host} without API keys; configure keys (env or keys file) or listen on 127.0.0.1`,
    );
  }
}

/**
 * Checks an `Authorization` header. With no keys configured every request passes (loopback only,
 * see checkListenAddress) with `keyId: null`.
 * @example authorize('Bearer sk-one', parseApiKeys('sk-one')) // { ok: true, keyId: 'key_…' }
 */
export function authorize(header: string | undefined, keys: readonly ApiKey[]): AuthResult {
  if (keys.length === 0) return { ok: true, keyId: null };
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m?.[1]) return { ok: false };
  // Compare fixed-length digests so neither the content nor the length of a key leaks through timing;
  // every key is compared, so the position of a match does not leak either.
  const given = sha256(m[1]);
  let found: string | null = null;
  for (const k of keys) {
    if (timingSafeEqual(given, sha256(k.key)) && found === null) found = k.id;
  }
  return found === null ? { ok: false } : { ok: true, keyId: found };
}
