/**
 * @module jobs/sqlite-task-store
 * The TaskStore on one SQLite file (better-sqlite3, dependencies.md §6). Every state change is a
 * single guarded `UPDATE … WHERE status IN (…) RETURNING *`, so several processes sharing the file
 * (the API and a worker) can never move a task twice or claim the same task.
 */
import { randomBytes } from 'node:crypto';
import { errors } from '../errors.js';
import type {
  CompletedWork,
  DueWebhook,
  HistoryQuery,
  NewTask,
  Task,
  TaskStatus,
  TaskStore,
  WebhookAttempt,
} from './task.js';
import { WEBHOOK_LEASE_MS } from './task.js';
import { openTaskDatabase } from './task-database.js';
import { newTaskParams, rowToTask, type TaskRow } from './task-row.js';

export interface SqliteTaskStoreOptions {
  /** `created` tasks allowed at once; `create` throws QUEUE_FULL at this many. */
  readonly maxQueued: number;
  /** Unfinished tasks one API key may have; `create` throws KEY_BUSY at this many. Default: no limit. */
  readonly maxActivePerOwner?: number;
  /** Clock in ms since epoch; tests inject one to make queue order deterministic. */
  readonly now?: () => number;
  /** Task id source; defaults to 32 random hex digits, the shape of the hosted API's ids. */
  readonly newId?: () => string;
  /** How long a write waits for another process's write lock before failing (default 5000 ms). */
  readonly busyTimeoutMs?: number;
}

/** 128 random bits as hex: unguessable, because a task id is all it takes to read a result. */
function randomTaskId(): string {
  return randomBytes(16).toString('hex');
}

const SQL = {
  insert: `INSERT INTO tasks (id, model, status, request, input, owner, webhook, created_at)
           VALUES (@id, @model, 'created', @request, @input, @owner, @webhook, @created_at) RETURNING *`,
  get: 'SELECT * FROM tasks WHERE id = ?',
  queueLength: `SELECT COUNT(*) FROM tasks WHERE status = 'created'`,
  ownerActive: `SELECT COUNT(*) FROM tasks WHERE owner = ? AND status IN ('created', 'processing')`,
  // One statement: SQLite holds the write lock from the subquery to the update, so no other
  // handle can pick the same row in between.
  claim: `UPDATE tasks SET status = 'processing', attempts = attempts + 1, started_at = @now
          WHERE id = (SELECT id FROM tasks WHERE status = 'created' ORDER BY created_at, rowid LIMIT 1)
          RETURNING *`,
  complete: `UPDATE tasks SET status = 'completed', outputs = @outputs, has_nsfw_contents = @nsfw,
                seed = @seed, timings = @timings, warnings = @warnings, finished_at = @now
             WHERE id = @id AND status = 'processing' RETURNING *`,
  fail: `UPDATE tasks SET status = 'failed', error = @error, finished_at = @now
         WHERE id = @id AND status IN ('created', 'processing') RETURNING *`,
  // Ties on created_at (same millisecond) fall back to rowid, i.e. insertion order.
  position: `SELECT CASE WHEN t.status <> 'created' THEN 0 ELSE (
               SELECT COUNT(*) FROM tasks q WHERE q.status = 'created'
                 AND (q.created_at < t.created_at OR (q.created_at = t.created_at AND q.rowid <= t.rowid))
             ) END FROM tasks t WHERE t.id = ?`,
  interrupted: `SELECT id, attempts FROM tasks WHERE status = 'processing' ORDER BY created_at, rowid`,
  // created_at is untouched, so a requeued task goes back to its old place in the queue.
  requeue: `UPDATE tasks SET status = 'created', started_at = NULL WHERE id = ?`,
  failInterrupted: `UPDATE tasks SET status = 'failed', error = @error, finished_at = @now WHERE id = @id
                    RETURNING *`,
  historyWhere: `WHERE (@status IS NULL OR status = @status) AND (@model IS NULL OR model = @model)
                   AND (@owner IS NULL OR owner = @owner)`,
  purge: `DELETE FROM tasks WHERE status IN ('completed', 'failed') AND finished_at < ? RETURNING id, outputs`,
  purgeWebhook: 'DELETE FROM webhooks WHERE task_id = ?',
  webhookDue: `INSERT INTO webhooks (task_id, url, next_at) VALUES (?, ?, ?) ON CONFLICT (task_id) DO NOTHING`,
  dueWebhooks: `SELECT task_id AS taskId, url, attempts FROM webhooks
                WHERE next_at IS NOT NULL AND next_at <= ? ORDER BY next_at, rowid LIMIT ?`,
  webhookDelivered: `UPDATE webhooks SET attempts = attempts + 1, next_at = NULL, delivered_at = @now,
                       last_error = NULL WHERE task_id = @id`,
  webhookFailed: `UPDATE webhooks SET attempts = attempts + 1, next_at = @retryAt, last_error = @error
                  WHERE task_id = @id`,
  nextWebhook: 'SELECT MIN(next_at) FROM webhooks WHERE next_at IS NOT NULL',
  leaseWebhook: 'UPDATE webhooks SET next_at = ? WHERE task_id = ?',
} as const;

