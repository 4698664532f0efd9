import { describe, expect, it } from 'vitest';
import { authorize, checkListenAddress, isLoopbackHost, parseApiKeys } from '../../src/api/auth.js';
import { FluxServeError } from '../../src/errors.js';

describe('parseApiKeys', () => {
  it('reads one key per line, skipping blanks, comments and duplicates', () => {
    const keys = parseApiKeys('# team keys\nsk-one\r\n\n  sk-two  # laptop\nsk-one\n');
    expect(keys.map((k) => k.key)).toEqual(['sk-one', 'sk-two']);
    expect(keys[0]?.id).toMatch(/^key_[0-9a-f]{8}$/);
    expect(keys[0]?.id).not.toContain('sk-one');
    expect(parseApiKeys('')).toEqual([]);
  });

  it('adds listed keys (FLUX_SERVE_KEYS) whole, a # included, without duplicating the file’s', () => {
    const keys = parseApiKeys('sk-one\n', [' sk-two ', 'sk-#three', 'sk-one', '']);
    expect(keys.map((k) => k.key)).toEqual(['sk-one', 'sk-two', 'sk-#three']);
    expect(parseApiKeys('', ['sk-env']).map((k) => k.key)).toEqual(['sk-env']);
  });
});

describe('checkListenAddress', () => {
  it('allows loopback without keys', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]', '127.1.2.3']) {
      expect(isLoopbackHost(host)).toBe(true);
      expect(() => checkListenAddress(host, [])).not.toThrow();
    }
  });

  it('refuses any other address without keys, with a clear message', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.5', 'example.com']) {
      expect(() => checkListenAddress(host, [])).toThrow(FluxServeError);
      expect(() => checkListenAddress(host, [])).toThrow(/without API keys/);
    }
  });

  it('allows any address with keys', () => {
    expect(() => checkListenAddress('0.0.0.0', parseApiKeys('sk-one'))).not.toThrow();
  });
});

describe('authorize', () => {
  const keys = parseApiKeys('sk-one\nsk-two');

  it('accepts anything when no keys are configured', () => {
    expect(authorize(undefined, [])).toEqual({ ok: true, keyId: null });
  });

  it('accepts a configured Bearer key and names it', () => {
    expect(authorize('Bearer sk-two', keys)).toEqual({ ok: true, keyId: keys[1]?.id });
    expect(authorize('bearer sk-one', keys)).toEqual({ ok: true, keyId: keys[0]?.id });
  });

  it('refuses a missing, malformed or wrong key', () => {
    expect(authorize(undefined, keys)).toEqual({ ok: false });
    expect(authorize('', keys)).toEqual({ ok: false });
    expect(authorize('sk-one', keys)).toEqual({ ok: false });
    expect(authorize('Basic sk-one', keys)).toEqual({ ok: false });
    expect(authorize('Bearer sk-on', keys)).toEqual({ ok: false });
    expect(authorize('Bearer sk-one-more', keys)).toEqual({ ok: false });
  });
});
