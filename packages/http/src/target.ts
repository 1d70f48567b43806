/**
 * From an HTTP request-target to the file name handed to the root resolver (src/files/root.ts).
 *
 * - origin-form `/dir/file?query` and absolute-form `http://host[:port]/dir/file` (RFC 9112 §3.2.2:
 *   a server must accept it; some Avaya phones send it) give the same name; the query is dropped.
 * - The path is %-decoded once, so `%2e%2e` becomes `..` and is refused by the resolver like a literal
 *   one, `%00` becomes a NUL and is refused; a malformed escape is a bad request.
 * - Leading slashes are removed: a URL path is always relative to the served root. (The TFTP rule
 *   that accepts the root's own absolute path does not apply, and a missing file is a plain 404.)
 * - A path that ends in `/` (or in a `.` segment, which dot-segment removal turns into one, RFC 3986
 *   §5.2.4) names a directory: `directory` is set, and the server must not answer it with a file
 *   (`/hello.txt/` is not `/hello.txt`, though the resolver, shared with TFTP, skips empty segments).
 */
export type TargetResult = { ok: true; name: string; directory: boolean } | { ok: false; status: 400; reason: string };

const bad = (reason: string): TargetResult => ({ ok: false, status: 400, reason });

const DIRECTORY = /(?:^|\/)\.?$/;

const ABSOLUTE = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/;

export function fileNameOfTarget(target: string): TargetResult {
  let p = target;
  const scheme = ABSOLUTE.exec(p);
  if (scheme) {
    const s = scheme[0].slice(0, scheme[0].indexOf(':')).toLowerCase();
    if (s !== 'http' && s !== 'https') return bad(`scheme ${s} in request-target`);
    p = p.slice(scheme[0].length);
    if (p === '' || p.startsWith('?')) p = `/${p}`;
  }
  if (!p.startsWith('/')) return bad('request-target is not a path');
  const end = p.search(/[?#]/);
  if (end >= 0) p = p.slice(0, end);
  let name: string;
  try {
    name = decodeURIComponent(p);
  } catch {
    return bad('malformed %-escape in path');
  }
  return { ok: true, name: name.replace(/^\/+/, ''), directory: DIRECTORY.test(name) };
}
