/**
 * @module worker/generation-protocol
 * The messages between a generation thread and its owner. Numbers travel as typed arrays and
 * images as Buffers (structured clone), never as JSON arrays.
 */

import type { StepProgress } from '../pipeline/generate.js';
import type { GenerationRequest } from '../pipeline/generation-request.js';
import type { NativeChoice } from '../runtime/provider.js';
import type { Provider } from '../runtime/session.js';
import type { SafetySettings } from '../safety/safety-screen.js';

export interface ThreadInit {
  readonly modelDir: string;
  readonly provider: Provider;
  readonly logLevel: string;
  readonly maxImageBytes: number;
  readonly fetchTimeoutMs: number;
  readonly fetchPolicy: { readonly allowLoopback: boolean; readonly allowPrivate: boolean };
  /**
   * This server's uploads: URLs under `baseUrl` (`<public URL>/media/`) are read from `dir`, not
   * fetched — the server's own address is loopback or private, which the fetch guard refuses.
   */
  readonly media?: { readonly baseUrl: string; readonly dir: string };
  /** Memory for parsed LoRAs kept between requests, bytes (default 4 GiB). */
  readonly loraMemoryBytes?: number;
  /** Largest input image, pixels (default image/decode's MAX_INPUT_PIXELS). */
  readonly maxInputPixels?: number;
  /** The safety checker to load once at start; absent = none (has_nsfw_contents all false). */
  readonly safety?: SafetySettings;
  /** ONNX Runtime's verbose log at session creation, which lists every node's provider. */
  readonly logPlacement?: boolean;
  /** On CUDA, refuse to place any node on the CPU (session creation fails instead). */
  readonly strictPlacement?: boolean;
  /** Which runtime the transformer gets (runtime/model-session). */
  readonly native?: NativeChoice;
}

export interface ThreadResult {
  readonly outputs: Buffer[];
  /** One flag per output (api.md `has_nsfw_contents`); false when not checked. */
  readonly hasNsfwContents: boolean[];
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  readonly generationSize: { readonly width: number; readonly height: number };
  readonly droppedTokens: { readonly clip: number; readonly t5: number };
  readonly timings: Readonly<Record<string, number>>;
  /** What the client should know (api.md `warnings`), e.g. LoRA keys that matched no layer. */
  readonly warnings: readonly string[];
  /** LoRAs found parsed in memory / read and converted for this request. */
  readonly loraCache: { readonly hits: number; readonly misses: number };
  /** The run's tensors, only when asked for (`--dump`): megabytes that servers never need. */
  readonly dump?: {
    readonly noise: Float32Array;
    readonly txt: Float32Array;
    readonly txtTokens: number;
    readonly pooled: Float32Array;
    readonly latents: Float32Array;
    readonly sigmas: Float64Array;
  };
}

export interface RenderOptions {
  /** Send the run's tensors back with the result. */
  readonly dump?: boolean;
}

/** What a caller may add that stays on its side: a signal that cancels the run. */
export interface RunOptions extends RenderOptions {
  readonly signal?: AbortSignal;
}

/** A request as it crosses to the thread or process that renders it. */
export interface RenderJob extends RenderOptions {
  readonly id: string;
  readonly request: GenerationRequest;
}

/** The owner's messages to a thread: a job, or the cancellation of one (queued or running). */
export type ThreadCommand =
  | ({ readonly type: 'task' } & RenderJob)
  | { readonly type: 'cancel'; readonly id: string };

export interface ThreadError {
  readonly message: string;
  readonly code: string;
  readonly statusCode: number;
}

export type ThreadMessage =
  | { readonly type: 'ready'; readonly provider: Provider }
  | ({ readonly type: 'step'; readonly id: string } & StepProgress)
  | { readonly type: 'done'; readonly id: string; readonly result: ThreadResult }
  | { readonly type: 'error'; readonly id: string; readonly error: ThreadError };

/** The progress a `step` message carries. */
export function progressOf(m: StepProgress): StepProgress {
  return { stage: m.stage, step: m.step, total: m.total };
}
