/**
 * @module jobs/task-schema
 * The tasks table and its version. The version lives in `PRAGMA user_version` so a file written
 * by a newer build is refused with a clear message instead of being read with the wrong columns.
 */
import type Database from 'better-sqlite3';
import { errors } from '../errors.js';

/** Bump with a new entry in MIGRATIONS whenever the table changes. */
export const TASK_SCHEMA_VERSION = 2;

/** MIGRATIONS[v] takes a database at version v to v + 1. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE tasks (
     id TEXT PRIMARY KEY,
     model TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('created', 'processing', 'completed', 'failed')),
     request TEXT NOT NULL,            -- JSON GenerationRequest
     input TEXT NOT NULL,              -- JSON raw request body
     owner TEXT,
     webhook TEXT,
     outputs TEXT NOT NULL DEFAULT '[]',           -- JSON string[]
     has_nsfw_contents TEXT NOT NULL DEFAULT '[]', -- JSON boolean[]
     seed INTEGER,
     error TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     timings TEXT NOT NULL DEFAULT '{}',           -- JSON TaskTimings
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER
   );
   -- The queue: the oldest created task, positions and the queue length all scan this index.
   CREATE INDEX tasks_status_created ON tasks (status, created_at);
   -- History pages newest first without a sort over the whole table.
   CREATE INDEX tasks_created ON tasks (created_at);`,
  // Webhook deliveries are rows of their own, written in the same transaction that finishes the
  // task: a crash between "completed" and "delivered" leaves a due row that the next start sends.
  `CREATE TABLE webhooks (
     task_id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_at INTEGER,                  -- ms since epoch; NULL once delivered or given up
     delivered_at INTEGER,
     last_error TEXT
   );
   CREATE INDEX webhooks_due ON webhooks (next_at);
   -- Per-key limits count a key's unfinished tasks.
   CREATE INDEX tasks_owner_status ON tasks (owner, status);
   -- What a run wants the client to know (e.g. LoRA keys that matched no layer): JSON string[].
   ALTER TABLE tasks ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';`,
];

/**
 * Brings a freshly opened database up to TASK_SCHEMA_VERSION, in one transaction so that two
 * processes opening a new file at once cannot both create the table.
 * @example migrateTaskSchema(new Database(':memory:'), ':memory:')
 */
export function migrateTaskSchema(db: Database.Database, path: string): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > TASK_SCHEMA_VERSION) {
      throw errors.USAGE(
        `task database ${path} has schema version ${version}, newer than the ${TASK_SCHEMA_VERSION} this build ` +
          'understands: it was written by a newer flux-serve; upgrade, or point the server at another file',
      );
    }
    for (let v = version; v < TASK_SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] as string);
    if (version !== TASK_SCHEMA_VERSION) db.pragma(`user_version = ${TASK_SCHEMA_VERSION}`);
  }).immediate();
}
