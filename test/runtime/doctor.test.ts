/**
 * `flux-serve doctor` on this machine (no GPU: the report must say so) and with stand-in probes for
 * a machine with a GPU, where the memory check and the verdicts can be seen.
 */
import { describe, expect, it } from 'vitest';
import { doctor, formatDoctor } from '../../src/cli/doctor-command.js';
import { loadConfig } from '../../src/config.js';
import { type DoctorProbes, parseLdconfig, parseNvidiaSmi } from '../../src/runtime/doctor.js';
import { CUDA_LIBRARIES, CUDA_PROVIDER_FILES, cudaLibrariesNeeded } from '../../src/runtime/provider.js';

const config = loadConfig({ LD_LIBRARY_PATH: '/opt/cuda13/lib' });
const options = { model: 'flux.1-schnell', variant: 'fp16' as const, deviceId: 0 };

const noGpu: DoctorProbes = {
  run: async (file) => {
    throw Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT' });
  },
  exists: async () => false,
  read: async () => undefined,
  tryCuda: async () => 'unreachable',
};

/** An H100-like machine with `freeGiB` free, every library in /opt/cuda13/lib and the provider installed. */
function gpuMachine(freeGiB: number, cuda: string | undefined = undefined): DoctorProbes {
  return {
    run: async (file) => {
      if (file === 'nvidia-smi') return `0, NVIDIA H100 80GB HBM3, 580.65.06, 81559, ${freeGiB * 1024}\n`;
      return '\tlibcudart.so.13 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.13\n';
    },
    exists: async (path) => path.startsWith('/opt/cuda13/lib/') || path.includes('onnxruntime_providers'),
    read: async () => undefined,
    tryCuda: async () => cuda,
  };
}

