/**
 * The HTTP and HTTPS file server: the same root and the same shared file copies as the TFTP server.
 *
 * Built on node:http / node:https: the runtime's own server (llhttp parser, maintained and fuzzed with
 * Node itself, strict about request smuggling) with keep-alive, header and request timeouts and
 * connection caps built in, and no dependency to keep patched. bootwire adds only what a file server
 * decides: path resolution (src/files/root.ts), validators, ranges and the body, which is written as
 * views of the one SharedArrayBuffer copy per file version (src/files/image-cache.ts), never copied.
 *
 * Two things node's server does not do are done here: which connection gives way at the caps
 * (connections.ts: a cap per client address, and the oldest idle connection closed to make room rather
 * than the new one refused), and HTTP/0.9 request lines, which llhttp accepts and then waits on for
 * headers that never come: they get 400 at once (see watchRequestLine).
 */
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { ImageCache, type FileLease } from '@bootwire/core';
import { openRoot } from '@bootwire/core';
import { createRootResolver } from '@bootwire/core';
import {
  type ClientInfo,
  closeStream,
  DEFAULT_MAX_STREAM_BYTES,
  DEFAULT_RESOLVE_TIMEOUT_MS,
  DEFAULT_STREAM_TIMEOUT_MS,
  messageOf,
  readStream,
  type Resolution,
  type Resolver,
  type ResolverOptions,
  runResolver,
} from '@bootwire/core';
import type { PhoneLookup } from '@bootwire/core';
import { type Endpoint, type HostPort, listenTcp } from '@bootwire/core';
import {
  type HttpTransferRecord,
  MAX_RECORDED_NAME,
  type ServerWarning,
  type TransferStart,
  type WarningCode,
} from '@bootwire/core';
import { evaluateConditions, type ConditionalOutcome, type Validators } from './conditional.js';
import { contentTypeFor } from './content-type.js';
import { formatHttpDate } from './http-date.js';
import { contentRange, evaluateRange, type ByteRange } from './ranges.js';
import { ConnectionTable } from '@bootwire/core';
import type { HttpBackupHook } from './backup.js';
import { fileNameOfTarget } from './target.js';

