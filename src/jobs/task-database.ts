/**
 * @module jobs/task-database
 * Opens the SQLite connection the task store runs on, with the settings that make it safe to
 * share between processes and durable across power loss, and the schema brought up to date.
 */
import Database from 'better-sqlite3';
import { migrateTaskSchema } from './task-schema.js';

/**
 * @example const db = openTaskDatabase('data/tasks.db', 5000); // or ':memory:' in tests
 */
export function openTaskDatabase(path: string, busyTimeoutMs: number): Database.Database {
  // `timeout` is SQLite's busy handler: a writer waits this long for another process's lock.
  const db = new Database(path, { timeout: busyTimeoutMs });
  try {
    // WAL: the API reads task status while the worker writes, without either blocking the other.
    db.pragma('journal_mode = WAL');
    // FULL, not WAL's usual NORMAL: NORMAL survives a process crash but a power cut may drop the
    // last commits, i.e. a task whose id the client already has, or a completion whose webhook
    // was already sent. Tasks arrive at human rates, so an fsync per commit costs nothing.
    db.pragma('synchronous = FULL');
    migrateTaskSchema(db, path);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}
