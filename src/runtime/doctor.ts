/**
 * @module runtime/doctor
 * What `flux-serve doctor` checks on the machine it runs on: the NVIDIA GPUs and driver
 * (`nvidia-smi`), the CUDA 13 / cuDNN 9 libraries the CUDA provider needs (`ldconfig -p`,
 * `LD_LIBRARY_PATH`, the usual CUDA folders), whether the provider libraries sit where
 * onnxruntime-node loads them from, and whether a CUDA session can really be created. Every probe
 * is injectable so the report can be tested on a machine without a GPU.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileExists } from '../file-exists.js';
import { Graph } from '../onnx/graph.js';
import { writeModel } from '../onnx/model-writer.js';
import {
  CUDA_LIBRARIES,
  CUDA_PROVIDER_FILES,
  cudaLibrariesNeeded,
  isMissingCudaLibrary,
  ortBinaryDir,
} from './provider.js';

export interface Gpu {
  readonly index: number;
  readonly name: string;
  readonly driver: string;
  readonly memoryTotalBytes: number;
  readonly memoryFreeBytes: number;
}

export interface DoctorReport {
  /** Empty when nvidia-smi is missing or lists none. */
  readonly gpus: readonly Gpu[];
  /** Why no GPU was listed (nvidia-smi missing or failing), when none was. */
  readonly gpuProblem: string | undefined;
  /** Each CUDA library the provider needs → where it was found, or null. */
  readonly libraries: Readonly<Record<string, string | null>>;
  readonly provider: {
    readonly dir: string;
    readonly files: Readonly<Record<string, boolean>>;
    /** A CUDA session was created on GPU `deviceId`. */
    readonly loadable: boolean;
    readonly error: string | undefined;
  };
}

export interface DoctorProbes {
  /** Runs a program; rejects when it is missing or fails. */
  run(file: string, args: readonly string[]): Promise<string>;
  exists(path: string): Promise<boolean>;
  /** A file's bytes, or undefined when it cannot be read. */
  read(path: string): Promise<Buffer | undefined>;
  /** Creates a CUDA session on `deviceId`; resolves to undefined when it works, else the error text. */
  tryCuda(deviceId: number): Promise<string | undefined>;
}

/** Folders the CUDA libraries usually live in, besides `ldconfig`'s cache and `LD_LIBRARY_PATH`. */
const KNOWN_LIBRARY_DIRS = [
  '/usr/local/cuda/lib64',
  '/usr/local/cuda/targets/x86_64-linux/lib',
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib64',
];

const MIB = 1024 * 1024;

function runProgram(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: 15_000 }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    );
  });
}

/** A one-node graph, written once to a temp dir, to see whether CUDA sessions can be created. */
async function tryCuda(deviceId: number): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'flux-serve-doctor-'));
  try {
    const g = new Graph('doctor');
    const x = g.input('x', 'float32', [2]);
    g.output(g.node('/add', 'Add', [x, x]), 'y', 'float32', [2]);
    const path = join(dir, 'probe.onnx');
    await writeModel(g, path);
    const ort = await import('onnxruntime-node'); // loaded only when the provider files are there
    const session = await ort.InferenceSession.create(path, {
      executionProviders: [{ name: 'cuda', deviceId }],
    });
    await session.release();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const SYSTEM_PROBES: DoctorProbes = {
  run: runProgram,
  exists: fileExists,
  read: (path) => readFile(path).catch(() => undefined),
  tryCuda,
};

const GPU_QUERY = [
  '--query-gpu=index,name,driver_version,memory.total,memory.free',
  '--format=csv,noheader,nounits',
];

/** The GPUs nvidia-smi lists; none when it is missing or fails. */
export async function listGpus(probes: DoctorProbes = SYSTEM_PROBES): Promise<Gpu[]> {
  return probes.run('nvidia-smi', GPU_QUERY).then(parseNvidiaSmi, () => []);
}

/** `nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.free --format=csv,noheader,nounits` lines. */
export function parseNvidiaSmi(csv: string): Gpu[] {
  return csv
    .split('\n')
    .map((line) => line.split(',').map((f) => f.trim()))
    .filter((f) => f.length === 5 && /^\d+$/.test(f[0] ?? ''))
    .map(([index, name, driver, total, free]) => ({
      index: Number(index),
      name: name ?? '',
      driver: driver ?? '',
      memoryTotalBytes: Number(total) * MIB,
      memoryFreeBytes: Number(free) * MIB,
    }));
}

/** `ldconfig -p` → library file name → path. */
export function parseLdconfig(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of text.matchAll(/^\s*(\S+)\s+\([^)]*\)\s+=>\s+(\S+)\s*$/gm)) {
    if (m[1] && m[2] && !found.has(m[1])) found.set(m[1], m[2]);
  }
  return found;
}

/** @example const report = await diagnose({ deviceId: 0, libraryPath: config.libraryPath }); */
export async function diagnose(
  options: { readonly deviceId: number; readonly libraryPath: readonly string[] },
  probes: DoctorProbes = SYSTEM_PROBES,
): Promise<DoctorReport> {
  let gpus: Gpu[] = [];
  let gpuProblem: string | undefined;
  try {
    gpus = parseNvidiaSmi(await probes.run('nvidia-smi', GPU_QUERY));
    if (gpus.length === 0) gpuProblem = 'nvidia-smi lists no GPU';
  } catch (error) {
    const code = (error as { code?: string }).code;
    gpuProblem =
      code === 'ENOENT'
        ? 'nvidia-smi is not installed (no NVIDIA driver)'
        : `nvidia-smi failed: ${(error as Error).message.split('\n')[0]}`;
  }

  const dir = ortBinaryDir();
  const files: Record<string, boolean> = {};
  for (const f of CUDA_PROVIDER_FILES) files[f] = await probes.exists(join(dir, f));
  // The installed provider says which CUDA it needs (12 from NuGet, 13 from the npm registry).
  const provider = await probes.read(join(dir, 'libonnxruntime_providers_cuda.so'));
  const needed = provider ? cudaLibrariesNeeded(provider) : [];

  const cache = await probes.run('ldconfig', ['-p']).then(parseLdconfig, () => new Map<string, string>());
  const libraries: Record<string, string | null> = {};
  for (const lib of needed.length > 0 ? needed : CUDA_LIBRARIES) {
    let where = cache.get(lib) ?? null;
    for (const dir of [...options.libraryPath, ...KNOWN_LIBRARY_DIRS]) {
      if (where !== null) break;
      if (await probes.exists(join(dir, lib))) where = join(dir, lib);
    }
    libraries[lib] = where;
  }

  let error: string | undefined;
  if (Object.values(files).every(Boolean)) error = await probes.tryCuda(options.deviceId);
  else error = `not installed in ${dir}: ${CUDA_PROVIDER_FILES.filter((f) => !files[f]).join(', ')}`;
  return { gpus, gpuProblem, libraries, provider: { dir, files, loadable: error === undefined, error } };
}

/** A verdict line for the provider check, naming the likely cause. */
export function providerVerdict(report: DoctorReport): string {
  const p = report.provider;
  if (p.loadable) return 'CUDA execution provider: loads';
  if (!Object.values(p.files).every(Boolean)) return `CUDA execution provider: ${p.error}`;
  const missing = Object.entries(report.libraries).filter(([, where]) => where === null);
  const hint = isMissingCudaLibrary(p.error)
    ? missing.length > 0
      ? ` (missing: ${missing.map(([lib]) => lib).join(', ')})`
      : ''
    : '';
  return `CUDA execution provider: installed but does not load${hint}: ${p.error}`;
}
