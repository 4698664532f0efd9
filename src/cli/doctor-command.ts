/**
 * @module cli/doctor-command
 * `flux-serve doctor`: what this machine has for the CUDA path (GPU, driver, CUDA/cuDNN libraries,
 * the provider where onnxruntime-node loads it, a real CUDA session) and whether the chosen model
 * variant fits the GPU's free memory. Exit code 0 when CUDA works, 1 otherwise; `--json` for scripts.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { MEMORY_VARIANTS, type MemoryVariant, memoryNeeds } from '../build/memory-needs.js';
import { loadModelSpec } from '../build/model-spec.js';
import type { Config } from '../config.js';
import {
  type DoctorProbes,
  type DoctorReport,
  diagnose,
  providerVerdict,
  SYSTEM_PROBES,
} from '../runtime/doctor.js';
import { modelDirState } from '../runtime/manifest.js';
import { type NativeRuntime, nativeRuntime } from '../runtime/native-addon.js';
import { CUDA_INSTALL_HINT, parseProvider, providerChoice } from '../runtime/provider.js';

const GB = 1e9;
const gb = (bytes: number) => `${(bytes / GB).toFixed(1)} GB`;

export interface DoctorSummary extends DoctorReport {
  readonly model: string;
  readonly variant: MemoryVariant;
  readonly deviceId: number;
  /** Weights + activation allowance (an estimate until measured on a GPU), bytes. */
  readonly needBytes: number;
  /** Whether the variant fits the device's free memory; null without a GPU. */
  readonly fits: boolean | null;
  /** Whether the native addon (device-resident transformer inputs) loads, in one line. */
  readonly native: string;
  /** Whether `serve` would find a built model in the home, or fall back to the tiny test model, in one line. */
  readonly served: string;
  readonly ok: boolean;
}

/** What `serve` would run from the home: the built model, or (loudly) the tiny test model and how to get the real one. */
async function servedVerdict(dir: string, model: string): Promise<string> {
  const state = await modelDirState(dir);
  if (state === 'built') return `model: ${model} is built in ${dir}; serve uses it`;
  const why =
    state === 'interrupted' ? `the build in ${dir} was interrupted` : `${model} is not built in ${dir}`;
  return `model: ${why}: serve falls back to the tiny random test model, whose images are noise — run \`flux-serve pull ${model} && flux-serve build ${model}\``;
}

/** What to do about CUDA libraries that are not found. */
const LIBRARY_FIX =
  'install CUDA 13 and cuDNN 9 (e.g. `pip install nvidia-cublas nvidia-cuda-runtime nvidia-curand nvidia-cudnn-cu13`) and put their lib folders on LD_LIBRARY_PATH';

/** The doctor line for the native addon (runtime/native-addon). */
export function nativeVerdict(native: NativeRuntime): string {
  return native.available
    ? `native addon: loads (ONNX Runtime ${native.version} from ${native.library}); on CUDA the transformer's fixed inputs and LoRA factors are uploaded once`
    : `native addon: not available — ${native.reason}; the transformer runs on onnxruntime-node, which copies every input to the GPU at every step`;
}

/** The report as text lines: one fact per line, the verdict last. */
export function formatDoctor(s: DoctorSummary): string[] {
  const lines: string[] = [];
  if (s.gpus.length === 0) lines.push(`GPU: no NVIDIA GPU found (${s.gpuProblem ?? 'none listed'})`);
  for (const g of s.gpus) {
    lines.push(
      `GPU ${g.index}: ${g.name}, driver ${g.driver}, ${gb(g.memoryFreeBytes)} free of ${gb(g.memoryTotalBytes)}`,
    );
  }
  for (const [lib, where] of Object.entries(s.libraries)) lines.push(`${lib}: ${where ?? 'not found'}`);
  if (Object.values(s.libraries).includes(null)) lines.push(`  fix: ${LIBRARY_FIX}`);
  lines.push(`provider folder: ${s.provider.dir}`);
  for (const [file, present] of Object.entries(s.provider.files))
    lines.push(`${file}: ${present ? 'installed' : 'missing'}`);
  if (!Object.values(s.provider.files).every(Boolean))
    lines.push('  fix: `npm run setup:cuda` installs the CUDA 13 provider for ONNX Runtime 1.29.0 there');
  lines.push(providerVerdict(s));
  lines.push(s.native);
  lines.push(s.served);
  const device = s.gpus.find((g) => g.index === s.deviceId);
  lines.push(
    `${s.model} ${s.variant}: needs about ${gb(s.needBytes)} of GPU memory (estimate: weights + activations at 1024²)` +
      (device
        ? `; GPU ${s.deviceId} has ${gb(device.memoryFreeBytes)} free: ${s.fits ? 'fits' : 'does NOT fit'}`
        : ''),
  );
  if (s.gpus.length === 0) {
    lines.push(
      'verdict: no GPU found — flux-serve runs on the CPU only (the tiny model; a real model needs a GPU)',
    );
  } else if (!s.provider.loadable) {
    lines.push(`verdict: the GPU is there but CUDA sessions fail — ${CUDA_INSTALL_HINT}`);
  } else if (s.fits === false) {
    lines.push(
      'verdict: CUDA works, but this variant does not fit: try `--quant int8` or `--quant int4` builds',
    );
  } else {
    lines.push(`verdict: ready — serve with FLUX_SERVE_PROVIDER=cuda:${s.deviceId}`);
  }
  return lines;
}

export async function doctor(
  config: Readonly<Config>,
  options: { model: string; variant: MemoryVariant; deviceId: number },
  probes: DoctorProbes = SYSTEM_PROBES,
  native: NativeRuntime = nativeRuntime(),
): Promise<DoctorSummary> {
  const report = await diagnose({ deviceId: options.deviceId, libraryPath: config.libraryPath }, probes);
  const need = memoryNeeds(await loadModelSpec(options.model)).find((n) => n.variant === options.variant);
  const needBytes = need?.needBytes ?? 0;
  const device = report.gpus.find((g) => g.index === options.deviceId);
  const fits = device ? device.memoryFreeBytes >= needBytes : null;
  const ok = report.gpus.length > 0 && report.provider.loadable && fits !== false;
  const served = await servedVerdict(join(config.home, 'models', options.model), options.model);
  return { ...report, ...options, needBytes, fits, native: nativeVerdict(native), served, ok };
}

export function registerDoctor(program: Command, config: Readonly<Config>): void {
  program
    .command('doctor')
    .description('check the GPU, driver, CUDA/cuDNN libraries and CUDA provider, and whether a model fits')
    .option('--model <name>', 'model manifest in models/', 'flux.1-schnell')
    .addOption(
      new Option('--variant <v>', 'build variant whose memory need is checked')
        .choices(Object.keys(MEMORY_VARIANTS))
        .default('fp16'),
    )
    .option('--device <n>', 'GPU index (default: FLUX_SERVE_PROVIDER / FLUX_SERVE_DEVICE, else 0)')
    .option('--json', 'print the report as JSON')
    .action(async (flags: { model: string; variant: MemoryVariant; device?: string; json?: boolean }) => {
      const provider =
        flags.device !== undefined ? parseProvider(`cuda:${flags.device}`, '--device') : config.provider;
      const deviceId = providerChoice(provider).deviceId ?? 0;
      const summary = await doctor(config, { model: flags.model, variant: flags.variant, deviceId });
      process.stdout.write(
        flags.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatDoctor(summary).join('\n')}\n`,
      );
      process.exitCode = summary.ok ? 0 : 1;
    });
}
