/**
 * Directory listings for LIST (the `ls -l` form every FTP client parses, as vsftpd and ProFTPD send
 * it) and NLST (names only), as CRLF-terminated lines. Pure.
 */
export interface ListEntry {
  readonly name: string;
  readonly directory: boolean;
  readonly size: number;
  readonly mtimeMs: number;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const HALF_YEAR_MS = 182 * 24 * 3600 * 1000;

/** `Dec  3 18:57` for the last six months, `Dec  3  2025` otherwise (as ls does), in UTC. */
function lsTime(ms: number, nowMs: number): string {
  const d = new Date(ms);
  const day = String(d.getUTCDate()).padStart(2, ' ');
  const recent = nowMs - ms < HALF_YEAR_MS && ms - nowMs < 3600_000;
  const tail = recent
    ? `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`
    : ` ${d.getUTCFullYear()}`;
  return `${MONTHS[d.getUTCMonth()]} ${day} ${tail}`;
}

/** A name as a listing line may carry it: CR and LF would end the line early. */
const safe = (name: string) => name.replace(/[\r\n]/g, '?');

export function formatList(entries: readonly ListEntry[], nowMs: number): string {
  return entries
    .map(
      (e) =>
        `${e.directory ? 'drwxr-xr-x' : '-rw-r--r--'} 1 ftp ftp ${String(e.size).padStart(12)} ` +
        `${lsTime(e.mtimeMs, nowMs)} ${safe(e.name)}\r\n`,
    )
    .join('');
}

export function formatNlst(entries: readonly ListEntry[]): string {
  return entries.map((e) => `${safe(e.name)}\r\n`).join('');
}
