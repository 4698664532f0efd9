/**
 * @module config
 * The one place the environment is read. Everything else receives these values explicitly.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Config {
  /** Model home: downloaded checkpoints and built model dirs live here, never in the repo. */
  readonly home: string;
  readonly logLevel: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  return Object.freeze({
    home: env.FLUX_SERVE_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'flux-serve'),
    logLevel: env.LOG_LEVEL ?? 'info',
  });
}
