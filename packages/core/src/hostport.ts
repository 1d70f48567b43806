/** Parsing `HOST:PORT`, `[v6]:PORT` and `tftp://HOST[:PORT]/FILE` as given on command lines and in configs. */
import { isIP } from 'node:net';

/**
 * Where a socket is or is reached: the one endpoint shape of all packages (what node's sockets report
 * as `address()` and `rinfo`).
 */
export interface Endpoint {
  address: string;
  port: number;
}

/** HOST:PORT as given on command lines (host: a name or an address, as the options call it). */
export interface HostPort {
  host: string;
  port: number;
}

export class UsageError extends Error {}

function parsePort(s: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) > 65535) throw new UsageError(`${what}: bad port ${JSON.stringify(s)}`);
  return Number(s);
}

/** `127.0.0.1:6969`, `[::1]:69`, `localhost:69`; a bare port means `defaultHost`. */
export function parseHostPort(s: string, defaultHost = '127.0.0.1', what = 'address'): HostPort {
  const v6 = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(s);
  if (v6) {
    if (isIP(v6[1]!) !== 6) throw new UsageError(`${what}: bad IPv6 address ${JSON.stringify(v6[1])}`);
    if (v6[2] === undefined) throw new UsageError(`${what}: ${JSON.stringify(s)} has no port`);
    return { host: v6[1]!, port: parsePort(v6[2], what) };
  }
  if (/^[0-9]+$/.test(s)) return { host: defaultHost, port: parsePort(s, what) };
  const i = s.lastIndexOf(':');
  if (i <= 0 || s.indexOf(':') !== i) throw new UsageError(`${what}: expected HOST:PORT, got ${JSON.stringify(s)}`);
  return { host: s.slice(0, i), port: parsePort(s.slice(i + 1), what) };
}

/** The text `parseHostPort` reads: `host:port`, an IPv6 address in brackets (as in URLs). */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface TftpUrl extends HostPort {
  filename: string;
}

/** `tftp://HOST[:PORT]/FILE` (FILE may contain further slashes and %-escapes). */
export function parseTftpUrl(s: string): TftpUrl {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new UsageError(`not a URL: ${JSON.stringify(s)}`);
  }
  if (u.protocol !== 'tftp:') throw new UsageError(`expected a tftp:// URL, got ${JSON.stringify(s)}`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (!host) throw new UsageError(`no host in ${JSON.stringify(s)}`);
  let filename: string;
  try {
    filename = decodeURIComponent(u.pathname.slice(1));
  } catch {
    throw new UsageError(`bad %-escape in ${JSON.stringify(s)}`);
  }
  if (!filename) throw new UsageError(`no file in ${JSON.stringify(s)}`);
  return { host, port: u.port ? parsePort(u.port, 'url') : 69, filename };
}
