/**
 * @module jobs/task-row
 * The tasks table's row shape and its mapping to and from Task: JSON columns are parsed here and
 * nowhere else, so the store's SQL only ever deals in rows.
 */
import type { NewTask, Task, TaskStatus } from './task.js';

export interface TaskRow {
  id: string;
  model: string;
  status: TaskStatus;
  request: string;
  input: string;
  owner: string | null;
  webhook: string | null;
  outputs: string;
  has_nsfw_contents: string;
  seed: number | null;
  error: string | null;
  attempts: number;
  timings: string;
  warnings: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

/** @example rowToTask(db.prepare('SELECT * FROM tasks WHERE id = ?').get(id) as TaskRow) */
export function rowToTask(row: TaskRow): Task {
  return {
    id: row.id,
    model: row.model,
    status: row.status,
    request: JSON.parse(row.request),
    input: JSON.parse(row.input),
    owner: row.owner,
    webhook: row.webhook,
    outputs: JSON.parse(row.outputs),
    hasNsfwContents: JSON.parse(row.has_nsfw_contents),
    seed: row.seed,
    error: row.error,
    attempts: row.attempts,
    timings: JSON.parse(row.timings),
    warnings: JSON.parse(row.warnings),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/** Named parameters for the insert statement. @example insert.get(newTaskParams(id, task, Date.now())) */
export function newTaskParams(id: string, task: NewTask, createdAt: number) {
  return {
    id,
    model: task.model,
    request: JSON.stringify(task.request),
    input: JSON.stringify(task.input),
    owner: task.owner,
    webhook: task.webhook,
    created_at: createdAt,
  };
}
