/**
 * re2js, the linear-time regular expression engine behind class regexes and remap rules, loaded on
 * first use: a server without such rules, or a codec user, never loads it.
 */
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';

let re2js: typeof RE2JS | undefined;

/** The RE2JS class, loaded the first time it is asked for (re2js is CommonJS: a require keeps this synchronous). */
export function re2(): typeof RE2JS {
  return (re2js ??= (createRequire(import.meta.url)('re2js') as { RE2JS: typeof RE2JS }).RE2JS);
}
