/**
 * @module jobs/redis-task-record
 * A task's Redis hash and its mapping to Task: the hash holds every field as a string (absent =
 * null), JSON fields opaque to the Lua scripts; they are parsed here and nowhere else.
 */
import type { Task, TaskStatus } from './task.js';

/** A flat `[field, value, field, value, …]` reply (HGETALL inside a script) as a record. */
export function fieldsOf(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
  return out;
}

function numberOrNull(v: string | undefined): number | null {
  return v === undefined ? null : Number(v);
}

/** @example hashToTask(await redis.hgetall(`${prefix}:task:${id}`)) */
export function hashToTask(h: Readonly<Record<string, string>>): Task {
  return {
    id: h.id as string,
    model: h.model as string,
    status: h.status as TaskStatus,
    request: JSON.parse(h.request as string),
    input: JSON.parse(h.input as string),
    owner: h.owner ?? null,
    webhook: h.webhook ?? null,
    outputs: JSON.parse(h.outputs ?? '[]'),
    hasNsfwContents: JSON.parse(h.has_nsfw_contents ?? '[]'),
    seed: numberOrNull(h.seed),
    error: h.error ?? null,
    attempts: Number(h.attempts ?? 0),
    timings: JSON.parse(h.timings ?? '{}'),
    warnings: JSON.parse(h.warnings ?? '[]'),
    createdAt: Number(h.created_at),
    startedAt: numberOrNull(h.started_at),
    finishedAt: numberOrNull(h.finished_at),
  };
}

/** A task's place in creation order (queue and history), from its hash. */
export function seqOf(h: Readonly<Record<string, string>>): number {
  return Number(h.seq);
}
