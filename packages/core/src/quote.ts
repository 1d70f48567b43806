/**
 * Text a client chose (a file name, a mode), as it appears in replies and logs: quoted, and cut to a
 * bound, so a 65,000-byte name makes neither a 65,000-byte ERROR nor a 65,000-byte log line.
 */

/** Characters of client text kept in a message. */
export const QUOTED_MAX = 64;

/** `"name"`, or `"first 64 characters…" (65000 characters)` for a longer one. */
export function quote(text: string, max = QUOTED_MAX): string {
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max) + '…')} (${text.length} characters)`;
}

/** A whole message cut to `max` characters (the end marked with …). */
export function cut(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}
