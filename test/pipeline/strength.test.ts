import { describe, expect, it } from 'vitest';
import { img2imgStart } from '../../src/pipeline/strength.js';
import { expectFluxThrow } from '../weights/fixtures.js';

describe('img2imgStart', () => {
  it('gives the flux.md §8 examples', () => {
    expect(img2imgStart(4, 0.6)).toBe(1);
    expect(img2imgStart(4, 0.95)).toBe(0);
    expect(img2imgStart(28, 0.6)).toBe(11);
    expect(img2imgStart(28, 1)).toBe(0);
  });

  it('truncates the float result as Python int() does, artefacts included', () => {
    expect(25 * 0.56).toBeGreaterThan(14); // 14.000000000000002, as in Python
    expect(img2imgStart(25, 0.56)).toBe(10); // int(10.999999999999998), not the exact 11
    expect(img2imgStart(50, 0.56)).toBe(21); // int(21.999999999999996)
    expect(img2imgStart(4, 0.1)).toBe(3); // int(3.6)
  });

  it('clamps to the last step where diffusers would raise', () => {
    expect(img2imgStart(4, 0)).toBe(3);
    expect(img2imgStart(1, 0.5)).toBe(0);
    expect(img2imgStart(28, 1e-18)).toBe(27);
  });

  it('rejects strengths outside [0, 1] and bad step counts', () => {
    const U = 'FLUX_ERR_USAGE';
    for (const s of [-0.1, 1.01, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectFluxThrow(() => img2imgStart(4, s), U, /strength must be in \[0, 1\]/);
    }
    expectFluxThrow(() => img2imgStart(0, 0.5), U, /steps/);
  });
});
