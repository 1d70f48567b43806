/**
 * Backup and restore areas of the HTTP server: the one place a client may write. Avaya 96xx/96x1 and
 * 1600 phones with BRURI set PUT their user data (`299_16xxdata.txt`, `299_96xxdata.txt`) there, GET it
 * back at login, and the 96xx may DELETE it; BRAUTH makes them send Basic credentials.
 *
 * Under each configured prefix (`/backup/`): PUT, GET, HEAD and DELETE of one-segment names
 * (backup-target.ts), in the area's directory. Every other path of the server stays read-only.
 * - A PUT streams into a hidden temporary file (src/files/atomic-file.ts), with back-pressure; only
 *   once the whole body is there, fsynced, renamed over the name and the directory fsynced does its
 *   201 (new) or 204 (replaced) go out: an acknowledged backup survives a crash, and a reader sees
 *   the old file or the new one, never part of one.
 * - A body over the size cap gets 413 (announced by Content-Length: before a byte is read, and no
 *   100 Continue is sent) and nothing is stored; the connection is closed rather than read past it.
 * - With users configured, every method needs Basic credentials (compared in constant time); without,
 *   401 and `WWW-Authenticate`.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AtomicFile, syncDirectory } from '@bootwire/core';
import { basicCredentials, type Credential, CredentialSet } from '@bootwire/core';
import { backupTargetOf, normalizePrefix } from './backup-target.js';
import { contentTypeFor } from './content-type.js';
import { formatHttpDate } from './http-date.js';

export interface BackupAreaOptions {
  /** URL path prefix, e.g. `/backup/`. */
  prefix: string;
  /** Directory the area's files live in (must exist and be writable). */
  dir: string;
  /** When given (and not empty), every request to the area needs one of these in Basic auth. */
  users?: readonly Credential[];
}

export interface HttpBackupOptions {
  areas: readonly BackupAreaOptions[];
  /** Largest body a PUT may store. Default 1 MiB (a phone's data file is a few KB). */
  maxBytes?: number;
  /** Realm named in `WWW-Authenticate`. */
  realm?: string;
}

/** What the HTTP server's request record learns from a backup request. */
export interface BackupRecord {
  file?: string;
  bytes: number;
  size?: number;
}

/** The hook the HTTP server calls (src/http/server.ts). */
export interface HttpBackupHook {
  /** True when the request-target is under a backup prefix: the hook answers it. */
  owns(target: string): boolean;
  /** For `Expect: 100-continue`: true when the PUT may send its body (authorized, named well, under the cap). */
  mayContinue(req: http.IncomingMessage): boolean;
  handle(req: http.IncomingMessage, res: http.ServerResponse, rec: BackupRecord): Promise<void>;
}

export const DEFAULT_BACKUP_MAX_BYTES = 1024 * 1024;
export const BACKUP_ALLOW = 'GET, HEAD, PUT, DELETE';

/** Bytes of a PUT body handed to the file and not yet written before the request is paused. */
const WRITE_HIGH_WATER = 256 * 1024;

interface Area {
  readonly prefix: string;
  readonly dir: string;
  readonly users: CredentialSet;
}

