/**
 * @module jobs/task
 * A task (the hosted API's "prediction") and the store contract the API and the worker share.
 * States only ever move forward: created → processing → completed | failed (api.md).
 */
import type { GenerationRequest } from '../pipeline/generation-request.js';

export type TaskStatus = 'created' | 'processing' | 'completed' | 'failed';

export interface TaskTimings {
  /** ms of model work (the hosted `timings.inference`). */
  readonly inference?: number;
  readonly queue?: number;
  readonly text?: number;
  readonly denoise?: number;
  readonly decode?: number;
  /** Downloading, reading and converting the request's LoRAs. */
  readonly lora_load?: number;
  /** Classifying the outputs (and blurring or blacking out flagged ones). */
  readonly safety?: number;
  readonly total?: number;
}

export interface Task {
  readonly id: string;
  /** The hosted model id, e.g. `wavespeed-ai/flux-schnell-lora`. */
  readonly model: string;
  readonly status: TaskStatus;
  readonly request: GenerationRequest;
  /** The raw request body, echoed to webhooks as `input`. */
  readonly input: Readonly<Record<string, unknown>>;
  /** API key id that submitted it (per-key limits), or null without auth. */
  readonly owner: string | null;
  readonly webhook: string | null;
  /** Output file names in the output store, in order; empty until completed. */
  readonly outputs: readonly string[];
  readonly hasNsfwContents: readonly boolean[];
  readonly seed: number | null;
  readonly error: string | null;
  readonly attempts: number;
  readonly timings: TaskTimings;
  /** What the run wants the client to know (api.md `warnings`), e.g. LoRA keys that matched nothing. */
  readonly warnings: readonly string[];
  readonly createdAt: number; // ms since epoch
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
}

export interface NewTask {
  readonly model: string;
  readonly request: GenerationRequest;
  readonly input: Readonly<Record<string, unknown>>;
  readonly owner: string | null;
  readonly webhook: string | null;
}

export interface CompletedWork {
  readonly outputs: readonly string[];
  readonly hasNsfwContents: readonly boolean[];
  readonly seed: number;
  readonly timings: TaskTimings;
  readonly warnings?: readonly string[];
}

export interface HistoryQuery {
  readonly page: number; // 1-based
  readonly pageSize: number;
  readonly status?: TaskStatus;
  readonly model?: string;
  /** Only this key's tasks; absent = everyone's (a server without keys). */
  readonly owner?: string;
}

/** How long a delivery handed out by `dueWebhooks` stays reserved to its sender, ms (> its try's deadline). */
export const WEBHOOK_LEASE_MS = 120_000;

/** A webhook delivery that is due: the finished task and how many tries it has had. */
export interface DueWebhook {
  readonly taskId: string;
  readonly url: string;
  readonly attempts: number;
}

/** The outcome of one delivery try; `retryAt: null` gives up. */
export type WebhookAttempt =
  | { readonly delivered: true }
  | { readonly delivered: false; readonly error: string; readonly retryAt: number | null };

/**
 * Durable task records and the FIFO queue over them. Every method is async: the embedded SQLite
 * store answers at once, the Redis store (scale-out, several hosts) over the network.
 */
export interface TaskStore {
  /**
   * Inserts a `created` task; throws QUEUE_FULL (429) when `created` tasks reach the limit, and
   * KEY_BUSY (429) when its owner already has its limit of unfinished tasks.
   */
  create(task: NewTask): Promise<Task>;
  get(id: string): Promise<Task | undefined>;
  /** Atomically moves the oldest `created` task to `processing` (attempts + 1) and returns it. */
  claimNext(): Promise<Task | undefined>;
  /** Only from `processing`; outputs must already be in the output store. */
  complete(id: string, work: CompletedWork): Promise<Task>;
  /** From `created` or `processing`. A task with a webhook gets a due delivery with either end. */
  fail(id: string, error: string): Promise<Task>;
  /** 1-based position among `created` tasks, 0 when not queued. */
  queuePosition(id: string): Promise<number>;
  queueLength(): Promise<number>;
  /**
   * Tasks left `processing` by a crash go back to `created` (their old place in the queue), or fail
   * after `maxAttempts`; returns their ids. Which tasks count as interrupted: SQLite (one worker)
   * every `processing` one; Redis those this handle claimed and did not finish, and those whose
   * claimer stopped renewing its BullMQ lock (a worker host that died).
   */
  recoverInterrupted(maxAttempts: number): Promise<{ requeued: string[]; failed: string[] }>;
  history(q: HistoryQuery): Promise<{ total: number; items: Task[] }>;
  /** Deletes finished tasks older than the cutoff; returns their output names for deletion. */
  purgeFinishedBefore(cutoffMs: number): Promise<string[]>;
  /**
   * Webhook deliveries due at `now`, oldest first. Each is leased to the caller: it is not due again
   * for WEBHOOK_LEASE_MS unless a try is recorded, so several senders (API nodes) never send the same
   * try twice, and one that dies mid-send leaves it due again once the lease runs out.
   */
  dueWebhooks(now: number, limit: number): Promise<DueWebhook[]>;
  /** Records one delivery try of a task's webhook. */
  recordWebhookAttempt(taskId: string, attempt: WebhookAttempt): Promise<void>;
  /** The earliest time a pending delivery is due, if any (so a sender can sleep until then). */
  nextWebhookAt(): Promise<number | undefined>;
  close(): Promise<void>;
}
