import { describe, expect, it } from 'vitest';
import { eulerStep, inpaintBlend } from '../../src/pipeline/euler.js';
import { sigmas } from '../../src/pipeline/schedule.js';
import { torchRandn } from '../../src/pipeline/torch-randn.js';
import { expectFluxThrow } from '../weights/fixtures.js';

const f = Math.fround;

describe('eulerStep', () => {
  it('adds (σ_next − σ)·v in place', () => {
    const x = new Float32Array([1, 2, -3]);
    eulerStep(x, new Float32Array([4, -8, 0.5]), 0.75, 0.5);
    expect(x).toEqual(new Float32Array([0, 4, -3.125]));
  });

  it('rounds dt, the product and the sum to float32 separately, as torch fp32 ops', () => {
    const x0 = torchRandn(1, 64);
    const v = torchRandn(2, 64);
    const [s, sn] = [0.988409, 0.976222];
    const x = x0.slice();
    eulerStep(x, v, s, sn);
    const dt = f(f(sn) - f(s));
    for (let i = 0; i < 64; i++) expect(x[i]).toBe(f((x0[i] as number) + f(dt * (v[i] as number))));
  });

  it('lands on x0 when the velocity is the straight line noise − x0 (rectified flow)', () => {
    const noise = torchRandn(3, 256);
    const x0 = torchRandn(4, 256);
    const v = noise.map((n, i) => n - (x0[i] as number));
    const sig = sigmas(28, { shift: 'dynamic', imageTokens: 4096 });
    const x = noise.slice();
    for (let i = 0; i < 28; i++) eulerStep(x, v, sig[i] as number, sig[i + 1] as number);
    for (let i = 0; i < 256; i++) expect(Math.abs((x[i] as number) - (x0[i] as number))).toBeLessThan(1e-5);
  });

  it('rejects mismatched lengths and non-finite sigmas', () => {
    const U = 'FLUX_ERR_USAGE';
    expectFluxThrow(
      () => eulerStep(new Float32Array(4), new Float32Array(3), 1, 0),
      U,
      /velocity must have 4/,
    );
    expectFluxThrow(() => eulerStep(new Float32Array(4), new Float32Array(4), Number.NaN, 0), U, /sigma/);
  });
});

describe('inpaintBlend', () => {
  const noise = new Float32Array([1, 2, 3, 4]);
  const z0 = new Float32Array([10, 20, 30, 40]);
  const mask = new Float32Array([1, 0, 1, 0]);

  it('keeps x where the mask is 1 and re-noises z0 to σ_next where it is 0', () => {
    const x = new Float32Array([-1, -2, -3, -4]);
    inpaintBlend(x, noise, z0, mask, 0.25, false);
    expect(x).toEqual(new Float32Array([-1, 0.25 * 2 + 0.75 * 20, -3, 0.25 * 4 + 0.75 * 40]));
  });

  it('puts the clean latents back exactly after the last step', () => {
    const x = new Float32Array([-1, -2, -3, -4]);
    inpaintBlend(x, noise, z0, mask, 0, true);
    expect(x).toEqual(new Float32Array([-1, 20, -3, 40]));
  });

  it('runs the §5.6 loop from an img2img start: kept tokens end exactly at z0', () => {
    const n = 128;
    const noisep = torchRandn(5, n);
    const z0p = torchRandn(6, n).map((v) => v * 0.5);
    const maskp = new Float32Array(n).map((_, i) => (i % 64 < 32 ? 1 : 0));
    const sig = sigmas(4, { shift: 'none' });
    const start = 1;
    const s0 = sig[start] as number;
    const x = noisep.map((e, i) => f(f(s0 * e) + f((1 - s0) * (z0p[i] as number))));
    const v = new Float32Array(n).fill(0.125);
    for (let i = start; i < 4; i++) {
      eulerStep(x, v, sig[i] as number, sig[i + 1] as number);
      inpaintBlend(x, noisep, z0p, maskp, sig[i + 1] as number, i === 3);
    }
    for (let i = 0; i < n; i++) {
      if (maskp[i] === 0) expect(x[i]).toBe(z0p[i]);
      else
        expect(x[i]).toBeCloseTo(
          f(s0 * (noisep[i] as number)) + (1 - s0) * (z0p[i] as number) - 0.75 * 0.125,
          5,
        );
    }
  });

  it('rejects mismatched lengths', () => {
    const U = 'FLUX_ERR_USAGE';
    expectFluxThrow(
      () => inpaintBlend(new Float32Array(4), new Float32Array(3), z0, mask, 0.5, false),
      U,
      /noise/,
    );
    expectFluxThrow(
      () => inpaintBlend(new Float32Array(4), noise, new Float32Array(3), mask, 0.5, false),
      U,
      /clean/,
    );
    expectFluxThrow(
      () => inpaintBlend(new Float32Array(4), noise, z0, new Float32Array(5), 0.5, false),
      U,
      /mask/,
    );
  });
});
