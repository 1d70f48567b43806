/**
 * Resolving a requested file name inside a served root, the same rules for TFTP and HTTP:
 * - a leading `/` is relative to the root (and a name spelled with the root's own absolute path is
 *   accepted as the file below it);
 * - `..` segments, NUL bytes and symlinks whose target leaves the root are refused (access violation);
 * - an absolute name that does not name a file inside the root is refused as outside the root
 *   (access violation), a relative one that does not exist is "not found";
 * - a name the filesystem cannot hold (a segment past NAME_MAX) is invalid.
 * Messages name the request (quoted, cut to a bound), never the server's own paths.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { quote } from '../quote.js';

export type ResolveFailure = { ok: false; reason: 'not-found' | 'forbidden' | 'invalid'; message: string };
export type Resolved = { ok: true; path: string; relative: string } | ResolveFailure;

const forbidden = (message: string): ResolveFailure => ({ ok: false, reason: 'forbidden', message });
const notFound = (message: string): ResolveFailure => ({ ok: false, reason: 'not-found', message });
const tooLong = (name: string): ResolveFailure => ({
  ok: false,
  reason: 'invalid',
  message: `file name ${quote(name)} is too long`,
});

/** The root's real path, checked to be a readable directory. Throws with a one-line message otherwise. */
export async function openRoot(root: string): Promise<string> {
  let real: string;
  try {
    real = await fs.realpath(root);
  } catch {
    throw new Error(`root ${root} does not exist`);
  }
  const st = await fs.stat(real);
  if (!st.isDirectory()) throw new Error(`root ${root} is not a directory`);
  return real;
}

/** True when `p` is `rootReal` or below it (both real paths). */
export function isInside(rootReal: string, p: string): boolean {
  return p === rootReal || p.startsWith(rootReal.endsWith(path.sep) ? rootReal : rootReal + path.sep);
}

/** Splits a wire name into the relative segments below the root, or refuses it. */
function segmentsOf(rootReal: string, name: string): { segments: string[]; absolute: boolean } | ResolveFailure {
  if (name.includes('\0')) return forbidden('file name contains NUL');
  let rel = name;
  let absolute = false;
  if (rel.startsWith('/')) {
    absolute = true;
    rel = isInside(rootReal, rel) ? rel.slice(rootReal.length) : rel;
  }
  const segments: string[] = [];
  // Backslashes are split on too: a Windows-style `..\` must not slip past the check.
  for (const seg of rel.split(/[/\\]/)) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return forbidden(`${quote(name)} leaves the root`);
    segments.push(seg);
  }
  if (segments.length === 0) return forbidden(`${quote(name)} is a directory`);
  // Backslash is a legal file name character on POSIX: keep the original segments between slashes.
  return { segments: rel.split('/').filter((s) => s !== '' && s !== '.'), absolute };
}

/** Resolves an existing regular file to read. */
export async function resolveForRead(rootReal: string, name: string): Promise<Resolved> {
  const seg = segmentsOf(rootReal, name);
  if ('ok' in seg) return seg;
  const full = path.join(rootReal, ...seg.segments);
  let real: string;
  try {
    real = await fs.realpath(full);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENAMETOOLONG') return tooLong(name);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return seg.absolute ? forbidden(`${quote(name)} is outside the root`) : notFound(`${quote(name)} not found`);
    }
    return forbidden(`${quote(name)}: ${code ?? 'cannot resolve'}`);
  }
  if (!isInside(rootReal, real)) return forbidden(`${quote(name)} leads outside the root`);
  try {
    const st = await fs.stat(real);
    if (!st.isFile()) return forbidden(`${quote(name)} is not a regular file`);
  } catch {
    return notFound(`${quote(name)} not found`);
  }
  return { ok: true, path: real, relative: path.relative(rootReal, real) };
}

/** Resolves where an upload would go: its directory must exist inside the root. */
export async function resolveForWrite(rootReal: string, name: string): Promise<Resolved> {
  const seg = segmentsOf(rootReal, name);
  if ('ok' in seg) return seg;
  const base = seg.segments[seg.segments.length - 1]!;
  const dir = path.join(rootReal, ...seg.segments.slice(0, -1));
  let dirReal: string;
  try {
    dirReal = await fs.realpath(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENAMETOOLONG') return tooLong(name);
    return forbidden(`directory of ${quote(name)} does not exist`);
  }
  if (!isInside(rootReal, dirReal)) return forbidden(`${quote(name)} leads outside the root`);
  const target = path.join(dirReal, base);
  try {
    const st = await fs.lstat(target);
    if (st.isSymbolicLink()) return forbidden(`${quote(name)} is a symbolic link`);
    if (!st.isFile()) return forbidden(`${quote(name)} is not a regular file`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENAMETOOLONG') return tooLong(name);
    /* does not exist yet: fine */
  }
  return { ok: true, path: target, relative: path.relative(rootReal, target) };
}