describe('doctor', () => {
  it('runs on this machine and reports every check', async () => {
    const s = await doctor(config, options);
    expect(Object.keys(s.libraries)).toEqual([...CUDA_LIBRARIES]);
    expect(Object.keys(s.provider.files)).toEqual([...CUDA_PROVIDER_FILES]);
    expect(s.provider.dir).toMatch(/onnxruntime-node\/bin\/napi-v6\/linux\/x64$/);
    expect(s.needBytes).toBeGreaterThan(35e9); // 12B × 2 bytes + T5-XXL + CLIP + VAE + activations
    const text = formatDoctor(s).join('\n');
    if (s.gpus.length === 0) {
      expect(s.ok).toBe(false);
      expect(text).toMatch(/^GPU: no NVIDIA GPU found/m);
      expect(text).toMatch(/^verdict: no GPU found/m);
    }
  });

  it('says which model serve would run, and how to get the real one', async () => {
    const text = formatDoctor(await doctor({ ...config, home: '/nonexistent-home' }, options, noGpu));
    expect(text).toContain(
      'model: flux.1-schnell is not built in /nonexistent-home/models/flux.1-schnell: serve falls back to the tiny random test model, whose images are noise — run `flux-serve pull flux.1-schnell && flux-serve build flux.1-schnell`',
    );
  });

  it('says whether the native addon loads, and what its absence costs', async () => {
    const here = formatDoctor(await doctor(config, options, noGpu)).join('\n');
    expect(here).toMatch(/^native addon: loads \(ONNX Runtime 1\.29\.0 from .*libonnxruntime\.so\.1\)/m);
    const missing = await doctor(config, options, noGpu, { available: false, reason: 'no compiler' });
    expect(formatDoctor(missing)).toContain(
      'native addon: not available — no compiler; the transformer runs on onnxruntime-node, which copies every input to the GPU at every step',
    );
  });

  it('says clearly that no GPU was found', async () => {
    const s = await doctor(config, options, noGpu);
    expect(s).toMatchObject({ gpus: [], fits: null, ok: false });
    expect(s.provider.loadable).toBe(false);
    const text = formatDoctor(s);
    expect(text[0]).toBe('GPU: no NVIDIA GPU found (nvidia-smi is not installed (no NVIDIA driver))');
    expect(text).toContain('libcublasLt.so.13: not found');
    expect(text).toContain('libonnxruntime_providers_cuda.so: missing');
    // Each problem comes with what to do about it.
    expect(text).toContain(
      '  fix: `npm run setup:cuda` installs the CUDA 13 provider for ONNX Runtime 1.29.0 there',
    );
    expect(text.find((l) => l.startsWith('  fix: install CUDA 13 and cuDNN 9'))).toMatch(/LD_LIBRARY_PATH$/);
    expect(text.at(-1)).toMatch(/^verdict: no GPU found — flux-serve runs on the CPU only/);
  });

  it('compares the variant with the free GPU memory', async () => {
    const fp16 = await doctor(config, options, gpuMachine(75));
    expect(fp16.gpus[0]).toMatchObject({ name: 'NVIDIA H100 80GB HBM3', driver: '580.65.06' });
    expect(fp16.libraries['libcudart.so.13']).toBe('/usr/local/cuda/lib64/libcudart.so.13');
    expect(fp16.libraries['libcudnn.so.9']).toBe('/opt/cuda13/lib/libcudnn.so.9');
    expect(fp16).toMatchObject({ fits: true, ok: true });
    expect(formatDoctor(fp16).at(-1)).toBe('verdict: ready — serve with FLUX_SERVE_PROVIDER=cuda:0');
    const small = await doctor(config, options, gpuMachine(22));
    expect(small).toMatchObject({ fits: false, ok: false });
    expect(formatDoctor(small).at(-1)).toMatch(/does not fit: try `--quant int8`/);
    const int4 = await doctor(config, { ...options, variant: 'int4' }, gpuMachine(22));
    expect(int4).toMatchObject({ fits: true, ok: true });
  });

  it('names the install command when the provider does not load', async () => {
    const s = await doctor(
      config,
      options,
      gpuMachine(75, 'libcublasLt.so.13: cannot open shared object file'),
    );
    expect(s.ok).toBe(false);
    expect(formatDoctor(s).join('\n')).toMatch(
      /installed but does not load[\s\S]*verdict: the GPU is there but CUDA sessions fail — install the CUDA provider with `npm run setup:cuda`/,
    );
  });

  it('checks the CUDA libraries the installed provider build links against (CUDA 12 from NuGet)', async () => {
    // The provider's dynamic section names its libraries; a NuGet CUDA 12 build is checked for those.
    const cuda12 = Buffer.from(
      '\x7fELF…\0libcudart.so.12\0libcublasLt.so.12\0libcublas.so.12\0libcudnn.so.9\0…',
    );
    const s = await doctor(config, options, {
      ...gpuMachine(75, 'libcublas.so.12: cannot open shared object file'),
      read: async (path) => (path.endsWith('libonnxruntime_providers_cuda.so') ? cuda12 : undefined),
      // A CUDA 13 machine: only cuDNN 9 of what this build needs is there.
      exists: async (path) =>
        path.includes('onnxruntime_providers') || path === '/opt/cuda13/lib/libcudnn.so.9',
    });
    expect(Object.keys(s.libraries)).toEqual([
      'libcublas.so.12',
      'libcublasLt.so.12',
      'libcudart.so.12',
      'libcudnn.so.9',
    ]);
    expect(s.libraries['libcudnn.so.9']).toBe('/opt/cuda13/lib/libcudnn.so.9');
    expect(formatDoctor(s).join('\n')).toMatch(
      /missing: libcublas.so.12, libcublasLt.so.12, libcudart.so.12/,
    );
  });

  it('finds library names anywhere in a provider binary larger than one string, also across slices', () => {
    const binary = Buffer.alloc(70 * 1024 * 1024);
    binary.write('libcublas.so.12', 10);
    binary.write('libcudart.so.12', 64 * 1024 * 1024 - 5); // straddles the first slice's end
    binary.write('libcudnn.so.9', binary.length - 20);
    expect(cudaLibrariesNeeded(binary)).toEqual(['libcublas.so.12', 'libcudart.so.12', 'libcudnn.so.9']);
  });

  it('parses nvidia-smi and ldconfig output', () => {
    expect(parseNvidiaSmi('0, A, 1, 1024, 512\n1, B, 1, 2048, 0\n')).toHaveLength(2);
    expect(parseNvidiaSmi('')).toEqual([]);
    expect(
      parseLdconfig('1 libs found\n\tlibcudnn.so.9 (libc6,x86-64) => /x/libcudnn.so.9\n').get(
        'libcudnn.so.9',
      ),
    ).toBe('/x/libcudnn.so.9');
  });
});
