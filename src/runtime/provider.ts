/**
 * @module runtime/provider
 * Which execution provider a model runs on, as one string: `cpu`, `cuda` (GPU 0) or `cuda:N`. A
 * worker owns one device; several GPUs mean one worker per device id (README, "GPUs"). Also where
 * onnxruntime-node loads the CUDA provider libraries from, and how to install them.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type Provider = 'cpu' | 'cuda' | `cuda:${number}`;

/** Whether the transformer runs on the native addon: `auto` (on CUDA when built), `on`, `off` (runtime/model-session). */
export const NATIVE_CHOICES = ['auto', 'on', 'off'] as const;
export type NativeChoice = (typeof NATIVE_CHOICES)[number];

export interface ProviderChoice {
  readonly name: 'cpu' | 'cuda';
  /** GPU index for CUDA (0 for `cuda`); undefined for CPU. */
  readonly deviceId: number | undefined;
}

/**
 * @example parseProvider('cuda:1'); // 'cuda:1'
 * @throws Error naming `source` when the value is none of `cpu`, `cuda`, `cuda:N`
 */
export function parseProvider(value: string, source = 'provider'): Provider {
  const v = value.trim().toLowerCase();
  if (v === 'cpu' || v === 'cuda') return v;
  const m = /^cuda:(\d{1,3})$/.exec(v);
  if (m) return `cuda:${Number(m[1])}`;
  throw new Error(`${source}=${value}: expected cpu, cuda or cuda:N (N = GPU index from nvidia-smi)`);
}

/**
 * The provider of local worker `index` when one node runs several: each on its own GPU from the
 * configured one up (a worker owns exactly one device), wrapping around `gpuCount` GPUs when there
 * are more workers than GPUs (two 12B models fit one 80 GB card); all on the CPU for `cpu`.
 * @example workerProvider('cuda:2', 1, 4) // 'cuda:3'
 */
export function workerProvider(base: Provider, index: number, gpuCount: number): Provider {
  if (base === 'cpu') return base;
  const device = (providerChoice(base).deviceId ?? 0) + index;
  return `cuda:${gpuCount > 0 ? device % gpuCount : device}`;
}

/** @example providerChoice('cuda:1'); // { name: 'cuda', deviceId: 1 } */
export function providerChoice(provider: Provider): ProviderChoice {
  if (provider === 'cpu') return { name: 'cpu', deviceId: undefined };
  return { name: 'cuda', deviceId: provider === 'cuda' ? 0 : Number(provider.slice('cuda:'.length)) };
}

/** The CUDA provider files the binding needs beside `libonnxruntime.so.1` (onnx-runtime.md §5.5). */
export const CUDA_PROVIDER_FILES = [
  'libonnxruntime_providers_shared.so',
  'libonnxruntime_providers_cuda.so',
] as const;

/** Bytes of a provider binary scanned at once for library names. */
const SCAN_SLICE_BYTES = 64 * 1024 * 1024;

/**
 * The CUDA libraries a provider build links against, read from its binary: the names in its dynamic
 * section (`libcudart.so.12` for the NuGet CUDA 12 build, `.so.13` for the npm-registry one).
 * Empty when none is found (not a CUDA provider, or stripped of them).
 * @example cudaLibrariesNeeded(await readFile(join(ortBinaryDir(), 'libonnxruntime_providers_cuda.so')))
 */
export function cudaLibrariesNeeded(binary: Buffer): string[] {
  const names = new Set<string>();
  // In slices: a provider build is hundreds of MB, past the longest string V8 makes. The overlap
  // keeps a name that straddles two slices.
  for (let at = 0; at < binary.length; at += SCAN_SLICE_BYTES) {
    const text = binary.subarray(at, at + SCAN_SLICE_BYTES + 64).toString('latin1');
    for (const m of text.matchAll(/lib(?:cudart|cublasLt|cublas|curand|cufft|cudnn)\.so\.\d+/g))
      names.add(m[0]);
  }
  return [...names].sort();
}

/** The CUDA 13 libraries the npm-registry provider needs at run time (onnx-runtime.md addendum). */
export const CUDA_LIBRARIES = [
  'libcudart.so.13',
  'libcublas.so.13',
  'libcublasLt.so.13',
  'libcurand.so.10',
  'libcudnn.so.9',
] as const;

/** What to do when the CUDA provider cannot be loaded; every CUDA error message ends with it. */
export const CUDA_INSTALL_HINT =
  'install the CUDA provider with `npm run setup:cuda` (ONNX Runtime 1.29.0 for CUDA 13; needs CUDA 13 ' +
  'cublas/cudart/curand and cuDNN 9 on LD_LIBRARY_PATH), or reinstall onnxruntime-node with internet ' +
  'access and `--onnxruntime-node-install=cuda12` for the NuGet CUDA 12 build; `flux-serve doctor` ' +
  'shows what is missing';

/** The folder onnxruntime-node loads `onnxruntime_binding.node`, `libonnxruntime.so.1` and the providers from. */
export function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** True when `error` says the CUDA provider or a library it needs could not be loaded. */
export function isMissingCudaLibrary(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /failed to load shared library|cannot open shared object|providers_cuda|libcu\w+\.so/i.test(message);
}
