/**
 * @module runtime/session
 * ONNX Runtime sessions for built graphs. The execution provider is chosen here and only here, from
 * the `Provider` string (`cpu`, `cuda`, `cuda:N`). Sessions follow onnx-runtime.md §5.6: created by
 * path so the external weights are mmapped, CPU prepacking off for float graphs (it would copy every
 * MatMul weight) but on for quantized ones (`prepack`), and on CUDA the initializers go to the device
 * allocator instead of the power-of-two arena.
 *
 * When CUDA cannot be loaded the error says how to install it. Only a caller that allows it
 * (`cpuFallback`, which runtime/flux-model grants to models under a billion parameters, i.e. the
 * tiny test models) gets a CPU session instead, with a warning: a 12B model on the CPU would take
 * minutes per step and look like a hung server.
 */
import * as ort from 'onnxruntime-node';
import { errors } from '../errors.js';
import type { Logger } from '../log.js';
import { CUDA_INSTALL_HINT, isMissingCudaLibrary, type Provider, providerChoice } from './provider.js';

export type { Provider } from './provider.js';

export interface SessionOptions {
  readonly provider: Provider;
  /** CPU intra-op threads (0 = ONNX Runtime's default: one per core). */
  readonly threads?: number;
  /** Use the CPU when the CUDA provider cannot be loaded, with a warning (default: fail). */
  readonly cpuFallback?: boolean;
  /**
   * ONNX Runtime's verbose log while the session is created: it prints which provider each node
   * was placed on (the Node binding has no API that returns the placement).
   */
  readonly logPlacement?: boolean;
  /**
   * Let kernels repack their constant weights when the session is created (default: off). Off
   * keeps a float graph's MatMul weights in the mmapped file instead of a second copy in RAM; a
   * MatMulNBits graph needs it on, or the CPU EP dequantizes every weight to float32 on every run
   * (onnx-runtime.md, addendum 2026-12-07: int4 7.8 s/step off vs 3.2–3.5 s on, fp32 3.4 s).
   */
  readonly prepack?: boolean;
  /** Fail when a node cannot run on CUDA instead of placing it on the CPU (`session.disable_cpu_ep_fallback`). */
  readonly strictPlacement?: boolean;
  readonly log: Logger;
}

export interface LoadedSession {
  readonly session: ort.InferenceSession;
  /** The provider the session really runs on (`cpu` after an allowed fallback). */
  readonly provider: Provider;
}

/** The `session.*` config entries of onnx-runtime.md §5.6 for `options`, without the `session.` prefix. */
export function sessionConfig(options: Omit<SessionOptions, 'log'>): Record<string, string> {
  const session: Record<string, string> = { disable_prepacking: options.prepack ? '0' : '1' };
  if (providerChoice(options.provider).name === 'cuda') {
    session.use_device_allocator_for_initializers = '1';
    if (options.strictPlacement) session.disable_cpu_ep_fallback = '1';
  }
  return session;
}

/** The session options of onnx-runtime.md §5.6, for `options`. */
export function sessionOptions(options: Omit<SessionOptions, 'log'>): ort.InferenceSession.SessionOptions {
  const { name, deviceId } = providerChoice(options.provider);
  const session = sessionConfig(options);
  return {
    graphOptimizationLevel: 'all',
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    ...(options.logPlacement ? { logSeverityLevel: 0 as const, logVerbosityLevel: 0 } : {}),
    executionProviders: name === 'cuda' ? [{ name: 'cuda', deviceId: deviceId ?? 0 }, 'cpu'] : ['cpu'],
    extra: { session },
  };
}

/** The error for a CUDA session that could not be created. */
export function cudaError(path: string, provider: Provider, cause: unknown): Error {
  const message = cause instanceof Error ? cause.message : String(cause);
  const why = isMissingCudaLibrary(cause)
    ? `the CUDA execution provider is not installed or cannot load its libraries (${message}): ${CUDA_INSTALL_HINT}`
    : `creating the ${provider} session for ${path} failed: ${message} (\`flux-serve doctor\` checks the GPU and its free memory)`;
  const error = errors.RUNTIME(why);
  error.cause = cause;
  return error;
}

/** @example const { session } = await loadSession('model/transformer.onnx', { provider: 'cuda:0', log }); */
export async function loadSession(path: string, options: SessionOptions): Promise<LoadedSession> {
  const started = performance.now();
  const { name, deviceId } = providerChoice(options.provider);
  if (name === 'cuda') {
    try {
      const session = await ort.InferenceSession.create(path, sessionOptions(options));
      options.log.info(
        { path, provider: options.provider, deviceId, ms: Math.round(performance.now() - started) },
        'session loaded',
      );
      return { session, provider: options.provider };
    } catch (error) {
      const failure = cudaError(path, options.provider, error);
      if (!options.cpuFallback) throw failure;
      options.log.warn(
        { path, err: error },
        `CUDA unavailable; this small model falls back to the CPU. ${failure.message}`,
      );
    }
  }
  const session = await ort.InferenceSession.create(path, sessionOptions({ ...options, provider: 'cpu' }));
  options.log.info({ path, provider: 'cpu', ms: Math.round(performance.now() - started) }, 'session loaded');
  return { session, provider: 'cpu' };
}
