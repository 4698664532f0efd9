/**
 * @module api/api-context
 * What every route module of the app is given: the stores, the dispatcher, the presenter, the
 * server's settings, and the one way to check a request's key.
 */
import type { FastifyRequest } from 'fastify';
import type { AddressPolicy } from '../hub/address-policy.js';
import type { TaskControl } from '../jobs/dispatcher.js';
import type { LocalMediaStore } from '../jobs/media-store.js';
import type { LocalOutputStore } from '../jobs/output-store.js';
import type { TaskStore } from '../jobs/task.js';
import type { Logger } from '../log.js';
import type { ApiKey } from './auth.js';
import type { ServerMetrics } from './metrics.js';
import { mediaUrl } from './routes/media.js';
import { modelContract } from './served-models.js';
import type { SubmitOptions } from './submit-schema.js';
import type { SourcePolicy } from './submit-sources.js';
import type { TaskPresenter } from './task-presenter.js';

export interface AppOptions {
  readonly store: TaskStore;
  readonly outputs: LocalOutputStore;
  readonly media: LocalMediaStore;
  /** The local Dispatcher, or the Redis relay of every worker's (scale-out). */
  readonly dispatcher: TaskControl;
  readonly keys: readonly ApiKey[];
  /** Absolute base for output URLs, e.g. `http://127.0.0.1:8080`. */
  readonly publicBaseUrl: string;
  /** Hosted model ids this server answers for. */
  readonly models: readonly string[];
  /** The model is a test model (runtime/manifest isTestModel): /api/v3/models says so. */
  readonly testModel?: boolean;
  /** Longest `enable_sync_mode` wait before answering `processing` with code 5004, ms. */
  readonly syncWaitMs: number;
  /** Longest wait of an OpenAI images request before its 504, ms (default syncWaitMs). */
  readonly openAiWaitMs?: number;
  /** Largest request body, bytes. */
  readonly bodyLimit: number;
  /** Most LoRAs in one request (api.md: 5, configurable). */
  readonly maxLoras: number;
  /** Most waiting tasks (the store's limit); `/readyz` answers 503 at it. */
  readonly maxQueued: number;
  /** Longest URL a request may carry (`image`, `mask_image`, `loras[].path`, `webhook`), characters. */
  readonly maxUrlChars: number;
  /** Which addresses URL fetches may reach; a webhook on a refused IP literal is a 400 at submit. */
  readonly fetchPolicy: AddressPolicy;
  /** Longest prompt, characters (default submit-schema's PROMPT_MAX_CHARS). */
  readonly maxPromptChars?: number;
  /** Largest input image, pixels, checked from its header (default image/decode's MAX_INPUT_PIXELS). */
  readonly maxInputPixels?: number;
  /** The LoRA folder, listed by `GET /api/v3/loras` for the playground; none = empty list. */
  readonly loraDir?: string;
  /**
   * Tasks read local LoRAs from this node's `loraDir` (one host), so a missing one is a 400 at
   * submit; in scale-out the workers' folders decide, and only names that leave the folder are refused.
   */
  readonly loraFilesAtSubmit?: boolean;
  /** Largest uploaded image, bytes. */
  readonly maxUploadBytes: number;
  /** Shown as `GET /api/v3/webhook/secret`; deliveries are signed with it. */
  readonly webhookSecret: string;
  /** Shown on every task (e.g. a missing safety checker). */
  readonly warnings: readonly string[];
  readonly ready: () => boolean;
  readonly log: Logger;
}

export interface ApiContext extends AppOptions {
  readonly present: TaskPresenter;
  readonly metrics: ServerMetrics;
  /** The key id of an authorized request (null without keys); throws 401 otherwise. */
  readonly authorize: (req: FastifyRequest) => string | null;
}

/**
 * The submit rules of `model` on this server: its step range, and the configured limits. Every
 * route that creates tasks (the hosted submit, the OpenAI images API) validates with these.
 * @example parseSubmitBody(req.body, submitOptions(ctx, 'wavespeed-ai/flux-schnell-lora'))
 */
/** What submit checks of the sources a task will read (api/submit-sources). */
export function sourcePolicy(ctx: AppOptions): SourcePolicy {
  return {
    fetchPolicy: ctx.fetchPolicy,
    mediaBase: mediaUrl(ctx.publicBaseUrl, ''),
    ...(ctx.loraFilesAtSubmit && ctx.loraDir ? { loraDir: ctx.loraDir } : {}),
  };
}

export function submitOptions(ctx: AppOptions, model: string): SubmitOptions {
  return {
    steps: modelContract(model).steps,
    maxLoras: ctx.maxLoras,
    maxImageBytes: ctx.maxUploadBytes,
    maxUrlChars: ctx.maxUrlChars,
    ...(ctx.maxPromptChars ? { maxPromptChars: ctx.maxPromptChars } : {}),
  };
}
