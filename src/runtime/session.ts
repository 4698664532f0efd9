/**
 * @module runtime/session
 * ONNX Runtime sessions for built graphs. The execution provider is chosen here and only here:
 * CUDA when asked for and loadable, otherwise the CPU provider — a CUDA failure is logged, never
 * silently swallowed. Sessions are created by path so the external weights are mmapped.
 */
import * as ort from 'onnxruntime-node';
import type { Logger } from '../log.js';

export type Provider = 'cpu' | 'cuda';

export interface SessionOptions {
  readonly provider: Provider;
  readonly deviceId?: number;
  /** CPU intra-op threads (0 = ONNX Runtime's default: one per core). */
  readonly threads?: number;
  readonly log: Logger;
}

export interface LoadedSession {
  readonly session: ort.InferenceSession;
  /** The provider the session really runs on (CPU after a CUDA fallback). */
  readonly provider: Provider;
}

function baseOptions(options: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    // Weights stay mmapped instead of being copied into prepacked buffers (onnx-runtime.md §1.5).
    extra: { session: { disable_prepacking: '1', use_device_allocator_for_initializers: '1' } },
  };
}

/** @example const { session } = await loadSession('model/transformer.onnx', { provider: 'cpu', log }); */
export async function loadSession(path: string, options: SessionOptions): Promise<LoadedSession> {
  const started = performance.now();
  if (options.provider === 'cuda') {
    try {
      const session = await ort.InferenceSession.create(path, {
        ...baseOptions(options),
        executionProviders: [{ name: 'cuda', deviceId: options.deviceId ?? 0 }, 'cpu'],
      });
      options.log.info(
        { path, provider: 'cuda', ms: Math.round(performance.now() - started) },
        'session loaded',
      );
      return { session, provider: 'cuda' };
    } catch (error) {
      options.log.warn(
        { path, err: error },
        'CUDA execution provider unavailable; falling back to CPU (run `npm run setup:cuda`)',
      );
    }
  }
  const session = await ort.InferenceSession.create(path, {
    ...baseOptions(options),
    executionProviders: ['cpu'],
  });
  options.log.info({ path, provider: 'cpu', ms: Math.round(performance.now() - started) }, 'session loaded');
  return { session, provider: 'cpu' };
}
