/**
 * Where the servers a phone is told about really answer. A site's DHCP names its file server as
 * 10.77.0.1 on the standard ports; a simulation on one machine runs that server on 127.0.0.1 and
 * unprivileged ports. `tftp://10.77.0.1=127.0.0.1:6969` maps one (protocol, host[, port]) to another.
 */
import type { FileServer } from '../phones/file-plan.js';
import type { HostPort } from '@bootwire/core';

export interface Redirect {
  protocol: string;
  host: string;
  /** Undefined: any port. */
  port?: number;
  to: HostPort;
}

export class RedirectError extends Error {}

export function parseRedirect(text: string): Redirect {
  const m =
    /^(tftp|http|https|ftp):\/\/(\[[^\]]+\]|[^:=/]+)(?::([0-9]{1,5}))?\/?=(\[[^\]]+\]|[^:=]+):([0-9]{1,5})$/.exec(
      text.trim(),
    );
  if (!m)
    throw new RedirectError(
      `--redirect ${JSON.stringify(text)}: expected PROTO://HOST[:PORT]=HOST:PORT, such as tftp://10.77.0.1=127.0.0.1:6969`,
    );
  const unbracket = (h: string) => h.replace(/^\[|\]$/g, '');
  const port = m[3] !== undefined ? Number(m[3]) : undefined;
  const toPort = Number(m[5]);
  if ((port !== undefined && (port < 1 || port > 65535)) || toPort < 1 || toPort > 65535)
    throw new RedirectError(`--redirect ${text}: ports are 1..65535`);
  return {
    protocol: m[1]!,
    host: unbracket(m[2]!),
    ...(port !== undefined ? { port } : {}),
    to: { host: unbracket(m[4]!), port: toPort },
  };
}

/** A FetchContext.redirect over a list of redirects (first match wins). */
export function redirector(list: readonly Redirect[]): (s: FileServer) => HostPort | undefined {
  return (s) =>
    list.find((r) => r.protocol === s.protocol && r.host === s.host && (r.port === undefined || r.port === s.port))?.to;
}
