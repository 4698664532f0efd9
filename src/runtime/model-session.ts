/**
 * @module runtime/model-session
 * What the pipeline runs a graph through: onnxruntime-node's InferenceSession, or the native
 * addon's DeviceSession for the transformer, whose fixed inputs (LoRA factors, the prompt's
 * tensors) then cross to the GPU once instead of at every step (docs/runtime.md).
 *
 * Which one the transformer gets (`FLUX_SERVE_NATIVE`, runtime/provider's NativeChoice): `auto` (the default) takes the addon on
 * CUDA when it is built, where it saves the copies; on the CPU onnxruntime-node already reads the
 * JS memory in place, so the addon would only add a copy of the bound inputs. `on` takes it on any
 * provider and fails without it; `off` never takes it.
 */
import type * as ort from 'onnxruntime-node';
import { errors } from '../errors.js';
import type { Logger } from '../log.js';
import { DeviceSession } from './device-session.js';
import { nativeRuntime } from './native-addon.js';
import { type NativeChoice, providerChoice } from './provider.js';
import { type LoadedSession, loadSession, type SessionOptions } from './session.js';

/** The part of an InferenceSession the pipeline uses; a DeviceSession has it too. */
export interface ModelSession {
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.OnnxValue>>;
  release(): Promise<void>;
}

export type SessionRuntime = 'native' | 'onnxruntime-node';

export interface LoadedModelSession {
  readonly session: ModelSession;
  readonly provider: LoadedSession['provider'];
  readonly runtime: SessionRuntime;
}

/**
 * The transformer's session, on the addon or onnxruntime-node as `native` says; logs which and why.
 * @throws FluxServeError FLUX_ERR_RUNTIME with `native: 'on'` and no working addon
 */
export async function loadDeviceResidentSession(
  path: string,
  options: SessionOptions & { readonly native: NativeChoice },
): Promise<LoadedModelSession> {
  const { log } = options;
  const cuda = providerChoice(options.provider).name === 'cuda';
  const wanted = options.native === 'on' || (options.native === 'auto' && cuda);
  if (!wanted) return fallback(path, options, log, 'FLUX_SERVE_NATIVE=off or a CPU provider');
  const native = nativeRuntime();
  if (!native.available) {
    if (options.native === 'on') throw errors.RUNTIME(`FLUX_SERVE_NATIVE=on: ${native.reason}`);
    return fallback(path, options, log, native.reason);
  }
  const started = performance.now();
  try {
    const session = DeviceSession.create(path, options);
    const ms = Math.round(performance.now() - started);
    log.info(
      { path, provider: options.provider, runtime: 'native', library: native.library, ms },
      'session loaded',
    );
    return { session, provider: options.provider, runtime: 'native' };
  } catch (error) {
    if (!(cuda && options.cpuFallback)) throw error;
    log.warn({ path, err: error }, 'CUDA unavailable; this small model falls back to the CPU');
    return fallback(path, { ...options, provider: 'cpu' }, log, 'CUDA unavailable');
  }
}

async function fallback(
  path: string,
  options: SessionOptions,
  log: Logger,
  why: string,
): Promise<LoadedModelSession> {
  const loaded = await loadSession(path, options);
  if (providerChoice(loaded.provider).name === 'cuda')
    log.warn(
      { path, why },
      'transformer on onnxruntime-node: its inputs, LoRA factors included, are copied to the GPU at every step',
    );
  return { ...loaded, runtime: 'onnxruntime-node' };
}