const hasBody = (req: http.IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';

function empty(res: http.ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Length', '0');
  res.end();
}

export class HttpBackupStore implements HttpBackupHook {
  private readonly prefixes: string[];
  private readonly realm: string;

  private constructor(
    private readonly areas: readonly Area[],
    readonly maxBytes: number,
    realm: string,
  ) {
    this.prefixes = areas.map((a) => a.prefix);
    this.realm = realm.replace(/["\\]/g, '');
  }

  /**
   * Checks every area (prefix well-formed and unique, directory existing and writable). Throws with a one-line message.
   */
  static async open(o: HttpBackupOptions): Promise<HttpBackupStore> {
    const areas: Area[] = [];
    for (const a of o.areas) {
      const prefix = normalizePrefix(a.prefix);
      if (areas.some((x) => x.prefix === prefix)) throw new Error(`backup prefix ${prefix} is given twice`);
      let dir: string;
      try {
        dir = await fs.realpath(a.dir);
        if (!(await fs.stat(dir)).isDirectory()) throw new Error('not a directory');
        await fs.access(dir, fsConstants.W_OK);
      } catch (e) {
        throw new Error(
          `backup directory ${a.dir} (for ${prefix}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
      areas.push({ prefix, dir, users: new CredentialSet(a.users ?? []) });
    }
    const maxBytes = o.maxBytes ?? DEFAULT_BACKUP_MAX_BYTES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw new Error(`backup size cap ${maxBytes} is not a byte count`);
    return new HttpBackupStore(areas, maxBytes, o.realm ?? 'bootwire backup');
  }

  /** The areas as served: prefix and real directory. */
  list(): { prefix: string; dir: string; auth: boolean }[] {
    return this.areas.map((a) => ({ prefix: a.prefix, dir: a.dir, auth: a.users.size > 0 }));
  }

  owns(target: string): boolean {
    return backupTargetOf(target, this.prefixes) !== undefined;
  }

  private authorized(area: Area, req: http.IncomingMessage): boolean {
    if (area.users.size === 0) return true;
    const c = basicCredentials(req.headers.authorization);
    return c !== undefined && area.users.verify(c.user, c.password);
  }

  mayContinue(req: http.IncomingMessage): boolean {
    const t = backupTargetOf(req.url ?? '', this.prefixes);
    if (!t || !t.ok || req.method !== 'PUT') return false;
    const len = req.headers['content-length'];
    if (len !== undefined && !(Number(len) <= this.maxBytes)) return false;
    return this.authorized(this.areas[t.area]!, req);
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, rec: BackupRecord): Promise<void> {
    const t = backupTargetOf(req.url ?? '', this.prefixes)!;
    const area = this.areas[t.area]!;
    const method = req.method ?? '';
    // A body this server will not read: close rather than parse past it for the next request.
    const close: Record<string, string> = hasBody(req) && method !== 'PUT' ? { Connection: 'close' } : {};
    if (method !== 'GET' && method !== 'HEAD' && method !== 'PUT' && method !== 'DELETE')
      return empty(res, 405, { Allow: BACKUP_ALLOW, ...(hasBody(req) ? { Connection: 'close' } : {}) });
    if (!this.authorized(area, req)) {
      return empty(res, 401, {
        'WWW-Authenticate': `Basic realm="${this.realm}", charset="UTF-8"`,
        ...(hasBody(req) ? { Connection: 'close' } : {}),
      });
    }
    if (!t.ok) return empty(res, t.status, hasBody(req) ? { Connection: 'close' } : {});
    rec.file = `${area.prefix}${t.name}`;
    const file = path.join(area.dir, t.name);
    if (method === 'PUT') return this.put(req, res, file);
    const st = await fs.lstat(file).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
      throw e;
    });
    if (!st) return empty(res, 404, close);
    if (!st.isFile()) return empty(res, 403, close); // a directory or symbolic link placed there is no backup
    if (method === 'DELETE') {
      await fs.unlink(file).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
      await syncDirectory(area.dir);
      return empty(res, 204, close);
    }
    // GET / HEAD: from an open handle, so a PUT renaming a new version in meanwhile changes nothing here.
    const handle = await fs.open(file, 'r');
    try {
      const hs = await handle.stat();
      rec.size = hs.size;
      res.writeHead(200, {
        'Content-Type': contentTypeFor(t.name),
        'Content-Length': String(hs.size),
        'Last-Modified': formatHttpDate(Math.floor(hs.mtimeMs / 1000) * 1000),
        'Cache-Control': 'no-store',
        ...close,
      });
      if (method === 'HEAD' || hs.size === 0) {
        res.end();
        return;
      }
      const stream = handle.createReadStream({ start: 0, end: hs.size - 1, autoClose: false });
      stream.on('data', (c: Buffer | string) => (rec.bytes += c.length));
      await pipeline(stream, res).catch(() => {
        /* the client went away: the record says so (ok false) */
      });
    } finally {
      await handle.close();
    }
  }

  private async put(req: http.IncomingMessage, res: http.ServerResponse, file: string): Promise<void> {
    const closeNow = { Connection: 'close' };
    const declared = req.headers['content-length'];
    if (declared !== undefined && !(Number(declared) <= this.maxBytes)) return empty(res, 413, closeNow);
    // RFC 9110 §14.5: a PUT with Content-Range is a partial update, which is not offered.
    if (req.headers['content-range'] !== undefined) return empty(res, 400, closeNow);
    const before = await fs.lstat(file).catch(() => undefined);
    if (before && !before.isFile()) return empty(res, 403, closeNow);
    const out = await AtomicFile.create(file, { overwrite: true });
    let received = 0;
    let pending = 0;
    let paused = false;
    const outcome = await new Promise<'end' | 'too-large' | 'gone'>((resolve) => {
      let settled = false;
      const settle = (v: 'end' | 'too-large' | 'gone') => {
        if (settled) return;
        settled = true;
        req.off('data', onData);
        resolve(v);
      };
      const onData = (chunk: Buffer) => {
        received += chunk.length;
        if (received > this.maxBytes) {
          req.pause();
          return settle('too-large');
        }
        pending += chunk.length;
        void out.write(chunk).then(
          () => {
            pending -= chunk.length;
            if (paused && pending < WRITE_HIGH_WATER) {
              paused = false;
              req.resume();
            }
          },
          () => {
            /* the failure fails the commit */
          },
        );
        if (pending >= WRITE_HIGH_WATER && !paused) {
          paused = true;
          req.pause();
        }
      };
      req.on('data', onData);
      req.once('end', () => settle('end'));
      req.once('close', () => settle(req.complete ? 'end' : 'gone'));
      req.once('error', () => settle('gone'));
      // The client may have gone while the file was being created (its 'close' came before these listeners).
      if (req.destroyed) settle('gone');
    });
    if (outcome !== 'end') {
      await out.abort();
      if (outcome === 'too-large') empty(res, 413, closeNow);
      return;
    }
    try {
      await out.commit();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return empty(res, code === 'ENOSPC' || code === 'EDQUOT' ? 507 : 500, closeNow);
    }
    // Stored durably: only now is it acknowledged.
    empty(res, before ? 204 : 201);
  }
}
