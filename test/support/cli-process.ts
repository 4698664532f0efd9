/**
 * Test support: one `flux-serve` command run to its end, as a user runs it
 * (`node --import tsx src/cli.ts …`), with its output and exit code.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export type CliResult = { stdout: string; stderr: string; code: number };

/** @example const { code, stderr } = await runCli({ FLUX_SERVE_HOME: home }, 'serve', '--port', '8080'); */
export async function runCli(env: Readonly<Record<string, string>>, ...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
    });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}
