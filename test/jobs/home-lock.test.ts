/**
 * One server per home: the lock refuses a second holder with its pid, and a holder killed with
 * SIGKILL leaves nothing stale behind.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FluxServeError } from '../../src/errors.js';
import { lockHome } from '../../src/jobs/home-lock.js';

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'home-lock-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('lockHome', () => {
  it('refuses a second holder, naming the first, until it is released', () => {
    const first = lockHome(home, '127.0.0.1:8080');
    let refusal: unknown;
    try {
      lockHome(home, '127.0.0.1:8081');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(FluxServeError);
    expect((refusal as FluxServeError).code).toBe('FLUX_ERR_HOME_IN_USE');
    expect((refusal as Error).message).toContain(`flux-serve process ${process.pid}`);
    expect((refusal as Error).message).toContain('listening on 127.0.0.1:8080');
    first.release();
    const again = lockHome(home, '127.0.0.1:8081');
    expect(again.holder.listen).toBe('127.0.0.1:8081');
    again.release();
  });

  it('is free again once a holder is killed with SIGKILL', async () => {
    const script = `
      import { lockHome } from ${JSON.stringify(new URL('../../src/jobs/home-lock.ts', import.meta.url).href)};
      lockHome(${JSON.stringify(home)}, 'child');
      process.stdout.write('locked\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
      child.once('exit', (code) => reject(new Error(`child exited ${code} before locking`)));
    });
    expect(() => lockHome(home, 'parent')).toThrow(`flux-serve process ${child.pid}`);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const lock = lockHome(home, 'parent');
    expect(lock.holder.pid).toBe(process.pid);
    lock.release();
  }, 20_000);
});