/**
 * Opens (creating if needed) the task database at `path`; `:memory:` gives a private in-memory
 * store for tests.
 * @example
 * const store = openSqliteTaskStore('data/tasks.db', { maxQueued: 100 });
 * const task = await store.create({ model: 'wavespeed-ai/flux-schnell', request, input: body, owner: null, webhook: null });
 * const next = await store.claimNext(); // the oldest created task, now processing
 */
export function openSqliteTaskStore(path: string, options: SqliteTaskStoreOptions): TaskStore {
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomTaskId;
  const db = openTaskDatabase(path, options.busyTimeoutMs ?? 5000);

  const insert = db.prepare<Record<string, unknown>, TaskRow>(SQL.insert);
  const getRow = db.prepare<[string], TaskRow>(SQL.get);
  const queueLength = db.prepare<[], number>(SQL.queueLength).pluck();
  const claim = db.prepare<{ now: number }, TaskRow>(SQL.claim);
  const complete = db.prepare<Record<string, unknown>, TaskRow>(SQL.complete);
  const fail = db.prepare<Record<string, unknown>, TaskRow>(SQL.fail);
  const position = db.prepare<[string], number>(SQL.position).pluck();
  const interrupted = db.prepare<[], { id: string; attempts: number }>(SQL.interrupted);
  const requeue = db.prepare<[string], void>(SQL.requeue);
  const failInterrupted = db.prepare<Record<string, unknown>, TaskRow>(SQL.failInterrupted);
  const historyCount = db
    .prepare<Record<string, unknown>, number>(`SELECT COUNT(*) FROM tasks ${SQL.historyWhere}`)
    .pluck();
  const historyPage = db.prepare<Record<string, unknown>, TaskRow>(
    `SELECT * FROM tasks ${SQL.historyWhere} ORDER BY created_at DESC, rowid DESC LIMIT @limit OFFSET @offset`,
  );
  const purge = db.prepare<[number], { id: string; outputs: string }>(SQL.purge);
  const purgeWebhook = db.prepare<[string], void>(SQL.purgeWebhook);
  const ownerActive = db.prepare<[string], number>(SQL.ownerActive).pluck();
  const webhookDue = db.prepare<[string, string, number], void>(SQL.webhookDue);
  const dueWebhooks = db.prepare<[number, number], DueWebhook>(SQL.dueWebhooks);
  const webhookDelivered = db.prepare<Record<string, unknown>, void>(SQL.webhookDelivered);
  const webhookFailed = db.prepare<Record<string, unknown>, void>(SQL.webhookFailed);
  const nextWebhook = db.prepare<[], number | null>(SQL.nextWebhook).pluck();
  const leaseWebhook = db.prepare<[number, string], void>(SQL.leaseWebhook);

  /** A guarded update matched nothing: say whether the task is missing or in the wrong state. */
  function refuse(id: string, to: TaskStatus): never {
    const row = getRow.get(id);
    if (!row) throw errors.TASK_NOT_FOUND(id);
    throw errors.TASK_STATE(id, row.status, to);
  }

  // IMMEDIATE takes the write lock up front: the count and the insert see the same queue even
  // when another process is creating tasks too.
  const createTx = db.transaction((task: NewTask): Task => {
    if ((queueLength.get() ?? 0) >= options.maxQueued) throw errors.QUEUE_FULL(options.maxQueued);
    const perOwner = options.maxActivePerOwner;
    if (perOwner !== undefined && task.owner !== null && (ownerActive.get(task.owner) ?? 0) >= perOwner)
      throw errors.KEY_BUSY(perOwner);
    return rowToTask(insert.get(newTaskParams(newId(), task, now())) as TaskRow);
  });

  const transition = (to: TaskStatus, run: () => TaskRow | undefined, id: string): Task =>
    db
      .transaction(() => {
        const row = run();
        if (!row) return refuse(id, to);
        if (row.webhook && (to === 'completed' || to === 'failed'))
          webhookDue.run(row.id, row.webhook, now());
        return rowToTask(row);
      })
      .immediate();

  const recoverTx = db.transaction((maxAttempts: number) => {
    const requeued: string[] = [];
    const failed: string[] = [];
    for (const { id, attempts } of interrupted.all()) {
      if (attempts < maxAttempts) {
        requeue.run(id);
        requeued.push(id);
      } else {
        const error = `interrupted: the worker stopped while running this task (${attempts} attempts)`;
        const row = failInterrupted.get({ id, error, now: now() });
        if (row?.webhook) webhookDue.run(id, row.webhook, now());
        failed.push(id);
      }
    }
    return { requeued, failed };
  });

  // One read transaction, so the total and the page come from the same snapshot.
  const historyTx = db.transaction((q: HistoryQuery) => {
    // The API validates paging; clamping here keeps a bad caller from an SQL error or a negative OFFSET.
    const pageSize = Math.max(1, Math.floor(q.pageSize));
    const page = Math.max(1, Math.floor(q.page));
    const where = { status: q.status ?? null, model: q.model ?? null, owner: q.owner ?? null };
    const total = historyCount.get(where) ?? 0;
    const items = historyPage.all({ ...where, limit: pageSize, offset: (page - 1) * pageSize });
    return { total, items: items.map(rowToTask) };
  });

  // Hands out due deliveries and leases them in one transaction (TaskStore.dueWebhooks).
  const dueTx = db.transaction((at: number, limit: number) => {
    const due = dueWebhooks.all(at, limit);
    for (const d of due) leaseWebhook.run(at + WEBHOOK_LEASE_MS, d.taskId);
    return due;
  });

  const purgeTx = db.transaction((cutoffMs: number) =>
    purge.all(cutoffMs).flatMap((r) => {
      purgeWebhook.run(r.id);
      return JSON.parse(r.outputs) as string[];
    }),
  );

  // The store's methods are async to share one interface with the Redis store; SQLite answers at
  // once, and a throw inside an async arrow becomes the rejection callers await.
  return {
    create: async (task) => createTx.immediate(task),
    get: async (id) => {
      const row = getRow.get(id);
      return row ? rowToTask(row) : undefined;
    },
    claimNext: async () => {
      const row = claim.get({ now: now() });
      return row ? rowToTask(row) : undefined;
    },
    complete: async (id, work: CompletedWork) =>
      transition(
        'completed',
        () =>
          complete.get({
            id,
            now: now(),
            outputs: JSON.stringify(work.outputs),
            nsfw: JSON.stringify(work.hasNsfwContents),
            seed: work.seed,
            timings: JSON.stringify(work.timings),
            warnings: JSON.stringify(work.warnings ?? []),
          }),
        id,
      ),
    fail: async (id, error) => transition('failed', () => fail.get({ id, error, now: now() }), id),
    // Unknown ids are "not queued" too: the contract has no error here, and callers look up first.
    queuePosition: async (id) => position.get(id) ?? 0,
    queueLength: async () => queueLength.get() ?? 0,
    // Meant for start-up, before any worker claims: a task `processing` then has no live owner.
    recoverInterrupted: async (maxAttempts) => recoverTx.immediate(maxAttempts),
    history: async (q) => historyTx(q),
    purgeFinishedBefore: async (cutoffMs) => purgeTx.immediate(cutoffMs),
    dueWebhooks: async (at, limit) => dueTx.immediate(at, limit),
    recordWebhookAttempt: async (id, attempt: WebhookAttempt) => {
      if (attempt.delivered) webhookDelivered.run({ id, now: now() });
      else webhookFailed.run({ id, retryAt: attempt.retryAt, error: attempt.error });
    },
    nextWebhookAt: async () => nextWebhook.get() ?? undefined,
    close: async () => {
      db.close();
    },
  };
}
