/**
 * @module runtime/native-addon
 * flux-serve's native addon (native/, docs/runtime.md): ONNX Runtime sessions whose inputs stay on
 * the device between runs. It is built by `npm ci` when a C++ compiler is there and loads the same
 * `libonnxruntime.so.1` that onnxruntime-node ships (or the one in `FLUX_SERVE_ORT_BIN`). Without
 * it everything still works through onnxruntime-node, which copies every input at every run; this
 * module says which of the two a process has, and why.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ortBinaryDir } from './provider.js';

/** Where `npm ci` (native/build.mjs) puts the addon; the same from src/runtime and dist/runtime. */
export const ADDON_PATH = fileURLToPath(
  new URL('../../native/build/Release/flux_native.node', import.meta.url),
);

export interface NativeTensor {
  readonly name: string;
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: ArrayBufferView | ArrayBuffer;
}

export interface NativeSpec {
  readonly name: string;
  /** `float32`, `float16`, `int64`, … or `onnx element type N` for one the addon does not exchange. */
  readonly type: string;
  /** -1 for a symbolic dimension. */
  readonly dims: readonly number[];
}

export interface NativeSessionOptions {
  readonly provider: 'cpu' | 'cuda';
  readonly deviceId?: number;
  readonly threads?: number;
  /** ONNX Runtime's GraphOptimizationLevel (99 = all). */
  readonly optimizationLevel?: number;
  readonly logSeverityLevel?: number;
  /** Session config entries, e.g. `{ 'session.disable_prepacking': '1' }`. */
  readonly config?: Readonly<Record<string, string>>;
  /** CUDA provider options (V2), by ONNX Runtime's names. */
  readonly cuda?: Readonly<Record<string, string>>;
}

export interface NativeSession {
  inputs(): NativeSpec[];
  outputs(): NativeSpec[];
  bind(feed: NativeTensor): void;
  run(feeds: readonly NativeTensor[]): Required<NativeTensor & { data: ArrayBuffer }>[];
  stats(): { uploadedBytes: number; bound: number };
  release(): void;
}

interface AddonModule {
  load(libraryPath: string): { version: string; buildInfo: string; providers: string[] };
  DeviceSession: new (path: string, options: NativeSessionOptions) => NativeSession;
}

export type NativeRuntime =
  | {
      readonly available: true;
      readonly addon: AddonModule;
      readonly library: string;
      readonly version: string;
      readonly providers: readonly string[];
    }
  | { readonly available: false; readonly reason: string };

/** The ONNX Runtime library the addon loads. */
export function ortLibraryPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.FLUX_SERVE_ORT_BIN || ortBinaryDir(), 'libonnxruntime.so.1');
}

let cached: NativeRuntime | undefined;

/**
 * The addon loaded over ONNX Runtime, once per process, or why it is not available.
 * @example const native = nativeRuntime(); if (native.available) new native.addon.DeviceSession(path, { provider: 'cpu' });
 */
export function nativeRuntime(): NativeRuntime {
  if (cached) return cached;
  if (!existsSync(ADDON_PATH)) {
    cached = {
      available: false,
      reason: `the native addon is not built (${ADDON_PATH} is missing: install a C++ compiler, then run \`npm run build:native\`)`,
    };
    return cached;
  }
  const library = ortLibraryPath();
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as AddonModule;
    const { version, providers } = addon.load(library);
    cached = { available: true, addon, library, version, providers };
  } catch (error) {
    cached = { available: false, reason: `the native addon cannot load: ${(error as Error).message}` };
  }
  return cached;
}
