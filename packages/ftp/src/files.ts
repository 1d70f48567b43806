/**
 * What the FTP server serves: files by name through one resolver function (the same root and shared
 * copies as TFTP and HTTP by default), and directories of the root for CWD, LIST and NLST.
 *
 * The resolver is the one seam for other name → file rules (remapping, per-phone names): anything
 * that turns `(name, client)` into a leased copy or a refusal fits.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { CachedFile, ClientInfo, ImageCache, PhoneLookup, Resolver } from '@bootwire/core';
import {
  collectStream,
  DEFAULT_MAX_STREAM_BYTES,
  DEFAULT_RESOLVE_TIMEOUT_MS,
  DEFAULT_STREAM_TIMEOUT_MS,
  runResolver,
} from '@bootwire/core';
import { isInside, resolveForRead } from '@bootwire/core';
import type { ListEntry } from './listing.js';
import type { LookupFailure } from './session.js';

export interface FtpClientInfo {
  readonly address: string;
  readonly port: number;
  /** The logged-in user (`anonymous` for anonymous logins). */
  readonly user: string;
}

export type FtpFileResult =
  | { ok: true; file: Pick<CachedFile, 'bytes' | 'size' | 'mtimeMs'>; name: string; release(): void }
  | { ok: false; failure: LookupFailure };

/** `name` is relative to the served root (`dir/file`, no leading slash). */
export type FtpFileResolver = (name: string, client: FtpClientInfo) => Promise<FtpFileResult>;

/** Today's rule: the root's resolution (src/files/root.ts) and a lease on the shared copy. */
export function rootFileResolver(rootReal: string, cache: ImageCache): FtpFileResolver {
  return async (name) => {
    const r = await resolveForRead(rootReal, name);
    if (!r.ok)
      return {
        ok: false,
        failure: r.reason === 'not-found' ? 'not-found' : r.reason === 'invalid' ? 'invalid' : 'forbidden',
      };
    try {
      const lease = await cache.acquire(r.path);
      return { ok: true, file: lease.file, name: r.relative, release: () => lease.release() };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return { ok: false, failure: code === 'ENOENT' ? 'not-found' : code === 'EACCES' ? 'forbidden' : 'busy' };
    }
  };
}

/** Entries a listing holds at most (a directory of a million files costs one bounded reply). */
export const MAX_LIST_ENTRIES = 10_000;

/**
 * Directories of a root as FTP shows them: the virtual `/` is the root; symbolic links leaving it,
 * `..` and NUL are refused; names starting with `.` (temporary files, markers) are not listed.
 */
export class RootDirectories {
  constructor(readonly rootReal: string) {}

  /** The real path of a virtual path, when it exists inside the root. */
  private async real(virtual: string): Promise<{ ok: true; path: string } | { ok: false; failure: LookupFailure }> {
    if (virtual.includes('\0')) return { ok: false, failure: 'invalid' };
    const segs = virtual.split('/').filter((s) => s !== '' && s !== '.');
    if (segs.includes('..')) return { ok: false, failure: 'forbidden' };
    let real: string;
    try {
      real = await fs.realpath(path.join(this.rootReal, ...segs));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return {
        ok: false,
        failure:
          code === 'ENOENT' || code === 'ENOTDIR' ? 'not-found' : code === 'ENAMETOOLONG' ? 'invalid' : 'forbidden',
      };
    }
    if (!isInside(this.rootReal, real)) return { ok: false, failure: 'forbidden' };
    return { ok: true, path: real };
  }

  async isDirectory(virtual: string): Promise<{ ok: true } | { ok: false; failure: LookupFailure }> {
    const r = await this.real(virtual);
    if (!r.ok) return r;
    const st = await fs.stat(r.path).catch(() => undefined);
    return st?.isDirectory() ? { ok: true } : { ok: false, failure: st ? 'forbidden' : 'not-found' };
  }

  /** A directory's entries (sorted by name), or a file's own entry. */
  async list(virtual: string): Promise<{ ok: true; entries: ListEntry[] } | { ok: false; failure: LookupFailure }> {
    const r = await this.real(virtual);
    if (!r.ok) return r;
    const st = await fs.stat(r.path).catch(() => undefined);
    if (!st) return { ok: false, failure: 'not-found' };
    if (st.isFile())
      return {
        ok: true,
        entries: [{ name: path.basename(virtual), directory: false, size: st.size, mtimeMs: st.mtimeMs }],
      };
    if (!st.isDirectory()) return { ok: false, failure: 'forbidden' };
    const entries: ListEntry[] = [];
    const dir = await fs.opendir(r.path);
    try {
      for await (const d of dir) {
        if (d.name.startsWith('.')) continue;
        const full = path.join(r.path, d.name);
        const s = await fs.stat(full).catch(() => undefined);
        if (!s || (!s.isFile() && !s.isDirectory())) continue;
        // A link leaving the root is not shown (and could not be read).
        if (d.isSymbolicLink()) {
          const target = await fs.realpath(full).catch(() => undefined);
          if (!target || !isInside(this.rootReal, target)) continue;
        }
        entries.push({
          name: d.name,
          directory: s.isDirectory(),
          size: s.isDirectory() ? 4096 : s.size,
          mtimeMs: s.mtimeMs,
        });
        if (entries.length >= MAX_LIST_ENTRIES) break;
      }
    } finally {
      await dir.close().catch(() => {});
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { ok: true, entries };
  }
}

/**
 * FTP through the resolver TFTP and HTTP share (@bootwire/core's `Resolver`): the same names (remap
 * rules, lowercase, per-phone directories), the same generated files, the phone of each address when
 * bootwire's DHCP runs in the process. A failing resolver refuses only its client (450).
 */
export function resolverFileResolver(
  resolver: Resolver,
  cache: ImageCache,
  o: { phones?: PhoneLookup; timeoutMs?: number; maxStreamBytes?: number; streamTimeoutMs?: number } = {},
): FtpFileResolver {
  return async (name, client) => {
    const phone = o.phones?.phoneAt(client.address);
    const info: ClientInfo = { address: client.address, port: client.port, ...(phone ? { phone } : {}) };
    const r = await runResolver(
      resolver,
      { name, protocol: 'ftp', mode: 'RETR' },
      info,
      o.timeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS,
    );
    switch (r.kind) {
      case 'refusal':
        return { ok: false, failure: r.reason };
      case 'fault':
        return { ok: false, failure: 'busy' };
      case 'bytes': {
        const bytes = Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
        return {
          ok: true,
          file: { bytes, size: bytes.length, mtimeMs: r.mtimeMs ?? Date.now() },
          name: r.name ?? name,
          release: () => {},
        };
      }
      case 'stream': {
        try {
          const bytes = await collectStream(r.stream, {
            maxBytes: o.maxStreamBytes ?? DEFAULT_MAX_STREAM_BYTES,
            timeoutMs: o.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS,
            ...(r.size !== undefined ? { size: r.size } : {}),
          });
          return {
            ok: true,
            file: { bytes, size: bytes.length, mtimeMs: Date.now() },
            name: r.name ?? name,
            release: () => {},
          };
        } catch {
          return { ok: false, failure: 'busy' };
        }
      }
      case 'file':
        try {
          const lease = await cache.acquire(r.path);
          return { ok: true, file: lease.file, name: r.name ?? name, release: () => lease.release() };
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          return {
            ok: false,
            failure:
              code === 'ENOENT'
                ? 'not-found'
                : code === 'EISDIR'
                  ? 'not-a-file'
                  : code === 'EACCES'
                    ? 'forbidden'
                    : 'busy',
          };
        }
    }
  };
}
