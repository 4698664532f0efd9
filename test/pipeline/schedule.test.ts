import { describe, expect, it } from 'vitest';
import { dynamicShiftMu, sigmas } from '../../src/pipeline/schedule.js';
import { expectFluxThrow } from '../weights/fixtures.js';

const tokens = (h: number, w: number) => (h / 16) * (w / 16);

describe('sigmas without shift (schnell)', () => {
  it('is [1, .75, .5, .25, 0] for 4 steps', () => {
    expect(sigmas(4, { shift: 'none' })).toEqual(new Float64Array([1, 0.75, 0.5, 0.25, 0]));
  });

  it('is 1 - i/N then 0 for 1 to 8 steps', () => {
    for (let n = 1; n <= 8; n++) {
      const s = sigmas(n, { shift: 'none' });
      expect(s.length).toBe(n + 1);
      for (let i = 0; i < n; i++) expect(s[i]).toBeCloseTo(1 - i / n, 15);
      expect(s[n]).toBe(0);
    }
    expect(sigmas(1, { shift: 'none' })).toEqual(new Float64Array([1, 0]));
  });
});

describe('dev dynamic shift', () => {
  it('has mu linear in image tokens, unclamped', () => {
    expect(dynamicShiftMu({ shift: 'dynamic', imageTokens: tokens(512, 512) })).toBeCloseTo(0.63, 12);
    expect(dynamicShiftMu({ shift: 'dynamic', imageTokens: tokens(768, 1360) })).toBeCloseTo(1.147292, 6);
    expect(dynamicShiftMu({ shift: 'dynamic', imageTokens: tokens(1024, 1024) })).toBeCloseTo(1.15, 12);
    expect(dynamicShiftMu({ shift: 'dynamic', imageTokens: tokens(1440, 1440) })).toBeCloseTo(1.82776, 5);
    expect(dynamicShiftMu({ shift: 'dynamic', imageTokens: 256 })).toBeCloseTo(0.5, 12);
    expect(dynamicShiftMu({ shift: 'dynamic', imageTokens: 16 })).toBeLessThan(0.5);
  });

  it('takes the scheduler config overrides', () => {
    const mu = dynamicShiftMu({
      shift: 'dynamic',
      imageTokens: 1000,
      baseShift: 1,
      maxShift: 2,
      baseSeqLen: 0,
      maxSeqLen: 2000,
    });
    expect(mu).toBeCloseTo(1.5, 12);
  });

  it('gives the flux.md §5.1 values for 1024x1024', () => {
    const s28 = sigmas(28, { shift: 'dynamic', imageTokens: 4096 });
    expect(s28.length).toBe(29);
    const head = [1.0, 0.988409, 0.976222, 0.963394];
    for (const [i, v] of head.entries()) expect(Math.abs((s28[i] as number) - v)).toBeLessThan(1e-6);
    expect(Math.abs((s28[27] as number) - 0.104721)).toBeLessThan(1e-6);
    expect(s28[28]).toBe(0);
    for (let i = 1; i < 29; i++) expect(s28[i]).toBeLessThan(s28[i - 1] as number);

    const s50 = sigmas(50, { shift: 'dynamic', imageTokens: 4096 });
    for (const [i, v] of [1.0, 0.99358, 0.986979].entries()) {
      expect(Math.abs((s50[i] as number) - v)).toBeLessThan(1e-5);
    }
    expect(Math.abs((s50[49] as number) - 0.06055)).toBeLessThan(1e-5);
    expect(s50[50]).toBe(0);
  });

  it('is the static shift e^mu·s / (1 + (e^mu - 1)·s)', () => {
    const mu = dynamicShiftMu({ shift: 'dynamic', imageTokens: 1024 });
    const k = Math.exp(mu);
    const s = sigmas(10, { shift: 'dynamic', imageTokens: 1024 });
    for (let i = 0; i < 10; i++) {
      const t = 1 - i / 10;
      expect(s[i]).toBeCloseTo((k * t) / (1 + (k - 1) * t), 14);
    }
  });

  it('rejects bad steps and token counts', () => {
    const U = 'FLUX_ERR_USAGE';
    expectFluxThrow(() => sigmas(0, { shift: 'none' }), U, /steps must be an integer >= 1/);
    expectFluxThrow(() => sigmas(2.5, { shift: 'none' }), U, /steps/);
    expectFluxThrow(() => sigmas(4, { shift: 'dynamic', imageTokens: 0 }), U, /imageTokens/);
    expectFluxThrow(
      () => dynamicShiftMu({ shift: 'dynamic', imageTokens: 4, baseSeqLen: 5, maxSeqLen: 5 }),
      U,
      /must differ/,
    );
    expectFluxThrow(
      () => dynamicShiftMu({ shift: 'dynamic', imageTokens: 4, maxShift: Number.NaN }),
      U,
      /maxShift/,
    );
  });
});
