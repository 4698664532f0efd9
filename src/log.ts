/**
 * @module log
 * pino JSON logs on stderr, so that stdout carries only a command's own output.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  return pino({ level, base: { app: 'flux-serve' } }, pino.destination(2));
}
