/**
 * How a simulated phone fetches one file from one server: TFTP with the options its model sends,
 * HTTP/HTTPS with its timeouts and retries. Images stream through a callback and are never kept
 * (hundreds of phones download 40 MB each in one process); scripts and settings are kept as text.
 */
import type { Agent } from 'node:http';
import { FtpClientError, ftpGet } from '@bootwire/ftp/internal/client.js';
import { httpGet, HttpClientError } from '@bootwire/http/internal/client.js';
import type { FaultInjector } from '@bootwire/core/internal/faults.js';
import type { PhoneModel } from '../phones/models.js';
import type { FileServer } from '../phones/file-plan.js';
import { TftpError, tftpGet, type TftpClientOptions } from '@bootwire/tftp';
import type { HostPort } from '@bootwire/core';

export interface FetchContext {
  /**
   * Where a server named by DHCP or a script really answers. A simulation on loopback maps the site's
   * addresses (10.77.0.1:69) to the ports its servers listen on; undefined leaves the server as named.
   */
  redirect?: (server: FileServer) => HostPort | undefined;
  /** Faults at the phone's UDP sockets (TFTP). */
  faults?: FaultInjector;
  /** Make every TFTP request ask for these, whatever the model sends (storm --client-blksize/windowsize). */
  tftpBlksize?: number;
  tftpWindowsize?: number;
  /** HTTPS: trust anchors; default accepts any certificate, as phones without a trust store do. */
  ca?: string | Buffer;
  httpAgent?: Agent;
  signal?: AbortSignal;
  /**
   * Only these protocols (storm --protocols tftp): a server of another protocol is reached on the same
   * host with the first one allowed, so peers that serve only TFTP are compared on the same work.
   */
  protocols?: readonly FileServer['protocol'][];
  /** The address the phone sends from (its lease, in a site); default: the system's choice. */
  localAddress?: string;
}

const DEFAULT_PORT = { tftp: 69, http: 80, https: 443, ftp: 21 } as const;

/**
 * Thrown into a client from its data callback: the TFTP, HTTP and FTP clients' way to cancel a
 * download. It stays inside this module: `onData` says "stop" by returning the reason.
 */
class StopDownload extends Error {}

/** The request's `onData` as the clients take it: a stop becomes their cancel. */
function feeder(req: FetchRequest): ((chunk: Buffer) => void) | undefined {
  const onData = req.onData;
  if (!onData) return undefined;
  return (chunk) => {
    const stop = onData(chunk);
    if (stop !== undefined) throw new StopDownload(stop);
  };
}

/** The servers as `protocols` allows them, in order, without repeats. */
export function restrictProtocols(servers: readonly FileServer[], protocols: FetchContext['protocols']): FileServer[] {
  if (!protocols || protocols.length === 0) return [...servers];
  const out: FileServer[] = [];
  for (const s of servers) {
    const first = protocols[0];
    const t: FileServer =
      first === undefined || protocols.includes(s.protocol)
        ? s
        : { ...s, protocol: first, port: DEFAULT_PORT[first], source: `${s.source} (as ${first})` };
    if (
      !out.some(
        (x) => x.protocol === t.protocol && x.host === t.host && x.port === t.port && x.pathPrefix === t.pathPrefix,
      )
    )
      out.push(t);
  }
  return out;
}

export interface FetchRequest {
  file: string;
  /** Keep the body (scripts, settings); images are only streamed to `onData`. */
  keep: boolean;
  /** Each chunk as it arrives; returns why, when the phone stops the download there (a header it does not want). */
  onData?: (chunk: Buffer) => string | undefined;
  /** Whole-transfer limit for HTTP (TFTP has its own per-packet timeouts). */
  deadlineMs?: number;
}

export type FetchOutcome =
  | { ok: true; bytes: number; ms: number; retransmits: number; body?: Buffer; url: string }
  | { ok: false; bytes: number; ms: number; retransmits: number; error: string; url: string; notFound: boolean };

/** `tftp://10.77.0.1/46xxupgrade.scr`: how a fetch shows in timelines and errors. */
export function fileUrl(server: FileServer, file: string): string {
  const defaultPort = { tftp: 69, http: 80, https: 443, ftp: 21 }[server.protocol];
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  return `${server.protocol}://${host}${server.port === defaultPort ? '' : `:${server.port}`}/${server.pathPrefix}${file}`;
}

export async function fetchFile(
  server: FileServer,
  model: PhoneModel,
  req: FetchRequest,
  ctx: FetchContext = {},
): Promise<FetchOutcome> {
  const url = fileUrl(server, req.file);
  const to = ctx.redirect?.(server) ?? { host: server.host, port: server.port };
  const started = performance.now();
  const ms = () => Math.round((performance.now() - started) * 10) / 10;
  const call: FetchCall = { server, to, model, req, ctx, url, ms };
  if (server.protocol === 'tftp') return fetchTftp(call);
  if (server.protocol === 'http' || server.protocol === 'https') return fetchHttp(call);
  return fetchFtp(call);
}

/** One fetch as `fetchFile` resolved it, handed to the protocol's own function. */
interface FetchCall {
  server: FileServer;
  /** Where the request goes: the server's address, or where `ctx.redirect` sent it. */
  to: HostPort;
  model: PhoneModel;
  req: FetchRequest;
  ctx: FetchContext;
  url: string;
  /** Milliseconds since the fetch started, to a tenth. */
  ms: () => number;
}

