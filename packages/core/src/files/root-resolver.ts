/**
 * The built-in resolver: files under a root (safe path resolution, root.ts), after the name rules
 * (names.ts), optionally from a directory per client first (dnsmasq's tftp-unique-root): with
 * `uniqueRoot: 'mac'` a phone whose lease bootwire's DHCP server holds is served
 * `ROOT/00-90-8f-b0-00-09/NAME` when that file exists, else `ROOT/NAME`; with `'ip'`,
 * `ROOT/10.77.0.101/NAME`. (dnsmasq falls back to the root only when the client's directory does not
 * exist; here each file falls back, so a directory holds only what differs for that phone.)
 *
 * It answers `{ kind: 'file', path }`: the server loads the file through its shared ImageCache, so a
 * request costs what it did before resolvers existed (a realpath and a stat, one copy per file version).
 */
import { openRoot, resolveForRead, type ResolveFailure } from './root.js';
import type { ClientInfo, FileRequest, NameMapper, Resolution, Resolver } from './resolver.js';
import { quote } from '../quote.js';

export type UniqueRoot = 'mac' | 'ip';

export interface RootResolverOptions {
  root: string;
  /** Name rules (names.ts `nameRules`). */
  names?: NameMapper;
  uniqueRoot?: UniqueRoot;
}

export type RootResolver = Resolver & { readonly rootReal: string; readonly mapName: NameMapper };

/** dnsmasq's form: lowercase, zero-padded, dashes (01-02-03-04-aa-bb). */
export function macDirectory(mac: string): string {
  return mac
    .toLowerCase()
    .replace(/[^0-9a-f]/g, '')
    .replace(/(..)(?!$)/g, '$1-');
}

function uniqueDir(mode: UniqueRoot | undefined, client: ClientInfo): string | undefined {
  if (mode === 'mac') return client.phone ? macDirectory(client.phone.mac) : undefined;
  if (mode === 'ip') return client.address.startsWith('::ffff:') ? client.address.slice(7) : client.address;
  return undefined;
}

function refusal(r: ResolveFailure, asked: string, mapped: string): Resolution {
  // Messages name the request as the client sent it, not what the rules made of it.
  if (asked === mapped) return { kind: 'refusal', reason: r.reason, message: r.message };
  const message =
    r.reason === 'not-found'
      ? `${quote(asked)} not found`
      : r.reason === 'invalid'
        ? `file name ${quote(asked)} is not valid`
        : `access to ${quote(asked)} denied`;
  return { kind: 'refusal', reason: r.reason, message };
}

export async function createRootResolver(o: RootResolverOptions): Promise<RootResolver> {
  const rootReal = await openRoot(o.root);
  const names = o.names;
  const mapName: NameMapper = names ?? ((request) => ({ ok: true, name: request.name }));
  const resolve = async (request: FileRequest, client: ClientInfo): Promise<Resolution> => {
    let name = request.name;
    if (names) {
      const m = names(request, client, 'read');
      if (!m.ok)
        return {
          kind: 'refusal',
          reason: 'forbidden',
          message: m.message ?? `access to ${quote(request.name)} denied`,
        };
      name = m.name;
    }
    const dir = uniqueDir(o.uniqueRoot, client);
    if (dir !== undefined && !dir.includes('/') && dir !== '..' && dir !== '.') {
      const own = await resolveForRead(rootReal, `${dir}/${name.replace(/^\/+/, '')}`);
      if (own.ok) return { kind: 'file', path: own.path, name: own.relative };
      if (own.reason !== 'not-found') return refusal(own, request.name, name);
    }
    const r = await resolveForRead(rootReal, name);
    return r.ok ? { kind: 'file', path: r.path, name: r.relative } : refusal(r, request.name, name);
  };
  return Object.assign(resolve, { rootReal, mapName });
}
