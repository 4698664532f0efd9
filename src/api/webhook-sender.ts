/**
 * @module api/webhook-sender
 * Delivers finished tasks to their webhooks (api.md, "Webhooks"): the task data plus `input`, signed
 * like the hosted service, with the task id as `webhook-id` on every try. Deliveries are rows of the
 * task store, written when the task finishes, so a restart resumes them; a failed try is retried on
 * a backoff schedule (config: six tries over about ten minutes) and then given up, with the last
 * error kept in the store and the log.
 */
import type { AddressPolicy } from '../hub/address-policy.js';
import type { HostLookup } from '../hub/fetch-target.js';
import { postWebhook } from '../hub/webhook-post.js';
import type { DueWebhook, TaskStore } from '../jobs/task.js';
import { WakeLoop } from '../jobs/wake-loop.js';
import type { Logger } from '../log.js';
import type { TaskPresenter } from './task-presenter.js';
import { signWebhook } from './webhook-signature.js';

export interface WebhookSenderOptions {
  readonly store: TaskStore;
  readonly present: TaskPresenter;
  readonly secret: string;
  readonly policy: AddressPolicy;
  /** Waits before each retry; its length + 1 is the number of tries. */
  readonly retryDelaysMs: readonly number[];
  /** Deadline of one try, ms. */
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly lookup?: HostLookup;
  readonly now?: () => number;
}

/** Deliveries sent at once; a slow receiver must not hold up the others forever. */
const BATCH = 8;
/** Wait before reading the store again after it failed, ms. */
const STORE_RETRY_MS = 5_000;
/** Longest sleep between looks at the store, ms. */
const LONGEST_SLEEP_MS = 60_000;

export class WebhookSender {
  private readonly loop = new WakeLoop(() => this.pass());
  private readonly now: () => number;

  constructor(private readonly o: WebhookSenderOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    this.loop.start();
  }

  /** A task finished (or the clock moved): look for due deliveries now. */
  notify(): void {
    this.loop.notify();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** Sends what is due; then sleeps until the next delivery is due, a minute at most (bounds clock drift). */
  private async pass(): Promise<number> {
    let next: number | undefined;
    try {
      const due = await this.o.store.dueWebhooks(this.now(), BATCH);
      if (due.length > 0) {
        await Promise.all(due.map((d) => this.deliver(d)));
        return 0;
      }
      next = await this.o.store.nextWebhookAt();
    } catch (err) {
      // A store that cannot answer (Redis unreachable): leases keep what was handed out; look again later.
      this.o.log.error({ err }, 'webhook sender cannot read the task store; will retry');
      next = this.now() + STORE_RETRY_MS;
    }
    return next === undefined ? LONGEST_SLEEP_MS : Math.min(LONGEST_SLEEP_MS, next - this.now());
  }

  private async deliver(d: DueWebhook): Promise<void> {
    const log = this.o.log.child({ taskId: d.taskId });
    const task = await this.o.store.get(d.taskId);
    if (!task) return this.o.store.recordWebhookAttempt(d.taskId, { delivered: true });
    let error: string;
    try {
      const body = JSON.stringify({ ...(await this.o.present(task)), input: task.input });
      const headers = signWebhook(this.o.secret, task.id, Math.floor(this.now() / 1000), body);
      const { status } = await postWebhook(d.url, body, headers, {
        policy: this.o.policy,
        timeoutMs: this.o.timeoutMs,
        ...(this.o.lookup ? { lookup: this.o.lookup } : {}),
      });
      if (status >= 200 && status < 300) {
        await this.o.store.recordWebhookAttempt(d.taskId, { delivered: true });
        log.info({ attempt: d.attempts + 1, status }, 'webhook delivered');
        return;
      }
      error = `HTTP ${status}`;
    } catch (e) {
      error = (e as Error).message;
    }
    const delay = this.o.retryDelaysMs[d.attempts];
    const retryAt = delay === undefined ? null : this.now() + delay;
    await this.o.store.recordWebhookAttempt(d.taskId, { delivered: false, error, retryAt });
    if (retryAt === null) log.error({ attempts: d.attempts + 1, error }, 'webhook delivery given up');
    else
      log.warn({ attempt: d.attempts + 1, error, retryInMs: delay }, 'webhook delivery failed; will retry');
  }
}
