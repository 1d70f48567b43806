/**
 * Which backup area a request-target falls in, and the one file name it may name there. Pure.
 *
 * A backup name is a single path segment below the area's prefix (`/backup/` + `299_16xxdata.txt`):
 * - `%`-decoded once; a malformed escape, a NUL, a control character or a name past NAME_MAX bytes is
 *   a bad request (400);
 * - a `/` or `\` in the decoded name (a second segment, `%2F`), `.` or `..`, or a name starting with
 *   `.` (hidden: where the area keeps its temporary files) is forbidden (403);
 * - the prefix alone (the area's directory) names no file (404: there is no listing).
 */
export type BackupTarget =
  { ok: true; area: number; name: string } | { ok: false; area: number; status: 400 | 403 | 404; reason: string };

/** Linux's NAME_MAX: the longest name one directory entry takes, in bytes. */
export const BACKUP_NAME_MAX = 255;

/** `/backup`, `backup/`, `/a/b` → `/backup/`, `/a/b/`. Throws on a prefix that is no path. */
export function normalizePrefix(prefix: string): string {
  const segs = prefix.split('/').filter((s) => s !== '');
  if (segs.length === 0)
    throw new Error(
      `backup prefix ${JSON.stringify(prefix)}: the root / cannot hold backups (every other path stays read-only)`,
    );
  for (const s of segs) {
    if (s === '.' || s === '..' || /[\x00-\x20\x7f%?#\\]/.test(s))
      throw new Error(`backup prefix ${JSON.stringify(prefix)}: segment ${JSON.stringify(s)} is not allowed`);
  }
  return `/${segs.join('/')}/`;
}

/** The path of an origin-form or absolute-form target (`http://h:p/x?q` → `/x`), or undefined. */
function pathOf(target: string): string | undefined {
  let p = target;
  const abs = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(p);
  if (abs) p = p.slice(abs[0].length) || '/';
  if (!p.startsWith('/')) return undefined;
  const end = p.search(/[?#]/);
  return end >= 0 ? p.slice(0, end) : p;
}

/**
 * The area (index into `prefixes`, normalized) and name of `target`; undefined when the target is
 * under no prefix (the read-only file server answers it). The longest matching prefix wins.
 */
export function backupTargetOf(target: string, prefixes: readonly string[]): BackupTarget | undefined {
  const p = pathOf(target);
  if (p === undefined) return undefined;
  let area = -1;
  for (let i = 0; i < prefixes.length; i++) {
    const pre = prefixes[i]!;
    // `/backup` (without the slash) is the area too: it names its directory.
    if ((p.startsWith(pre) || p === pre.slice(0, -1)) && (area < 0 || pre.length > prefixes[area]!.length)) area = i;
  }
  if (area < 0) return undefined;
  const raw = p.slice(prefixes[area]!.length);
  if (raw === '') return { ok: false, area, status: 404, reason: 'the backup directory itself names no file' };
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    return { ok: false, area, status: 400, reason: 'malformed %-escape' };
  }
  if (/[\x00-\x1f\x7f]/.test(name))
    return { ok: false, area, status: 400, reason: 'NUL or control character in the name' };
  if (Buffer.byteLength(name, 'utf8') > BACKUP_NAME_MAX)
    return { ok: false, area, status: 400, reason: `name longer than ${BACKUP_NAME_MAX} bytes` };
  if (name.includes('/') || name.includes('\\'))
    return { ok: false, area, status: 403, reason: 'a backup name is one path segment' };
  if (name.startsWith('.')) return { ok: false, area, status: 403, reason: 'names starting with "." are not backups' };
  return { ok: true, area, name };
}
