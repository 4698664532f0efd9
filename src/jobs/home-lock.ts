/**
 * @module jobs/home-lock
 * One `serve` per home. A second server on the same `tasks.db` would run crash recovery on the
 * first one's running task and requeue it under its feet, so the home is locked before anything
 * reads or writes its tasks.
 *
 * The lock is an SQLite file held in exclusive locking mode: the kernel's file lock is what is
 * held, so it ends with the process however it ends (a SIGKILL leaves no stale lock, and no pid can
 * be mistaken for a reused one). Who holds it is written beside it for the refusal's message,
 * since a file in exclusive mode cannot be read by anyone else.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { errors } from '../errors.js';

export const LOCK_FILE = 'serve.lock';
export const HOLDER_FILE = 'serve.lock.json';

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly listen: string;
  readonly since: string;
}

export interface HomeLock {
  readonly holder: LockHolder;
  /** Gives the home up (the process's end does too). */
  release(): void;
}

function describe(holder: LockHolder | undefined): string {
  if (!holder) return 'another flux-serve process';
  return `flux-serve process ${holder.pid} on ${holder.host} (listening on ${holder.listen}, since ${holder.since})`;
}

function readHolder(dir: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, HOLDER_FILE), 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/**
 * Takes the home `dir` for this process, or throws HOME_IN_USE naming the process that has it.
 * @example const lock = lockHome(config.home, '127.0.0.1:8080'); … lock.release();
 */
export function lockHome(dir: string, listen: string): HomeLock {
  const db = new Database(join(dir, LOCK_FILE), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The first write takes the exclusive lock, and in this mode it is kept until the connection closes.
    db.exec(
      'CREATE TABLE IF NOT EXISTS held (at INTEGER); DELETE FROM held; INSERT INTO held VALUES (unixepoch())',
    );
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    throw errors.HOME_IN_USE(dir, describe(readHolder(dir)));
  }
  const holder: LockHolder = { pid: process.pid, host: hostname(), listen, since: new Date().toISOString() };
  writeFileSync(join(dir, HOLDER_FILE), `${JSON.stringify(holder)}\n`);
  return {
    holder,
    release: () => {
      if (!db.open) return;
      rmSync(join(dir, HOLDER_FILE), { force: true });
      db.close();
    },
  };
}