/** Passive FTP, binary, anonymous unless the server was named with a login; retried as HTTP is. */
async function fetchFtp(call: FetchCall): Promise<FetchOutcome> {
  const { server, to, model, req, ctx, url, ms } = call;
  const feed = feeder(req);
  let retransmits = 0;
  let last = '';
  for (let attempt = 0; attempt <= model.http.retries; attempt++) {
    if (attempt > 0) retransmits++;
    const chunks: Buffer[] = [];
    let bytes = 0;
    try {
      const r = await ftpGet({
        host: to.host,
        port: to.port,
        path: `/${server.pathPrefix}${req.file}`,
        ...(server.credentials ? { user: server.credentials.user, password: server.credentials.password } : {}),
        timeoutMs: req.deadlineMs ?? model.http.timeoutMs,
        ...(ctx.localAddress ? { localAddress: ctx.localAddress } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        onData: (c: Buffer) => {
          bytes += c.length;
          feed?.(c);
          if (req.keep) chunks.push(c);
        },
      });
      const out: FetchOutcome = { ok: true, bytes: r.bytes, ms: ms(), retransmits, url };
      if (req.keep) out.body = Buffer.concat(chunks);
      return out;
    } catch (e) {
      const err = e as FtpClientError;
      last = `${url}: ${err.message}`;
      // An answer from the server (550 no such file, 530 login refused) is final, as an HTTP status is;
      // so is a download the phone stopped itself.
      if (err instanceof FtpClientError && (err.code !== undefined || bytes > 0)) {
        return { ok: false, bytes, ms: ms(), retransmits, error: last, url, notFound: err.code === 550 };
      }
    }
  }
  return { ok: false, bytes: 0, ms: ms(), retransmits, error: last, url, notFound: false };
}

async function fetchTftp(call: FetchCall): Promise<FetchOutcome> {
  const { server, to, model, req, ctx, url, ms } = call;
  const opts = model.tftp.options;
  const o: TftpClientOptions = {
    host: to.host,
    port: to.port,
    filename: server.pathPrefix + req.file,
    timeoutMs: model.tftp.timeoutMs,
    maxRetries: model.tftp.retries,
    // A phone that asked for nothing dallies only briefly; keeps hundreds of sockets from lingering.
    dallyMs: Math.min(model.tftp.timeoutMs, 1000),
  };
  const blksize = ctx.tftpBlksize ?? (opts.blksize !== undefined ? Number(opts.blksize) : undefined);
  const windowsize = ctx.tftpWindowsize ?? (opts.windowsize !== undefined ? Number(opts.windowsize) : undefined);
  if (blksize !== undefined) o.blksize = blksize;
  if (windowsize !== undefined) o.windowsize = windowsize;
  if (opts.tsize !== undefined) o.tsize = true;
  if (ctx.faults && !ctx.faults.inert) o.faults = ctx.faults;
  if (ctx.localAddress) o.localAddress = ctx.localAddress;
  const feed = feeder(req);
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    const info = await tftpGet(o, (chunk) => {
      bytes += chunk.length;
      feed?.(chunk);
      if (req.keep) chunks.push(chunk); // a view of a datagram this client owns and drops: no copy needed
    });
    const r: FetchOutcome = { ok: true, bytes: info.bytes, ms: ms(), retransmits: info.stats.retransmits, url };
    if (req.keep) r.body = Buffer.concat(chunks);
    return r;
  } catch (e) {
    const notFound = e instanceof TftpError && e.by === 'peer' && e.code === 1;
    const retransmits = e instanceof TftpError ? (e.stats?.retransmits ?? 0) : 0;
    return {
      ok: false,
      bytes,
      ms: ms(),
      retransmits,
      error: e instanceof TftpError ? e.message : `${url}: ${(e as Error).message}`,
      url,
      notFound,
    };
  }
}

async function fetchHttp(call: FetchCall): Promise<FetchOutcome> {
  const { server, to, model, req, ctx, url, ms } = call;
  const host = to.host.includes(':') ? `[${to.host}]` : to.host;
  const target = `${server.protocol}://${host}:${to.port}/${encodeURI(server.pathPrefix + req.file)}`;
  const feed = feeder(req);
  let retransmits = 0;
  let last = '';
  for (let attempt = 0; attempt <= model.http.retries; attempt++) {
    if (attempt > 0) retransmits++;
    let bytes = 0;
    try {
      const r = await httpGet(target, {
        timeoutMs: req.deadlineMs ?? model.http.timeoutMs,
        keepBody: req.keep,
        sha256: false,
        rejectUnauthorized: ctx.ca !== undefined,
        ...(ctx.ca !== undefined ? { ca: ctx.ca } : {}),
        ...(ctx.httpAgent ? { agent: ctx.httpAgent } : {}),
        ...(ctx.localAddress ? { localAddress: ctx.localAddress } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        ...(feed
          ? {
              onData: (c: Buffer) => {
                bytes += c.length;
                feed(c);
              },
            }
          : {}),
      });
      if (r.status === 200) {
        const out: FetchOutcome = { ok: true, bytes: r.bytes, ms: ms(), retransmits, url };
        if (r.body) out.body = r.body;
        return out;
      }
      // An HTTP answer is final: the server is there and said no.
      return {
        ok: false,
        bytes: r.bytes,
        ms: ms(),
        retransmits,
        error: `${url}: HTTP ${r.status}`,
        url,
        notFound: r.status === 404,
      };
    } catch (e) {
      last = e instanceof HttpClientError ? e.message.replace(target, url) : `${url}: ${(e as Error).message}`;
      // A download the phone itself cancelled (wrong image header) is not retried.
      if (e instanceof HttpClientError && e.code === 'aborted')
        return { ok: false, bytes, ms: ms(), retransmits, error: last, url, notFound: false };
    }
  }
  return { ok: false, bytes: 0, ms: ms(), retransmits, error: last, url, notFound: false };
}
