/**
 * Test support: the real `flux-serve serve` process on a built tiny model, on a loopback port.
 * `tinyServerRoot` builds the model once into a temp dir; `startServer` spawns the CLI
 * (`node --import tsx src/cli.ts serve --port P --model DIR`, FLUX_SERVE_HOME in that dir) and
 * resolves once `/readyz` answers 200. Used by the process-level suites and by bench/.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTinyModel } from './tiny-model.js';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** Longest wait for `/readyz` (the worker loads the model meanwhile), ms. */
const READY_TIMEOUT_MS = 30_000;
/** Last characters of the server's stderr kept for the error of a start that fails. */
const STDERR_TAIL_CHARS = 4000;

/** Every server started and not yet exited, so that `stopAllServers` leaves no process behind. */
const live = new Set<ChildProcess>();

export interface TinyServerRoot {
  /** The temp dir: `model/` (built), `home/` (FLUX_SERVE_HOME of the servers started on it). */
  readonly root: string;
  readonly model: string;
  readonly home: string;
  /** Stops every server still running and removes the temp dir. */
  cleanup(): Promise<void>;
}

/**
 * A temp dir with the tiny model built in it (random weights drawn from `seed`).
 * @example const dir = await tinyServerRoot('sdk-'); const server = await startServer(dir); … await dir.cleanup();
 */
export async function tinyServerRoot(
  prefix: string,
  seed = 6,
  variant: 'tiny' | 'tiny-dev' = 'tiny',
): Promise<TinyServerRoot> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const model = await buildTinyModel(root, variant, seed);
  return {
    root,
    model,
    home: join(root, 'home'),
    cleanup: async () => {
      await stopAllServers();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A TCP port free on 127.0.0.1 at the time of the call. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

export interface ServerOptions {
  /** Built model dir (`--model`). */
  readonly model: string;
  /** FLUX_SERVE_HOME: task database and outputs; a restart on the same home recovers its tasks. */
  readonly home: string;
  /** Default: a free port. */
  readonly port?: number;
  /** Added to the inherited environment, e.g. `{ FLUX_SERVE_MAX_QUEUE: '10000' }`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra `serve` arguments, e.g. `['--keys', file]`. */
  readonly args?: readonly string[];
  /** Longest wait for `/readyz`, ms (default 30 s; a bench on a loaded machine may need more). */
  readonly readyTimeoutMs?: number;
}

export interface ServerProcess {
  readonly port: number;
  /** `http://127.0.0.1:<port>`, the server's public base (output URLs start with it). */
  readonly base: string;
  readonly child: ChildProcess;
  /** The last characters of the server's log (stderr), e.g. to wait for a line it logs. */
  stderr(): string;
  /** Sends `signal` (default SIGKILL) and resolves when the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Graceful stop: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/**
 * Spawns `flux-serve serve` and resolves once `/readyz` answers 200.
 * @throws Error with the tail of the server's stderr if it exits or is not ready within 30 s
 */
export async function startServer(o: ServerOptions): Promise<ServerProcess> {
  const port = o.port ?? (await freePort());
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      CLI,
      'serve',
      '--port',
      String(port),
      '--model',
      o.model,
      ...(o.args ?? []),
    ],
    {
      env: { ...process.env, FLUX_SERVE_HOME: o.home, LOG_LEVEL: 'warn', ...o.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
  });

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited(child);
  };
  const stop = async (graceMs = 5000) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await kill('SIGTERM');
    clearTimeout(timer);
  };
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (o.readyTimeoutMs ?? READY_TIMEOUT_MS);
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`server exited (${child.exitCode ?? child.signalCode}) before ready:\n${stderr}`);
    const res = await fetch(`${base}/readyz`).catch(() => undefined);
    if (res?.status === 200) return { port, base, child, stderr: () => stderr, kill, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await kill();
  throw new Error(`server never became ready:\n${stderr}`);
}

/** SIGKILLs every server this process started that is still running. */
export async function stopAllServers(): Promise<void> {
  await Promise.all(
    [...live].map((c) => {
      c.kill('SIGKILL');
      return exited(c);
    }),
  );
}

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Sends `signal` (default SIGKILL) and resolves when the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns `flux-serve worker` (scale-out: `args` carry `--queue redis://…`) and resolves once it logs
 * `worker ready` (its model is loaded).
 * @throws Error with the tail of its stderr if it exits or is not ready within 30 s
 */
export async function startWorker(o: Omit<ServerOptions, 'port'>): Promise<WorkerProcess> {
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), CLI, 'worker', '--model', o.model, ...(o.args ?? [])],
    {
      env: { ...process.env, FLUX_SERVE_HOME: o.home, LOG_LEVEL: 'info', ...o.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stderr = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker never became ready:\n${stderr}`)),
      o.readyTimeoutMs ?? READY_TIMEOUT_MS,
    );
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL_CHARS);
      if (stderr.includes('"worker ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code ?? signal}) before ready:\n${stderr}`));
    });
  });
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited(child);
  };
  try {
    await ready;
  } catch (e) {
    await kill();
    throw e;
  }
  return { child, kill };
}
