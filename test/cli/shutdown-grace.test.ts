import { describe, expect, it } from 'vitest';
import { settledWithin } from '../../src/cli/shutdown-grace.js';

describe('settledWithin', () => {
  it('is true for work that settles in time, and passes on a failed stop', async () => {
    expect(await settledWithin(new Promise((r) => setTimeout(r, 10)), 1000)).toBe(true);
    await expect(settledWithin(Promise.reject(new Error('stop failed')), 1000)).rejects.toThrow(
      'stop failed',
    );
  });

  it('is false when the grace runs out first, and does not wait for the work', async () => {
    const started = Date.now();
    expect(await settledWithin(new Promise(() => {}), 50)).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await settledWithin(new Promise(() => {}), -5)).toBe(false);
  });
});
