import { describe, expect, it } from 'vitest';
import { FluxServeError } from '../../src/errors.js';
import { displayUrl, fetchError, formatBytes } from '../../src/hub/fetch-errors.js';

describe('fetch error messages', () => {
  it('prefixes the field and chains the cause', () => {
    const cause = new Error('ECONNREFUSED');
    const err = fetchError('image', 'cannot download http://x/ (ECONNREFUSED)', cause);
    expect(err).toBeInstanceOf(FluxServeError);
    expect(err.code).toBe('FLUX_ERR_USAGE');
    expect(err.statusCode).toBe(400);
    expect(err.message).toBe('image: cannot download http://x/ (ECONNREFUSED)');
    expect(err.cause).toBe(cause);
  });

  it('writes limits in the unit a person would use', () => {
    expect(formatBytes(20 * 1024 * 1024)).toBe('20 MiB');
    expect(formatBytes(2048)).toBe('2 KiB');
    expect(formatBytes(1000)).toBe('1000 bytes');
    expect(formatBytes(1.5 * 1024 * 1024 + 1)).toBe('1.5 MiB');
  });

  it('never shows credentials and shortens long URLs', () => {
    expect(displayUrl(new URL('http://u:p@example.com/a.png'))).toBe('http://example.com/a.png');
    const long = displayUrl(`https://example.com/${'a'.repeat(500)}`);
    expect(long.length).toBe(201);
    expect(long.endsWith('…')).toBe(true);
  });
});
