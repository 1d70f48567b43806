/** The process logger: pino, JSON lines on stderr (stdout is kept for what a command prints as its result). */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = 'info'): Logger {
  return pino({ level, base: { name: 'bootwire' } }, pino.destination({ fd: 2, sync: true }));
}
