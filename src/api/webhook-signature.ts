/**
 * @module api/webhook-signature
 * Signs webhook deliveries like the hosted service (api.md, "Webhooks") so receivers written for
 * it verify ours unchanged: `v3,<hex HMAC-SHA256 of "{id}.{timestamp}.{raw body}">`, keyed by the
 * secret without its `whsec_` prefix.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'whsec_';
const VERSION = 'v3';

function signature(secret: string, id: string, timestampSec: number, rawBody: string): string {
  const key = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  return createHmac('sha256', key).update(`${id}.${timestampSec}.${rawBody}`, 'utf8').digest('hex');
}

/**
 * The headers to send with one delivery; resend the same id on every retry.
 * @example signWebhook('whsec_abc', 'task-1', 1700000000, '{"id":"task-1"}')
 * // { 'webhook-id': 'task-1', 'webhook-timestamp': '1700000000', 'webhook-signature': 'v3,…' }
 */
export function signWebhook(
  secret: string,
  id: string,
  timestampSec: number,
  rawBody: string,
): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': `${VERSION},${signature(secret, id, timestampSec, rawBody)}`,
  };
}

/**
 * Checks a delivery's headers against the body, as a receiver (or a test) would. Refuses timestamps
 * further than `toleranceSec` from `nowSec` so a captured delivery cannot be replayed later.
 * @example verifyWebhook('whsec_abc', signWebhook('whsec_abc', 'id', t, body), body, { nowSec: t }) // true
 */
export function verifyWebhook(
  secret: string,
  headers: Readonly<Record<string, string | undefined>>,
  rawBody: string,
  opts: { nowSec?: number; toleranceSec?: number } = {},
): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const sent = headers['webhook-signature'];
  if (!id || !timestamp || !sent || !/^\d+$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - ts) > (opts.toleranceSec ?? 300)) return false;
  const expected = Buffer.from(`${VERSION},${signature(secret, id, ts, rawBody)}`);
  // A header may list several space-separated signatures (secret rotation); any match will do.
  return sent.split(' ').some((candidate) => {
    const got = Buffer.from(candidate);
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

/**
 * A fresh signing secret: 32 random bytes, hex, with the hosted `whsec_` prefix.
 * @example newWebhookSecret() // 'whsec_3f9c…' (70 characters)
 */
export function newWebhookSecret(): string {
  return `${PREFIX}${randomBytes(32).toString('hex')}`;
}
