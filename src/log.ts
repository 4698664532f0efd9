/**
 * @module log
 * pino logs on stderr, so that stdout carries only a command's own output: one JSON object a line
 * for machines (files, journald, log shippers), and readable lines when stderr is a terminal
 * (pino-pretty), since a person watching `npm start` should not have to read JSON.
 * `FLUX_SERVE_LOG_FORMAT` = `json` or `pretty` chooses regardless of the terminal.
 */
import { pino } from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Whether `format` (auto: a terminal on stderr) means readable lines. */
export function prettyLogs(format: LogFormat, isTty = process.stderr.isTTY === true): boolean {
  return format === 'pretty' || (format === 'auto' && isTty);
}

export function createLogger(level: string, format: LogFormat = 'auto'): Logger {
  const options = { level, base: { app: 'flux-serve' } };
  if (!prettyLogs(format)) return pino(options, pino.destination(2));
  // Synchronous, like pino.destination(2): a crash loses no line.
  return pino(
    options,
    pretty({ destination: 2, sync: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname,app' }),
  );
}
