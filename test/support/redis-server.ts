/**
 * Test support: a private `redis-server` (Debian package; `.ci/run` installs it) on a free loopback
 * port in a temp dir, never a system one. `redisServerPath()` finds the program; without it the
 * Redis suites fail in CI (CI=true) and are skipped locally, saying why.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './server-process.js';

const CANDIDATES = ['/usr/bin/redis-server', '/usr/sbin/redis-server', '/usr/local/bin/redis-server'];
/** Longest wait for a started redis-server to answer PING, ms. */
const READY_TIMEOUT_MS = 10_000;

/** The redis-server program, or undefined when it is not installed. */
export function redisServerPath(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  return found || CANDIDATES.find((p) => existsSync(p));
}

/**
 * Whether the Redis suites can run here. In CI a missing redis-server is an error (they must run
 * there); locally they are skipped with the reason printed.
 * @example describe.skipIf(!redisTestsRun())('Redis task store', () => { … })
 */
export function redisTestsRun(): boolean {
  if (redisServerPath()) return true;
  const why = 'redis-server not found (apt-get install redis-server; .ci/run does it)';
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`Redis tests cannot run: ${why}`);
  process.stderr.write(`skipping the Redis tests: ${why}\n`);
  return false;
}

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>/0` */
  readonly url: string;
  /**
   * Stops it (SIGTERM, or e.g. SIGKILL for a crash); `start` brings it back on the same port and
   * dir: empty, or with every write it acknowledged when started with `persist`.
   */
  stop(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its temp dir. */
  close(): Promise<void>;
}

async function ping(port: number): Promise<boolean> {
  const r = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' });
  if (r.error) {
    // No redis-cli: a TCP connect is enough to know it listens.
    const { connect } = await import('node:net');
    return new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      }).on('error', () => resolve(false));
    });
  }
  return r.stdout.trim() === 'PONG';
}

export interface RedisServerOptions {
  /** Append-only file fsynced on every write (`--appendonly yes --appendfsync always`): a restart loses nothing. */
  readonly persist?: boolean;
}

/** Starts a private redis-server; resolves once it answers. */
export async function startRedisServer(o: RedisServerOptions = {}): Promise<RedisServer> {
  const program = redisServerPath();
  if (!program) throw new Error('redis-server not found');
  const dir = await mkdtemp(join(tmpdir(), 'redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      program,
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''],
        ...(o.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('redis-server did not answer in time');
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    stop,
    start,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
