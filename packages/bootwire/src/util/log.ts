/**
 * The process logger: pino on stderr (stdout is kept for what a command prints as its result), as
 * JSON lines (`json`, for machines: one object per record) or one readable line per record
 * (`pretty`: pino-pretty, written synchronously like the JSON).
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';

// pino-pretty (thirty modules) loads only for `--log-format pretty`; it is CommonJS, so a require keeps
// createLogger synchronous.
const require = createRequire(import.meta.url);

export type { Logger };

export type LogFormat = 'json' | 'pretty';

export function createLogger(level = 'info', format: LogFormat = 'json'): Logger {
  const options = { level, base: { name: 'bootwire' } };
  if (format === 'pretty') {
    const pretty = require('pino-pretty') as typeof import('pino-pretty').PinoPretty;
    return pino(
      options,
      pretty({
        destination: 2,
        sync: true,
        singleLine: true,
        ignore: 'pid,hostname,name',
        translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
      }),
    );
  }
  return pino(options, pino.destination({ fd: 2, sync: true }));
}
