/**
 * Execution-provider choice and session options (onnx-runtime.md §5.6). This machine has no CUDA
 * provider, so asking for CUDA shows the failure path: a clear error with the install command, and
 * the CPU fallback that only small (tiny) models get.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { componentSessionOptions, loadFluxModel } from '../../src/runtime/flux-model.js';
import { parseProvider, providerChoice, workerProvider } from '../../src/runtime/provider.js';
import { loadSession, sessionOptions } from '../../src/runtime/session.js';
import { buildTinyModel } from '../support/tiny-model.js';
import { expectFluxError } from '../weights/fixtures.js';

const log = createLogger('silent');
let root: string;
let modelDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flux-session-'));
  modelDir = await buildTinyModel(root, 'tiny', 5);
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('provider', () => {
  it('parses cpu, cuda and cuda:N', () => {
    expect(parseProvider('CPU')).toBe('cpu');
    expect(providerChoice(parseProvider('cuda'))).toEqual({ name: 'cuda', deviceId: 0 });
    expect(providerChoice(parseProvider('cuda:3'))).toEqual({ name: 'cuda', deviceId: 3 });
    expect(() => parseProvider('rocm')).toThrow(/expected cpu, cuda or cuda:N/);
  });

  it('gives the local workers of one node a GPU each, from the configured one up', () => {
    expect([0, 1, 2].map((i) => workerProvider('cuda', i, 4))).toEqual(['cuda:0', 'cuda:1', 'cuda:2']);
    expect([0, 1].map((i) => workerProvider('cuda:2', i, 4))).toEqual(['cuda:2', 'cuda:3']);
    // More workers than GPUs: they share, round robin, rather than ask for a GPU that is not there.
    expect([0, 1, 2].map((i) => workerProvider('cuda:1', i, 2))).toEqual(['cuda:1', 'cuda:0', 'cuda:1']);
    // GPUs not countable (no nvidia-smi): as configured, one after another.
    expect(workerProvider('cuda', 1, 0)).toBe('cuda:1');
    expect(workerProvider('cpu', 3, 2)).toBe('cpu');
  });

  it('comes from FLUX_SERVE_PROVIDER and FLUX_SERVE_DEVICE', () => {
    expect(loadConfig({}).provider).toBe('cpu');
    expect(loadConfig({ FLUX_SERVE_PROVIDER: 'cuda:2' }).provider).toBe('cuda:2');
    expect(loadConfig({ FLUX_SERVE_PROVIDER: 'cuda', FLUX_SERVE_DEVICE: '1' }).provider).toBe('cuda:1');
    expect(() => loadConfig({ FLUX_SERVE_DEVICE: '1' })).toThrow(/needs FLUX_SERVE_PROVIDER=cuda/);
  });
});

describe('sessionOptions', () => {
  it('keeps weights mmapped on the CPU and in the device allocator on CUDA', () => {
    expect(sessionOptions({ provider: 'cpu' })).toMatchObject({
      executionProviders: ['cpu'],
      extra: { session: { disable_prepacking: '1' } },
    });
    const cuda = sessionOptions({ provider: 'cuda:1', strictPlacement: true, logPlacement: true });
    expect(cuda.executionProviders).toEqual([{ name: 'cuda', deviceId: 1 }, 'cpu']);
    expect(cuda.extra).toEqual({
      session: {
        disable_prepacking: '1',
        use_device_allocator_for_initializers: '1',
        disable_cpu_ep_fallback: '1',
      },
    });
    expect(cuda.logSeverityLevel).toBe(0);
  });

  it('lets quantized components prepack their weights and keeps float ones mmapped', () => {
    const config = (quant?: 'int4') =>
      sessionOptions(componentSessionOptions(quant ? { quant } : {}, { provider: 'cpu', log })).extra;
    expect(config('int4')).toEqual({ session: { disable_prepacking: '0' } });
    expect(config()).toEqual({ session: { disable_prepacking: '1' } });
    expect(sessionOptions({ provider: 'cuda:0', prepack: true }).extra).toEqual({
      session: { disable_prepacking: '0', use_device_allocator_for_initializers: '1' },
    });
  });
});

describe('CUDA without its provider libraries (this machine)', () => {
  it('fails with the install command, never silently on the CPU', async () => {
    await expectFluxError(
      loadSession(join(modelDir, 'clip.onnx'), { provider: 'cuda', log }),
      'FLUX_ERR_RUNTIME',
      /CUDA execution provider is not installed.*npm run setup:cuda.*flux-serve doctor/,
    );
  });

  it('lets a tiny model fall back to the CPU, and a caller forbid it', async () => {
    const model = await loadFluxModel(modelDir, { provider: 'cuda:0', log });
    expect(model.provider).toBe('cpu');
    await model.release();
    await expectFluxError(
      loadFluxModel(modelDir, { provider: 'cuda:0', log, cpuFallback: false }),
      'FLUX_ERR_RUNTIME',
      /npm run setup:cuda/,
    );
  });
});
