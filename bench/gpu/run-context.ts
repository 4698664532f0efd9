/**
 * The state one GPU proof run shares between its phases: where it writes, what it measured so far
 * (results.json, saved after every phase so a run cut short still leaves its figures), and the
 * phases' start and end times that the report matches with nvidia-smi's memory samples.
 */
import { spawn } from 'node:child_process';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Phase } from './gpu-memory.js';
import type { Profile } from './profile.js';

export interface Results {
  mode: string;
  startedAt: string;
  phases: Phase[];
  /** Phases that failed, with their error: the run goes on without them. */
  errors: { phase: string; message: string }[];
  [section: string]: unknown;
}

export const RESULTS_FILE = 'results.json';

export class RunContext {
  readonly results: Results;

  constructor(
    readonly profile: Profile,
    readonly out: string,
    readonly work: string,
  ) {
    this.results = { mode: profile.mode, startedAt: new Date().toISOString(), phases: [], errors: [] };
  }

  async save(): Promise<void> {
    await writeFile(join(this.out, RESULTS_FILE), `${JSON.stringify(this.results, null, 2)}\n`);
  }

  /**
   * Runs one phase, timed and recorded; a failure is logged and kept in results.errors, and the
   * run goes on: one broken measurement must not cost the others on a machine held by the minute.
   */
  async phase<T>(name: string, body: () => Promise<T>): Promise<T | undefined> {
    const start = Date.now();
    console.log(`[${new Date(start).toISOString()}] ${name} …`);
    try {
      return await body();
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      console.error(`${name} FAILED: ${message}`);
      this.results.errors.push({ phase: name, message: message.split('\n').slice(0, 6).join('\n') });
      return undefined;
    } finally {
      const end = Date.now();
      this.results.phases.push({ name, start, end });
      console.log(`  ${name}: ${((end - start) / 1000).toFixed(1)} s`);
      await this.save();
    }
  }
}

/**
 * Runs this same program (the bundle, or bench.ts under tsx) with `args` in a child process:
 * builds run side by side on the machine's cores, and ONNX Runtime's verbose log goes to a file of
 * its own. Resolves to the child's stdout; rejects with its stderr's tail when it fails.
 */
export async function runSelf(args: readonly string[], stderrFile?: string): Promise<string> {
  const script = process.argv[1];
  if (!script) throw new Error('cannot tell which script is running');
  const err = stderrFile ? await open(stderrFile, 'w') : undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
        stdio: ['ignore', 'pipe', err ? err.fd : 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0
          ? resolve(stdout)
          : reject(
              new Error(`${args[0]} exited with ${code}${stderr ? `: ${stderr}` : ` (see ${stderrFile})`}`),
            ),
      );
    });
  } finally {
    await err?.close();
  }
}