export interface HttpListen {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

export interface HttpsListen extends HttpListen {
  /** PEM certificate (chain) and private key: the contents, not file names. */
  cert: string | Buffer;
  key: string | Buffer;
}

/** `root` or `resolver`, `phones` and the resolver's limits: see ResolverOptions (src/files/resolver.ts). */
export interface HttpServerOptions extends ResolverOptions {
  /** Plain HTTP listener; at least one of `http` and `https` is needed. */
  http?: HttpListen;
  https?: HttpsListen;
  /** Share the cache with the TFTP server so both serve the same copy; else one of `cacheBytes` is made. */
  cache?: ImageCache;
  cacheBytes?: number;
  /**
   * Open connections per listener. A new connection past it closes the oldest idle one (no response
   * running); with none idle it is refused. Default 4096.
   */
  maxConnections?: number;
  /**
   * Open connections per listener from one client address, the same way: its own oldest idle
   * connection gives way, else the new one is refused. Default 64: a phone holds one or two; phones
   * behind one NAT address need it raised.
   */
  maxConnectionsPerClient?: number;
  /** Time to receive a request's headers, and for HTTPS to finish the TLS handshake before them. Default 20 s. */
  headersTimeoutMs?: number;
  /** Time to receive a whole request. Default 30 s. */
  requestTimeoutMs?: number;
  /** A connection with no progress in either direction (a stalled download) is closed. Default 60 s. */
  idleTimeoutMs?: number;
  /** How long an idle keep-alive connection is kept for the client's next request. Default 5 s. */
  keepAliveTimeoutMs?: number;
  /** Size of the views written at a time (with back-pressure between them). Default 512 KiB. */
  chunkBytes?: number;
  /** Clock for validators (Last-Modified never after now, If-Range date strength). */
  now?: () => number;
  /** Backup areas (backup.ts): the only paths that take PUT and DELETE; the hook answers them. */
  backup?: HttpBackupHook;
}

/** @deprecated @bootwire/core's Endpoint, the one endpoint shape; kept under this name for importers. */
export type HttpEndpoint = Endpoint;

/** One record per request, like the TFTP server's transfer records (src/server/records.ts). */
export type HttpRequestRecord = HttpTransferRecord;

export interface HttpServerStats {
  activeRequests: number;
  activeConnections: number;
  /** Responses started, any status. */
  requests: number;
  /** Responses sent to the end. */
  completed: number;
  /** Responses cut short by the client (or by shutdown). */
  aborted: number;
  /** Body bytes sent. */
  bytesSent: number;
  byStatus: Record<number, number>;
  /** Connections refused: over `maxConnections` or `maxConnectionsPerClient` with none idle to close. */
  connectionsDropped: number;
  /** Idle connections closed to make room for new ones at a cap. */
  idleClosed: number;
  /** Requests the parser refused, timeouts while receiving, failed TLS handshakes. */
  clientErrors: number;
}

export const ALLOW = 'GET, HEAD';

/**
 * What a reload may change: the root or resolver, the caps, the HTTPS certificate and key (not the listen addresses).
 */
export type HttpReconfigureOptions = Pick<
  HttpServerOptions,
  'root' | 'resolver' | 'http' | 'https' | 'maxConnections' | 'maxConnectionsPerClient'
>;

/** What a reload prepared: applied by `commit()`, or given up by `abort()` (nothing changed then). */
export interface PreparedHttpChange {
  commit(): void;
  abort(): void;
}

export declare interface HttpFileServer {
  /** A response body about to go (200 or 206 to a GET). */
  on(event: 'transfer-start', listener: (start: TransferStart) => void): this;
  /** Every request's end, whatever its status. */
  on(event: 'transfer-end', listener: (record: HttpTransferRecord) => void): this;
  /** The same record as `transfer-end` (the name this event had first). */
  on(event: 'request', listener: (record: HttpRequestRecord) => void): this;
  on(event: 'client-error', listener: (message: string) => void): this;
  on(event: 'warning', listener: (warning: ServerWarning) => void): this;
}

type Listener = { kind: 'http' | 'https'; server: http.Server; table: ConnectionTable<Socket> };

/**
 * What a response holds until it closes, however it ends: the cache lease, the stream being sent;
 * `closed` tells a request still resolving that nobody waits for it any more.
 */
interface Held {
  lease?: FileLease;
  stream?: AsyncIterable<Uint8Array>;
  closed: boolean;
}

export const DEFAULT_MAX_CONNECTIONS = 4096;
export const DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 64;

/** An IPv4 client seen through a dual-stack socket is the same client as over IPv4. */
const clientAddress = (a: string | undefined): string =>
  a === undefined ? '' : a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;

/** Bytes of a connection's start searched for its request line; a longer line is llhttp's to refuse. */
const REQUEST_LINE_LOOK = 8192;

/** A strong ETag from the identity the cache keys copies by: inode, size and mtime. */
export function etagOf(f: { ino: number; size: number; mtimeMs: number }): string {
  return `"${f.ino.toString(16)}-${f.size.toString(16)}-${Math.round(f.mtimeMs * 1000).toString(16)}"`;
}

/** Validators of a file: Last-Modified is whole seconds and never later than now (RFC 9110 §8.8.2.1). */
export function validatorsOf(f: { ino: number; size: number; mtimeMs: number }, nowMs: number): Validators {
  const sec = (ms: number) => Math.floor(ms / 1000) * 1000;
  return { etag: etagOf(f), lastModifiedMs: Math.min(sec(f.mtimeMs), sec(nowMs)) };
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

export class HttpFileServer extends EventEmitter {
  readonly cache: ImageCache;
  private readonly sockets = new Set<Socket>();
  private readonly active = new Set<Promise<void>>();
  private readonly counters = {
    requests: 0,
    completed: 0,
    aborted: 0,
    bytesSent: 0,
    byStatus: {} as Record<number, number>,
    connectionsDropped: 0,
    idleClosed: 0,
    clientErrors: 0,
  };
  /** The TCP socket under each socket a request arrives on (itself for HTTP, the TLS socket's for HTTPS). */
  private readonly rawOf = new WeakMap<Socket, Socket>();
  /** Sockets a request has arrived on: the request line was HTTP/1.x. */
  private readonly spoke = new WeakSet<Socket>();
  private closing = false;
  private closed: Promise<void> | undefined;
  private readonly now: () => number;
  private readonly chunkBytes: number;
  private readonly phones: PhoneLookup | undefined;
  private readonly limits: { resolveTimeoutMs: number; maxStreamBytes: number; streamTimeoutMs: number };
  private readonly backup: HttpBackupHook | undefined;

  /** Shared by every listener's table; a reload changes the numbers in place. */
  private readonly caps: { maxConnections: number; maxPerClient: number };
  /** Where each listener was asked to listen (port 0 stays 0: a reload asking it again changes nothing). */
  private readonly asked: Partial<Record<'http' | 'https', HostPort>>;

  private constructor(
    private root: string | undefined,
    private currentResolver: Resolver,
    listeners: Omit<Listener, 'table'>[],
    cache: ImageCache,
    opts: HttpServerOptions,
  ) {
    super();
    this.cache = cache;
    this.phones = opts.phones;
    this.limits = {
      resolveTimeoutMs: opts.resolveTimeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS,
      maxStreamBytes: opts.maxStreamBytes ?? DEFAULT_MAX_STREAM_BYTES,
      streamTimeoutMs: opts.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS,
    };
    this.now = opts.now ?? Date.now;
    this.backup = opts.backup;
    this.chunkBytes = Math.max(16 * 1024, opts.chunkBytes ?? 512 * 1024);
    this.asked = {
      ...(opts.http ? { http: { host: opts.http.host, port: opts.http.port } } : {}),
      ...(opts.https ? { https: { host: opts.https.host, port: opts.https.port } } : {}),
    };
    const caps = (this.caps = {
      maxConnections: opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      maxPerClient: opts.maxConnectionsPerClient ?? DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
    });
    this.servers = listeners.map((l) => ({
      ...l,
      table: new ConnectionTable<Socket>(caps, (socket) => {
        this.counters.idleClosed++;
        socket.destroy();
      }),
    }));
    for (const l of this.servers) this.attach(l, opts);
  }

  /** The root's real path; undefined when only a resolver serves. A reload may change it. */
  get rootReal(): string | undefined {
    return this.root;
  }

  /** What GETs are answered with (a reload may change it; responses under way keep their content). */
  get resolver(): Resolver {
    return this.currentResolver;
  }

  /**
   * A new configuration, checked before anything changes: the root opens, a new certificate and key
   * make a TLS context. A listen address that changes (or a listener added or removed) is refused
   * with "restart needed". `commit()` applies it at once: new requests and handshakes use it,
   * responses under way finish as they started; lower caps are reached as connections close.
   */
  async prepareReconfigure(o: HttpReconfigureOptions): Promise<PreparedHttpChange> {
    const restart: string[] = [];
    for (const kind of ['http', 'https'] as const) {
      const was = this.asked[kind];
      const now = o[kind];
      if (!was && !now) continue;
      if (!was || !now) restart.push(`${kind} listener ${was ? 'removed' : 'added'}`);
      else if (was.host !== now.host || was.port !== now.port)
        restart.push(`${kind} listen address (${was.host}:${was.port} to ${now.host}:${now.port})`);
    }
    if (restart.length) throw new Error(`${restart.join(', ')}: restart needed`);
    if (o.root === undefined && o.resolver === undefined) throw new Error('an HTTP server needs a root or a resolver');
    const rootReal = o.root !== undefined ? await openRoot(o.root) : undefined;
    const resolver = o.resolver ?? (await createRootResolver({ root: rootReal! }));
    let context: { cert: string | Buffer; key: string | Buffer } | undefined;
    if (o.https) {
      try {
        tls.createSecureContext({ cert: o.https.cert, key: o.https.key });
      } catch (e) {
        throw new Error(`bad TLS certificate or key: ${(e as Error).message}`);
      }
      context = { cert: o.https.cert, key: o.https.key };
    }
    let done = false;
    return {
      abort: () => {
        done = true;
      },
      commit: () => {
        if (done) return;
        done = true;
        this.root = rootReal;
        this.currentResolver = resolver;
        this.caps.maxConnections = o.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
        this.caps.maxPerClient = o.maxConnectionsPerClient ?? DEFAULT_MAX_CONNECTIONS_PER_CLIENT;
        const secure = this.servers.find((l) => l.kind === 'https');
        if (secure && context) (secure.server as https.Server).setSecureContext(context);
      },
    };
  }

  /** prepareReconfigure, then commit. */
  async reconfigure(o: HttpReconfigureOptions): Promise<void> {
    (await this.prepareReconfigure(o)).commit();
  }

  private readonly servers: Listener[];

  static async start(options: HttpServerOptions): Promise<HttpFileServer> {
    if (!options.http && !options.https) throw new Error('an HTTP or HTTPS listen address is needed');
    if (options.root === undefined && options.resolver === undefined)
      throw new Error('an HTTP server needs a root or a resolver');
    const rootReal = options.root !== undefined ? await openRoot(options.root) : undefined;
    const resolver = options.resolver ?? (await createRootResolver({ root: rootReal! }));
    const headersTimeout = options.headersTimeoutMs ?? 20_000;
    const common: http.ServerOptions = {
      keepAlive: true, // TCP keep-alive probes on idle connections
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 5000,
      headersTimeout,
      requestTimeout: Math.max(headersTimeout, options.requestTimeoutMs ?? 30_000),
      // Node checks those two timeouts every 30 s by default: a slow-loris would get 50 s, not 20.
      connectionsCheckingInterval: Math.max(100, Math.min(5000, Math.floor(headersTimeout / 4))),
      // Phones speaking HTTP/1.1 without a Host header are still phones: the host names no vhost here.
      requireHostHeader: false,
      noDelay: true,
    };
    const listeners: Omit<Listener, 'table'>[] = [];
    try {
      if (options.http) listeners.push({ kind: 'http', server: http.createServer(common) });
      if (options.https) {
        // A TLS handshake gets the time request headers get (node's default is 120 s; the headers
        // timeout only starts once the handshake is done).
        const tlsOpts = { cert: options.https.cert, key: options.https.key, handshakeTimeout: headersTimeout };
        listeners.push({ kind: 'https', server: https.createServer({ ...common, ...tlsOpts }) });
      }
    } catch (e) {
      throw new Error(`bad TLS certificate or key: ${(e as Error).message}`);
    }
    const server = new HttpFileServer(
      rootReal,
      resolver,
      listeners,
      options.cache ?? new ImageCache(options.cacheBytes),
      options,
    );
    try {
      for (const l of listeners) {
        const at = l.kind === 'http' ? options.http! : options.https!;
        await listenTcp(l.server, { port: at.port, host: at.host });
      }
    } catch (e) {
      await server.close(0);
      throw e;
    }
    return server;
  }

  private attach(l: Listener, opts: HttpServerOptions): void {
    const s = l.server;
    // Simple HTTP/1.0 clients shut their sending side down right after the request; without this node
    // drops the response still being prepared. (A long-standing http.Server property, tested here.)
    (s as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    s.setTimeout(opts.idleTimeoutMs ?? 60_000); // no listener: a timed-out socket is destroyed
    // The caps are kept by the table (node's maxConnections would refuse the new connection, however
    // many idle ones hold the slots). For HTTPS this is the TCP connection, before the handshake.
    const tcpByPeer = new Map<string, Socket>();
    s.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      const peer = `${socket.remoteAddress}|${socket.remotePort}`;
      socket.once('close', () => {
        this.sockets.delete(socket);
        l.table.remove(socket);
        if (tcpByPeer.get(peer) === socket) tcpByPeer.delete(peer);
      });
      if (l.table.admit(socket, clientAddress(socket.remoteAddress)) === 'refused') {
        this.counters.connectionsDropped++;
        socket.destroy();
        return;
      }
      if (l.kind === 'http') {
        this.rawOf.set(socket, socket);
        this.watchRequestLine(socket, l);
      } else tcpByPeer.set(peer, socket);
    });
    if (l.kind === 'https') {
      s.on('secureConnection', (tlsSocket: Socket) => {
        const tcp = tcpByPeer.get(`${tlsSocket.remoteAddress}|${tlsSocket.remotePort}`);
        if (tcp) this.rawOf.set(tlsSocket, tcp);
        this.watchRequestLine(tlsSocket, l);
      });
    }
    s.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, l));
    // `Expect: 100-continue`: node would send 100 to every request; only a backup PUT that may be
    // stored is asked for its body (a 413 or 401 then goes out before the client sends it).
    s.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (this.backup?.owns(req.url ?? '') && this.backup.mayContinue(req)) res.writeContinue();
      this.onRequest(req, res, l);
    });
    // CONNECT never reaches 'request': answer it like any other method this server does not serve.
    s.on('connect', (_req: http.IncomingMessage, socket: Socket) => {
      socket.end(
        `HTTP/1.1 405 Method Not Allowed\r\nAllow: ${ALLOW}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
    });
    s.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // A peer that resets is not a bad request; a failed TLS handshake is counted as tlsClientError.
      if (err.code === 'ECONNRESET' || err.code?.startsWith('ERR_SSL_')) return socket.destroy();
      this.counters.clientErrors++;
      this.emit('client-error', `${l.kind} ${socket.remoteAddress ?? '?'}: ${err.code ?? err.message}`);
      // What node does without a listener: a status line if nothing was written yet, then close.
      if (socket.writable && socket.bytesWritten === 0) {
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
        socket.write(
          `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
        );
      }
      socket.destroy();
    });
    s.on('tlsClientError', (err: Error, socket: Socket) => {
      this.counters.clientErrors++;
      this.emit('client-error', `https ${socket.remoteAddress ?? '?'}: TLS handshake failed: ${err.message}`);
    });
  }

  /**
   * Answers an HTTP/0.9 request line (`GET /x` with no version) with 400 and closes, at once. llhttp
   * takes such a line for a request and waits for headers, so the client would hang until the headers
   * timeout. RFC 1945 would have the file sent bare, with no status line and no length, so a 404 would
   * read as a file's contents; RFC 7230 (A.2) dropped the expectation that servers accept 0.9, and no
   * phone sends it. The line is read from the connection's first bytes (a 'data' listener makes node
   * hand them to JavaScript as well as to its parser), up to REQUEST_LINE_LOOK bytes.
   */
  private watchRequestLine(socket: Socket, l: Listener): void {
    // Each byte is looked at once: a client sending its line a byte per packet costs O(1) per packet.
    let head = '';
    let start = 0; // where the first line that is not empty starts in `head`
    let scanned = 0; // head[start, scanned) holds no LF
    const stop = () => socket.off('data', onData);
    const onData = (chunk: Buffer) => {
      if (this.spoke.has(socket)) return stop(); // a request was parsed: the line was HTTP/1.x
      head += chunk.toString('latin1', 0, Math.min(chunk.length, REQUEST_LINE_LOOK - head.length));
      for (;;) {
        const lf = head.indexOf('\n', scanned);
        if (lf < 0) {
          scanned = head.length;
          if (head.length >= REQUEST_LINE_LOOK) stop();
          return;
        }
        const line = head.slice(start, head[lf - 1] === '\r' && lf > start ? lf - 1 : lf);
        if (line === '') {
          start = scanned = lf + 1; // empty lines before a request line are allowed (RFC 9112 §2.2)
          continue;
        }
        stop();
        const parts = line.split(' ');
        if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return; // HTTP/1.x, or for llhttp to refuse
        this.counters.clientErrors++;
        this.emit('client-error', `${l.kind} ${socket.remoteAddress ?? '?'}: HTTP/0.9 request line (no version): 400`);
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        socket.destroySoon();
        return;
      }
    };
    socket.on('data', onData);
  }

  address(kind: 'http' | 'https' = this.servers[0]!.kind): Endpoint | undefined {
    const l = this.servers.find((x) => x.kind === kind);
    const a = l?.server.address();
    return a && typeof a === 'object' ? { address: a.address, port: a.port } : undefined;
  }

  stats(): HttpServerStats {
    return {
      ...this.counters,
      byStatus: { ...this.counters.byStatus },
      activeRequests: this.active.size,
      activeConnections: this.sockets.size,
    };
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse, l: Listener): void {
    const started = performance.now();
    this.spoke.add(req.socket);
    const tcp = this.rawOf.get(req.socket);
    if (tcp) l.table.busy(tcp);
    const client: ClientInfo = { address: clientAddress(req.socket.remoteAddress), port: req.socket.remotePort ?? 0 };
    const phone = this.phones?.phoneAt(client.address);
    if (phone) client.phone = phone;
    const rec: HttpRequestRecord = {
      protocol: l.kind,
      client: { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 },
      ...(phone
        ? { phone: phone.model !== undefined ? { mac: phone.mac, model: phone.model } : { mac: phone.mac } }
        : {}),
      direction: 'read',
      name: (req.url ?? '').slice(0, MAX_RECORDED_NAME),
      tls: l.kind === 'https',
      httpVersion: req.httpVersion,
      method: req.method ?? '',
      target: (req.url ?? '').slice(0, 512),
      status: 0,
      bytes: 0,
      ms: 0,
      ok: false,
      result: 'failed',
    };
    const ua = header(req, 'user-agent');
    if (ua !== undefined) rec.userAgent = ua.slice(0, 200);
    // The lease is released when the response closes, however it ends; `closed` tells a request still
    // loading its file that nobody waits for it any more.
    const held: Held = { closed: false };
    let finished = false;
    res.once('finish', () => (finished = true));
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    this.active.add(done);
    this.counters.requests++;
    res.once('close', () => {
      held.closed = true;
      held.lease?.release();
      if (held.stream) closeStream(held.stream);
      rec.status = res.statusCode;
      rec.ok = finished;
      // An error status is a refusal (nothing asked for was sent); a response cut short failed.
      rec.result = !finished ? 'failed' : rec.status >= 400 ? 'refused' : 'ok';
      rec.ms = Math.round(performance.now() - started);
      this.counters.byStatus[rec.status] = (this.counters.byStatus[rec.status] ?? 0) + 1;
      if (rec.ok) this.counters.completed++;
      else this.counters.aborted++;
      this.counters.bytesSent += rec.bytes;
      this.active.delete(done);
      if (tcp) l.table.done(tcp);
      resolveDone();
      if (this.closing) setImmediate(() => l.server.closeIdleConnections());
      this.emit('transfer-end', rec);
      this.emit('request', rec);
    });
    this.respond(req, res, rec, held, client).catch((e: unknown) => {
      // A log line names the request, never the server's files: an errno's message quotes the path.
      const err = e as NodeJS.ErrnoException;
      const text = String(err.message ?? err);
      this.warn(
        'request-failed',
        `${rec.method} ${rec.target}: ${err.code ?? (this.rootReal ? text.split(this.rootReal).join('<root>') : text)}`,
        rec.client,
      );
      if (!res.headersSent) this.empty(res, 500);
      else res.destroy();
    });
  }

  private warn(code: WarningCode, message: string, client?: Endpoint): void {
    const w: ServerWarning = { code, message, ...(client ? { client } : {}) };
    this.emit('warning', w);
  }

  private started(rec: HttpRequestRecord, size: number | undefined): void {
    if (this.listenerCount('transfer-start') === 0) return;
    const s: TransferStart = {
      protocol: rec.protocol,
      client: rec.client,
      ...(rec.phone ? { phone: rec.phone } : {}),
      direction: 'read',
      name: rec.name,
      ...(rec.file !== undefined ? { file: rec.file } : {}),
      ...(size !== undefined ? { size } : {}),
    };
    this.emit('transfer-start', s);
  }

  /** A response with no body (errors carry none: nothing about the root or the path leaks). */
  private empty(res: http.ServerResponse, status: number, headers: Record<string, string> = {}): void {
    res.statusCode = status;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (status !== 304) res.setHeader('Content-Length', '0'); // a 304's length would describe the file
    res.end();
  }

  private async respond(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rec: HttpRequestRecord,
    held: Held,
    client: ClientInfo,
  ): Promise<void> {
    if (this.closing) return this.empty(res, 503, { Connection: 'close' });
    // HTTP/0.9 that reached the parser with its blank line (see watchRequestLine), and versions to come.
    if (req.httpVersionMajor === 0) return this.empty(res, 400, { Connection: 'close' });
    if (req.httpVersionMajor !== 1) return this.empty(res, 505, { Connection: 'close' });
    if (this.backup?.owns(req.url ?? '')) return this.backup.handle(req, res, rec);
    const method = req.method ?? '';
    if (method !== 'GET' && method !== 'HEAD') {
      // A request body is never read: close rather than parse past it for the next request.
      const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
      return this.empty(res, 405, hasBody ? { Allow: ALLOW, Connection: 'close' } : { Allow: ALLOW });
    }
    const target = fileNameOfTarget(req.url ?? '');
    if (!target.ok) return this.empty(res, target.status);
    rec.name = target.name.slice(0, MAX_RECORDED_NAME);
    // One resolver call per request; a fault (throw, hang, garbage) is this client's 500, nobody else's.
    const r = await runResolver(
      this.resolver,
      { name: target.name, protocol: rec.protocol, mode: method },
      client,
      this.limits.resolveTimeoutMs,
    );
    if (r.kind === 'stream' && (held.closed || target.directory)) closeStream(r.stream);
    if (held.closed) return;
    if (r.kind === 'fault') {
      this.warn('resolver-failed', `${method} ${rec.target}: ${r.message}`, rec.client);
      return this.empty(res, 500);
    }
    if (r.kind === 'refusal') return this.empty(res, r.reason === 'not-found' ? 404 : 403);
    if (target.directory) return this.empty(res, 404); // a file named as a directory (`/hello.txt/`)
    if (r.name !== undefined) rec.file = r.name;
    const label = r.name ?? target.name;
    if (r.kind === 'file') return this.sendFile(req, res, rec, held, r.path, label, method);
    if (r.kind === 'bytes') return this.sendBytes(req, res, rec, r, label, method);
    return this.sendStream(res, rec, held, r, label, method);
  }

  /** The request's validator conditions against `v`. */
  private conditions(req: http.IncomingMessage, method: string, v: Validators, mtimeMs: number): ConditionalOutcome {
    return evaluateConditions(
      {
        method,
        ifMatch: header(req, 'if-match'),
        ifNoneMatch: header(req, 'if-none-match'),
        ifModifiedSince: header(req, 'if-modified-since'),
        ifUnmodifiedSince: header(req, 'if-unmodified-since'),
        ifRange: header(req, 'if-range'),
        hasRange: req.headers.range !== undefined,
      },
      v,
      this.now(),
      mtimeMs,
    );
  }

  /** A file from the shared cache, with validators from its identity (inode, size, mtime). */
  private async sendFile(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rec: HttpRequestRecord,
    held: Held,
    file: string,
    label: string,
    method: string,
  ): Promise<void> {
    let st: { ino: number; size: number; mtimeMs: number };
    try {
      st = await fs.stat(file);
    } catch {
      return this.empty(res, 404);
    }
    const cond = (f: typeof st): { v: Validators; outcome: ConditionalOutcome } => {
      const v = validatorsOf(f, this.now());
      return { v, outcome: this.conditions(req, method, v, f.mtimeMs) };
    };
    // Conditions first against a stat, so a 304 or a HEAD never loads the file.
    let { v, outcome } = cond(st);
    const validatorHeaders = (): Record<string, string> => ({
      ETag: v.etag,
      'Last-Modified': formatHttpDate(v.lastModifiedMs),
    });
    if (outcome.status !== 200)
      return this.empty(res, outcome.status, outcome.status === 304 ? validatorHeaders() : {});
    rec.size = st.size;
    if (method === 'HEAD') {
      res.writeHead(200, { ...this.entityHeaders(label, validatorHeaders()), 'Content-Length': String(st.size) });
      res.end();
      return;
    }
    let lease: FileLease;
    try {
      lease = await this.cache.acquire(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return this.empty(res, code === 'ENOENT' ? 404 : code === 'EACCES' || code === 'EISDIR' ? 403 : 503);
    }
    if (held.closed) return lease.release();
    held.lease = lease;
    const f = lease.file;
    // The copy is authoritative: if the file was replaced since the stat, decide again on its validators.
    if (f.ino !== st.ino || f.size !== st.size || f.mtimeMs !== st.mtimeMs) {
      ({ v, outcome } = cond(f));
      rec.size = f.size;
      if (outcome.status !== 200)
        return this.empty(res, outcome.status, outcome.status === 304 ? validatorHeaders() : {});
    }
    this.sendRange(req, res, rec, f.bytes, outcome.honourRange, this.entityHeaders(label, validatorHeaders()));
  }

  /** A resolver's bytes, exactly the view's; validators only when the resolver gave an ETag. */
  private sendBytes(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rec: HttpRequestRecord,
    r: Extract<Resolution, { kind: 'bytes' }>,
    label: string,
    method: string,
  ): void {
    const bytes = Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
    rec.size = bytes.length;
    let validatorHeaders: Record<string, string> = {};
    let honourRange = req.headers['if-range'] === undefined; // If-Range without validators never matches
    if (r.etag !== undefined) {
      const now = this.now();
      const sec = (ms: number) => Math.floor(ms / 1000) * 1000;
      const mtimeMs = r.mtimeMs ?? now;
      const v: Validators = { etag: r.etag, lastModifiedMs: Math.min(sec(mtimeMs), sec(now)) };
      validatorHeaders = { ETag: v.etag, 'Last-Modified': formatHttpDate(v.lastModifiedMs) };
      const outcome = this.conditions(req, method, v, mtimeMs);
      if (outcome.status !== 200)
        return this.empty(res, outcome.status, outcome.status === 304 ? validatorHeaders : {});
      honourRange = outcome.honourRange;
    }
    const headers = this.entityHeaders(label, validatorHeaders);
    if (method === 'HEAD') {
      res.writeHead(200, { ...headers, 'Content-Length': String(bytes.length) });
      res.end();
      return;
    }
    this.sendRange(req, res, rec, bytes, honourRange, headers);
  }

  /** The whole of `bytes`, or the range asked for, as views. */
  private sendRange(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rec: HttpRequestRecord,
    bytes: Buffer,
    honourRange: boolean,
    headers: Record<string, string>,
  ): void {
    const size = bytes.length;
    const decision = honourRange
      ? evaluateRange(header(req, 'range'), size)
      : ({ kind: 'full', reason: 'absent' } as const);
    if (decision.kind === 'unsatisfiable') {
      rec.range = contentRange(undefined, size);
      const { ETag, 'Last-Modified': lm } = headers;
      return this.empty(res, 416, {
        'Content-Range': rec.range,
        ...(ETag ? { ETag } : {}),
        ...(lm ? { 'Last-Modified': lm } : {}),
      });
    }
    const range: ByteRange = decision.kind === 'partial' ? decision.range : { first: 0, last: size - 1 };
    headers['Content-Length'] = String(range.last - range.first + 1);
    if (decision.kind === 'partial') headers['Content-Range'] = rec.range = contentRange(range, size);
    this.started(rec, size);
    res.writeHead(decision.kind === 'partial' ? 206 : 200, headers);
    this.sendBody(res, bytes.subarray(range.first, range.last + 1), rec);
  }

  /**
   * Generated content: Content-Length when the resolver gave its size, else chunked (HTTP/1.0: the
   * connection's end ends it). Bounded by the stream limit and deadline; one that fails, runs past its
   * size or the limit after the headers went is cut off (the client sees a short body, not a whole one).
   */
  private async sendStream(
    res: http.ServerResponse,
    rec: HttpRequestRecord,
    held: Held,
    r: Extract<Resolution, { kind: 'stream' }>,
    label: string,
    method: string,
  ): Promise<void> {
    const headers: Record<string, string> = { 'Content-Type': contentTypeFor(label) };
    if (r.size !== undefined) {
      headers['Content-Length'] = String(r.size);
      rec.size = r.size;
    }
    if (method === 'HEAD') {
      closeStream(r.stream);
      res.writeHead(200, headers);
      res.end();
      return;
    }
    held.stream = r.stream;
    this.started(rec, r.size);
    res.writeHead(200, headers);
    try {
      await readStream(r.stream, {
        maxBytes: this.limits.maxStreamBytes,
        timeoutMs: this.limits.streamTimeoutMs,
        ...(r.size !== undefined ? { size: r.size } : {}),
        stopped: () => res.destroyed,
        onChunk: (chunk) => {
          if (res.destroyed) return;
          const n = chunk.byteLength;
          const more = res.write(chunk, (err) => {
            if (!err) rec.bytes += n;
          });
          if (!more)
            return new Promise<void>((resolve) => {
              const go = () => {
                res.off('drain', go);
                res.off('close', go);
                resolve();
              };
              res.on('drain', go);
              res.on('close', go);
            });
        },
      });
      if (!res.destroyed) res.end();
    } catch (e) {
      this.warn('stream-failed', `${method} ${rec.target}: ${messageOf(e)}`, rec.client);
      res.destroy();
    }
  }

  private entityHeaders(file: string, validators: Record<string, string>): Record<string, string> {
    return { 'Content-Type': contentTypeFor(file), 'Accept-Ranges': 'bytes', ...validators };
  }

  /** Writes `view` (of the shared copy) in chunks, waiting for 'drain' between them. */
  private sendBody(res: http.ServerResponse, view: Buffer, rec: HttpRequestRecord): void {
    let at = 0;
    const pump = (): void => {
      while (at < view.length) {
        if (res.destroyed) return;
        const chunk = view.subarray(at, Math.min(at + this.chunkBytes, view.length));
        at += chunk.length;
        const more = res.write(chunk, (err) => {
          if (!err) rec.bytes += chunk.length;
        });
        if (!more && at < view.length) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  }

  /** Resolves when no response is running. */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active]);
  }

  /**
   * Stops accepting connections, lets running responses finish for up to `graceMs` (requests arriving
   * meanwhile on open connections get 503 and a close), then closes every connection.
   */
  close(graceMs = 5000): Promise<void> {
    this.closed ??= this.shutdown(graceMs);
    return this.closed;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    const stopped = Promise.all(
      this.servers.map((l) => new Promise<void>((r) => (l.server.listening ? l.server.close(() => r()) : r()))),
    );
    for (const l of this.servers) l.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([this.idle(), graceOver]);
    clearTimeout(timer);
    for (const l of this.servers) l.server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await this.idle();
    await stopped;
    // The listener can report closed before every destroyed socket has emitted 'close' (and left the
    // count): closing resolves only when none is left.
    await Promise.all([...this.sockets].map((s) => new Promise((r) => s.once('close', r))));
  }
}
