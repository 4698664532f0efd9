import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newWebhookSecret, signWebhook, verifyWebhook } from '../../src/api/webhook-signature.js';

const SECRET = 'whsec_0123456789abcdef';
const BODY = '{"id":"task-1","status":"completed"}';
const TS = 1_700_000_000;

describe('webhook signature', () => {
  it('matches a hand-computed HMAC of "{id}.{timestamp}.{body}" keyed without the whsec_ prefix', () => {
    const expected = createHmac('sha256', '0123456789abcdef').update(`task-1.${TS}.${BODY}`).digest('hex');
    expect(signWebhook(SECRET, 'task-1', TS, BODY)).toEqual({
      'webhook-id': 'task-1',
      'webhook-timestamp': '1700000000',
      'webhook-signature': `v3,${expected}`,
    });
  });

  it('verifies its own signature and rejects a changed body, id, secret or stale timestamp', () => {
    const headers = signWebhook(SECRET, 'task-1', TS, BODY);
    expect(verifyWebhook(SECRET, headers, BODY, { nowSec: TS + 10 })).toBe(true);
    expect(verifyWebhook(SECRET, headers, `${BODY} `, { nowSec: TS })).toBe(false);
    expect(verifyWebhook(SECRET, { ...headers, 'webhook-id': 'task-2' }, BODY, { nowSec: TS })).toBe(false);
    expect(verifyWebhook('whsec_other', headers, BODY, { nowSec: TS })).toBe(false);
    expect(verifyWebhook(SECRET, headers, BODY, { nowSec: TS + 3600 })).toBe(false);
    expect(verifyWebhook(SECRET, {}, BODY, { nowSec: TS })).toBe(false);
  });

  it('accepts a matching signature among several (secret rotation)', () => {
    const headers = signWebhook(SECRET, 'task-1', TS, BODY);
    const listed = { ...headers, 'webhook-signature': `v3,deadbeef ${headers['webhook-signature']}` };
    expect(verifyWebhook(SECRET, listed, BODY, { nowSec: TS })).toBe(true);
  });

  it('makes fresh whsec_ secrets', () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_[0-9a-f]{64}$/);
    expect(newWebhookSecret()).not.toBe(a);
  });
});
