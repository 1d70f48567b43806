/**
 * The read-only FTP server (the edge): control connections on node:net, each driven by a pure
 * FtpSession (session.ts); passive and active data connections; files as views of the shared copy
 * (the same ImageCache as TFTP and HTTP), written with back-pressure.
 *
 * Why not a library: see README ("FTP"). What bounds hostile clients:
 * - connections: a cap overall and per client address (ConnectionTable, as HTTP's); a connection not
 *   yet logged in is the one that gives way to a new one, a logged-in one never is; the login must
 *   finish within `loginTimeoutMs`, and a session with no command for `idleTimeoutMs` is closed;
 * - command lines: at most `maxLineBytes` (a longer one: 500 and close), at most a few queued;
 * - data: one data channel per session; a passive port accepts only the client's own address, and
 *   closes after the first connection or `dataConnectTimeoutMs`; a transfer that makes no progress
 *   for `dataIdleTimeoutMs` (a client that never reads) is closed with 426. What waits for a slow
 *   reader is a view of the shared copy, never a copy;
 * - PORT/EPRT: only the client's own address and an unprivileged port (no FTP bounce, RFC 2577).
 */
import { EventEmitter } from 'node:events';
import net, { type Socket } from 'node:net';
import { ImageCache } from '@bootwire/core';
import { openRoot } from '@bootwire/core';
import { ConnectionTable } from '@bootwire/core';
import { type Credential, CredentialSet } from '@bootwire/core';
import { unmapIPv4 } from '@bootwire/core';
import { type Endpoint, listenTcp } from '@bootwire/core';
import { type FtpClientInfo, type FtpFileResolver, RootDirectories, rootFileResolver } from './files.js';
import { formatList, formatNlst } from './listing.js';
import { type Decision, FtpSession, GREETING, reply } from './session.js';

export interface FtpServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  root: string;
  /** Share the cache with TFTP/HTTP so all serve one copy; else one of `cacheBytes` is made. */
  cache?: ImageCache;
  cacheBytes?: number;
  /** Name → file; default: the root's resolution and a lease on the shared copy (files.ts). */
  resolveFile?: FtpFileResolver;
  /** Passive data ports; default: any free port. */
  passivePorts?: { from: number; to: number };
  /** The address PASV announces (a NAT's public address); default: the control connection's local address. */
  advertise?: string;
  /** Anonymous logins (`anonymous`, `ftp`). Default true. */
  anonymous?: boolean;
  users?: readonly Credential[];
  /** Default 4096. */
  maxConnections?: number;
  /** Default 1024 (a storm from one simulator address fits). */
  maxConnectionsPerClient?: number;
  /** Default 30 s. */
  loginTimeoutMs?: number;
  /** A logged-in session with no command (and no transfer). Default 120 s. */
  idleTimeoutMs?: number;
  /** Passive: waiting for the client's data connection; active: connecting to it. Default 20 s. */
  dataConnectTimeoutMs?: number;
  /** A transfer with no progress. Default 60 s. */
  dataIdleTimeoutMs?: number;
  /** Default 2048. */
  maxLineBytes?: number;
  /** Default 3. */
  maxLoginFailures?: number;
  /** Size of the views written at a time. Default 256 KiB. */
  chunkBytes?: number;
  now?: () => number;
}

export interface FtpTransferRecord {
  client: Endpoint;
  user: string;
  command: 'RETR' | 'LIST' | 'NLST';
  /** The path as the client named it (virtual, cut to 512 characters). */
  path: string;
  file?: string;
  bytes: number;
  size?: number;
  mode: 'passive' | 'active';
  ok: boolean;
  /** Why it ended, when not ok. */
  error?: string;
  ms: number;
}

export interface FtpServerStats {
  activeConnections: number;
  connections: number;
  /** Refused at a cap with no connection to reclaim. */
  connectionsDropped: number;
  /** Connections not logged in, closed to make room at a cap. */
  idleClosed: number;
  loginTimeouts: number;
  idleTimeouts: number;
  logins: number;
  loginFailures: number;
  transfers: number;
  completed: number;
  aborted: number;
  bytesSent: number;
  /** PORT/EPRT to another address or a privileged port. */
  bounceRefused: number;
  /** Command lines over `maxLineBytes`. */
  longLines: number;
}

export declare interface FtpServer {
  on(event: 'transfer', listener: (record: FtpTransferRecord) => void): this;
  on(event: 'warning', listener: (message: string) => void): this;
}

export const FTP_DEFAULTS = {
  maxConnections: 4096,
  maxConnectionsPerClient: 1024,
  loginTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
  dataConnectTimeoutMs: 20_000,
  dataIdleTimeoutMs: 60_000,
  maxLineBytes: 2048,
  maxLoginFailures: 3,
  chunkBytes: 256 * 1024,
} as const;

/** Lines received and not yet handled, past which the control socket stops being read. */
const MAX_QUEUED_LINES = 8;

const clientAddress = unmapIPv4;

/** Passive ports: a range handed out without repeats, or any free port. */
export class PassivePorts {
  private readonly used = new Set<number>();
  private next: number;
  constructor(private readonly range: { from: number; to: number } | undefined) {
    this.next = range ? range.from + Math.floor(Math.random() * (range.to - range.from + 1)) : 0;
  }

  /** Listens `server` on a port of the range at `host`; the port, or undefined when none is free. */
  async listen(server: net.Server, host: string): Promise<number | undefined> {
    const r = this.range;
    if (!r) return (await tryListen(server, 0, host)) ? (server.address() as net.AddressInfo).port : undefined;
    const size = r.to - r.from + 1;
    for (let i = 0; i < Math.min(size, 64); i++) {
      const port = r.from + ((this.next - r.from + i) % size);
      if (this.used.has(port)) continue;
      this.used.add(port);
      if (await tryListen(server, port, host)) {
        this.next = port + 1 > r.to ? r.from : port + 1;
        server.once('close', () => this.used.delete(port));
        return port;
      }
      this.used.delete(port);
    }
    return undefined;
  }
}

function tryListen(server: net.Server, port: number, host: string): Promise<boolean> {
  return listenTcp(server, { port, host, exclusive: true }).then(
    () => true,
    () => false,
  );
}

/** A prepared data channel: `get` gives the connected socket, or undefined (timed out, refused). */
interface DataChannel {
  readonly mode: 'passive' | 'active';
  get(): Promise<Socket | undefined>;
  close(): void;
}

export class FtpServer extends EventEmitter {
  readonly cache: ImageCache;
  private readonly listener: net.Server;
  private readonly table: ConnectionTable<Socket>;
  private readonly controls = new Set<FtpControl>();
  private readonly resolveFile: FtpFileResolver;
  readonly directories: RootDirectories;
  readonly ports: PassivePorts;
  readonly users: CredentialSet;
  readonly o: Required<Pick<FtpServerOptions, keyof typeof FTP_DEFAULTS | 'anonymous'>> & FtpServerOptions;
  readonly now: () => number;
  closing = false;
  readonly counters: Omit<FtpServerStats, 'activeConnections'> = {
    connections: 0,
    connectionsDropped: 0,
    idleClosed: 0,
    loginTimeouts: 0,
    idleTimeouts: 0,
    logins: 0,
    loginFailures: 0,
    transfers: 0,
    completed: 0,
    aborted: 0,
    bytesSent: 0,
    bounceRefused: 0,
    longLines: 0,
  };

  private constructor(
    readonly rootReal: string,
    options: FtpServerOptions,
  ) {
    super();
    this.o = { ...FTP_DEFAULTS, anonymous: true, ...options };
    this.now = options.now ?? Date.now;
    this.cache = options.cache ?? new ImageCache(options.cacheBytes);
    this.resolveFile = options.resolveFile ?? rootFileResolver(rootReal, this.cache);
    this.directories = new RootDirectories(rootReal);
    this.ports = new PassivePorts(options.passivePorts);
    this.users = new CredentialSet(options.users ?? []);
    this.table = new ConnectionTable<Socket>(
      { maxConnections: this.o.maxConnections, maxPerClient: this.o.maxConnectionsPerClient },
      (socket) => {
        this.counters.idleClosed++;
        socket.end(reply(421, 'Too many connections: closing this one, which has not logged in.'));
        socket.destroySoon();
      },
    );
    this.listener = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  static async start(options: FtpServerOptions): Promise<FtpServer> {
    const r = options.passivePorts;
    if (r && !(Number.isInteger(r.from) && Number.isInteger(r.to) && r.from >= 1 && r.to <= 65535 && r.from <= r.to))
      throw new Error(`passive ports ${r.from}-${r.to}: expected a range within 1-65535`);
    if (options.advertise !== undefined && net.isIPv4(options.advertise) === false)
      throw new Error(
        `advertised address ${JSON.stringify(options.advertise)} is not an IPv4 address (PASV announces IPv4)`,
      );
    const server = new FtpServer(await openRoot(options.root), options);
    await listenTcp(server.listener, { port: options.port, host: options.host });
    return server;
  }

  address(): Endpoint {
    const a = this.listener.address() as net.AddressInfo;
    return { address: a.address, port: a.port };
  }

  stats(): FtpServerStats {
    return { ...this.counters, activeConnections: this.controls.size };
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {}); // resets and the like: 'close' follows
    if (this.closing) return void socket.destroy();
    const address = clientAddress(socket.remoteAddress);
    if (this.table.admit(socket, address) === 'refused') {
      this.counters.connectionsDropped++;
      socket.end(reply(421, 'Too many connections, try again later.'));
      socket.destroySoon();
      return;
    }
    this.counters.connections++;
    const control = new FtpControl(this, socket, address);
    this.controls.add(control);
    socket.once('close', () => {
      this.table.remove(socket);
      this.controls.delete(control);
      control.closed();
    });
  }

  /** A session logged in: its connection no longer gives way at the caps. */
  loggedIn(socket: Socket): void {
    this.table.busy(socket);
  }

  file(name: string, client: FtpClientInfo) {
    return this.resolveFile(name, client);
  }

  /** Stops accepting, ends every session; transfers running get up to `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    const stopped = new Promise<void>((r) => this.listener.close(() => r()));
    const deadline = Date.now() + graceMs;
    while ([...this.controls].some((c) => c.transferring) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    for (const c of this.controls) c.destroy();
    await stopped;
  }
}

/** One control connection: lines in, the session's decisions carried out. */
class FtpControl {
  private readonly session: FtpSession;
  private readonly pending: string[] = [];
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private working = false;
  private ended = false;
  private data: DataChannel | undefined;
  private transfer: { abort(why: 'aborted'): void } | undefined;
  private loginTimer: NodeJS.Timeout | undefined;
  /** An ABOR arrived during a transfer: its reply follows the transfer's. */
  private aborReply = false;
  private readonly client: Endpoint;

  constructor(
    private readonly server: FtpServer,
    private readonly socket: Socket,
    address: string,
  ) {
    this.client = { address, port: socket.remotePort ?? 0 };
    this.session = new FtpSession({
      anonymous: server.o.anonymous,
      users: server.users,
      clientAddress: address,
      maxLoginFailures: server.o.maxLoginFailures,
    });
    socket.setNoDelay(true);
    socket.write(GREETING);
    this.loginTimer = setTimeout(() => {
      server.counters.loginTimeouts++;
      this.finish(reply(421, 'Login timeout.'));
    }, server.o.loginTimeoutMs);
    socket.setTimeout(server.o.idleTimeoutMs, () => {
      if (this.transfer) return; // the transfer has its own clock
      server.counters.idleTimeouts++;
      this.finish(reply(421, 'Idle timeout.'));
    });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('end', () => this.finish());
  }

  get transferring(): boolean {
    return this.transfer !== undefined;
  }

  /** Splits the stream into command lines (CRLF or LF), bounded. */
  private receive(chunk: Buffer): void {
    if (this.ended) return;
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(0x0a, start);
      if (lf < 0) break;
      const piece = chunk.subarray(start, lf);
      if (this.partialBytes + piece.length > this.server.o.maxLineBytes) return this.tooLong();
      const whole = this.partial.length ? Buffer.concat([...this.partial, piece]) : piece;
      this.partial = [];
      this.partialBytes = 0;
      this.pending.push(decodeLine(whole));
      start = lf + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.partialBytes + rest.length > this.server.o.maxLineBytes) return this.tooLong();
      this.partial.push(Buffer.from(rest)); // a copy: the chunk is not ours to keep
      this.partialBytes += rest.length;
    }
    if (this.pending.length >= MAX_QUEUED_LINES) this.socket.pause();
    this.pump();
  }

  private tooLong(): void {
    this.server.counters.longLines++;
    this.finish(reply(500, `Command line too long (over ${this.server.o.maxLineBytes} bytes).`));
  }

  /** Handles queued lines one at a time; during a transfer only ABOR jumps the queue. */
  private pump(): void {
    if (this.transfer && !this.ended) {
      const i = this.pending.findIndex((l) => /^\s*ABOR\s*$/i.test(l));
      if (i < 0) return;
      this.pending.splice(i, 1);
      // 426 for the transfer, then 226 for the ABOR (RFC 959 §4.1.3), sent when the transfer ends.
      this.aborReply = true;
      this.transfer.abort('aborted');
      return;
    }
    while (!this.working && !this.ended && this.pending.length > 0) {
      const line = this.pending.shift()!;
      if (this.pending.length < MAX_QUEUED_LINES) this.socket.resume();
      this.working = true;
      this.execute(this.session.command(line), line)
        .catch((e: unknown) => {
          this.server.emit('warning', `ftp ${this.client.address}: ${(e as Error).message}`);
          this.send(reply(451, 'Local error.'));
        })
        .finally(() => {
          this.working = false;
          this.pump();
        });
    }
  }

  private send(text: string): void {
    if (!this.ended && this.socket.writable) this.socket.write(text);
  }

  private info(): FtpClientInfo {
    return { ...this.client, user: this.session.user ?? '' };
  }

  private async execute(d: Decision, line: string): Promise<void> {
    switch (d.kind) {
      case 'reply':
        if (d.loggedIn) {
          clearTimeout(this.loginTimer);
          this.server.counters.logins++;
          this.server.loggedIn(this.socket);
        }
        if (d.reply.startsWith('530 Login incorrect')) this.server.counters.loginFailures++;
        if (d.reply.startsWith('500 Illegal')) this.server.counters.bounceRefused++;
        if (d.close) return this.finish(d.reply);
        return this.send(d.reply);
      case 'passive':
        return this.send(await this.openPassive(d.extended));
      case 'active':
        this.openActive(d.host, d.port);
        return this.send(this.session.activeResult(d.extended));
      case 'abort':
        return this.send(FtpSession.abortIdle());
      case 'dir':
        return this.directory(d.op, d.path, d.mayBeFile);
      case 'file':
        return this.file(d.op, d.path, d.offset, line);
    }
  }

  private closeData(): void {
    this.data?.close();
    this.data = undefined;
  }

  private async openPassive(extended: boolean): Promise<string> {
    this.closeData();
    const local = clientAddress(this.socket.localAddress);
    const announced = this.server.o.advertise ?? local;
    if (!extended && !net.isIPv4(announced))
      return this.session.passiveResult({ ok: false, extended, why: 'PASV announces IPv4 only, use EPSV' });
    const listener = net.createServer({ noDelay: true, pauseOnConnect: false });
    listener.on('error', () => {});
    const port = await this.server.ports.listen(listener, local);
    if (port === undefined) {
      listener.close();
      return this.session.passiveResult({ ok: false, extended, why: 'no free port' });
    }
    let socket: Socket | undefined;
    let done = false;
    const waiters: ((s: Socket | undefined) => void)[] = [];
    const settle = (s: Socket | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      listener.close();
      socket = s;
      for (const w of waiters.splice(0)) w(s);
    };
    const timer = setTimeout(() => settle(undefined), this.server.o.dataConnectTimeoutMs);
    listener.on('connection', (s: Socket) => {
      s.on('error', () => {});
      // Only the client that asked may connect: anyone else would be stealing its file.
      if (done || clientAddress(s.remoteAddress) !== this.client.address) return void s.destroy();
      settle(s);
    });
    this.data = {
      mode: 'passive',
      get: () => (done ? Promise.resolve(socket) : new Promise((r) => waiters.push(r))),
      close: () => {
        settle(undefined);
        socket?.destroy();
      },
    };
    return this.session.passiveResult({ ok: true, extended, address: announced, port });
  }

  private openActive(host: string, port: number): void {
    this.closeData();
    let socket: Socket | undefined;
    let closed = false;
    const local = clientAddress(this.socket.localAddress);
    this.data = {
      mode: 'active',
      get: () =>
        new Promise((resolve) => {
          if (closed) return resolve(undefined);
          const s = net.connect({ host, port, localAddress: local, noDelay: true });
          socket = s;
          const timer = setTimeout(() => fail(), this.server.o.dataConnectTimeoutMs);
          const fail = () => {
            clearTimeout(timer);
            s.destroy();
            resolve(undefined);
          };
          s.once('error', fail);
          s.once('connect', () => {
            clearTimeout(timer);
            s.off('error', fail);
            s.on('error', () => {});
            resolve(s);
          });
        }),
      close: () => {
        closed = true;
        socket?.destroy();
      },
    };
  }

  private async directory(op: 'cwd' | 'list' | 'nlst', virtual: string, mayBeFile: boolean): Promise<void> {
    const dirs = this.server.directories;
    if (op === 'cwd') return this.send(this.session.dirResult('cwd', virtual, await dirs.isDirectory(virtual)));
    const listing = await dirs.list(virtual);
    void mayBeFile;
    const head = this.session.dirResult(op, virtual, listing.ok ? { ok: true } : listing);
    const channel = this.data;
    this.data = undefined;
    this.send(head);
    if (!listing.ok || !channel) return channel?.close();
    const text = op === 'list' ? formatList(listing.entries, this.server.now()) : formatNlst(listing.entries);
    await this.run(channel, Buffer.from(text, 'utf8'), {
      command: op === 'list' ? 'LIST' : 'NLST',
      path: virtual.slice(0, 512),
    });
  }

  private async file(op: 'size' | 'mdtm' | 'retr', virtual: string, offset: number, line: string): Promise<void> {
    void line;
    const r = await this.server.file(virtual.replace(/^\/+/, ''), this.info());
    if (op !== 'retr') {
      if (r.ok) r.release();
      return this.send(
        this.session.fileResult(op, r.ok ? { ok: true, size: r.file.size, mtimeMs: r.file.mtimeMs, name: r.name } : r),
      );
    }
    const channel = this.data;
    this.data = undefined;
    const head = this.session.fileResult(
      'retr',
      r.ok ? { ok: true, size: r.file.size, mtimeMs: r.file.mtimeMs, name: r.name } : r,
      offset,
    );
    this.send(head);
    if (!r.ok || !head.startsWith('150') || !channel) {
      if (r.ok) r.release();
      channel?.close();
      return;
    }
    try {
      await this.run(channel, r.file.bytes.subarray(offset, r.file.size), {
        command: 'RETR',
        path: virtual.slice(0, 512),
        file: r.name,
        size: r.file.size,
      });
    } finally {
      r.release();
    }
  }

  /**
   * Sends `view` on the data channel in chunks, waiting for 'drain' between them, then closes it and
   * replies 226 (or 425/426). Resolves when the transfer is over.
   */
  private async run(
    channel: DataChannel,
    view: Buffer,
    what: { command: FtpTransferRecord['command']; path: string; file?: string; size?: number },
  ): Promise<void> {
    const started = performance.now();
    const counters = this.server.counters;
    counters.transfers++;
    const rec: FtpTransferRecord = {
      client: this.client,
      user: this.session.user ?? '',
      ...what,
      bytes: 0,
      mode: channel.mode,
      ok: false,
      ms: 0,
    };
    let outcome: 'done' | 'no-connection' | 'aborted' | 'timeout';
    let abortedBy: (() => void) | undefined;
    let why: 'aborted' | undefined;
    this.transfer = {
      abort: (w) => {
        why = w;
        abortedBy?.();
        channel.close();
      },
    };
    const socket = await channel.get();
    if (!socket || why) {
      outcome = why ?? 'no-connection';
      socket?.destroy();
    } else {
      outcome = await new Promise<'done' | 'aborted' | 'timeout'>((resolve) => {
        let at = 0;
        let settled = false;
        const settle = (v: 'done' | 'aborted' | 'timeout') => {
          if (settled) return;
          settled = true;
          if (v !== 'done') socket.destroy();
          resolve(v);
        };
        abortedBy = () => settle('aborted');
        socket.setTimeout(this.server.o.dataIdleTimeoutMs, () => settle('timeout'));
        socket.once('close', () => settle(at >= view.length && socket.writableFinished ? 'done' : 'aborted'));
        socket.once('error', () => settle('aborted'));
        const pump = (): void => {
          while (at < view.length) {
            if (settled || socket.destroyed) return;
            const chunk = view.subarray(at, Math.min(at + this.server.o.chunkBytes, view.length));
            at += chunk.length;
            const more = socket.write(chunk, (err) => {
              if (!err) rec.bytes += chunk.length;
            });
            if (!more && at < view.length) {
              socket.once('drain', pump);
              return;
            }
          }
          // Everything handed to the kernel: the FIN follows it; 226 once it is sent.
          socket.end(() => settle('done'));
        };
        pump();
      });
      if (outcome === 'done') socket.destroySoon();
    }
    this.transfer = undefined;
    rec.ok = outcome === 'done';
    if (!rec.ok) rec.error = outcome;
    rec.ms = Math.round(performance.now() - started);
    if (rec.ok) counters.completed++;
    else counters.aborted++;
    counters.bytesSent += rec.bytes;
    this.send(this.session.transferResult(outcome));
    if (this.aborReply) {
      this.aborReply = false;
      this.send(reply(226, 'ABOR successful.'));
    }
    this.server.emit('transfer', rec);
  }

  /** Sends a last reply (if any) and closes the control connection. */
  private finish(last?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.transfer?.abort('aborted');
    this.closeData();
    clearTimeout(this.loginTimer);
    if (last !== undefined && this.socket.writable) this.socket.end(last);
    else this.socket.end();
    // The socket stays open (what the client still sends is read and dropped) until the client closes
    // or 2 s pass: closing with unread input would reset the connection and could lose the last reply.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.finish(reply(421, 'Server shutting down.'));
    this.socket.destroy();
  }

  /** The socket closed. */
  closed(): void {
    this.ended = true;
    clearTimeout(this.loginTimer);
    this.transfer?.abort('aborted');
    this.closeData();
  }
}

/** A command line as text: CR dropped, Telnet IAC sequences (ABOR's IP/DM) removed, UTF-8. */
function decodeLine(bytes: Buffer): string {
  let b = bytes;
  if (b.length > 0 && b[b.length - 1] === 0x0d) b = b.subarray(0, b.length - 1);
  if (b.includes(0xff)) {
    const out: number[] = [];
    for (let i = 0; i < b.length; i++) {
      if (b[i] === 0xff) {
        if (b[i + 1] === 0xff) out.push(0xff);
        i++;
        continue;
      }
      out.push(b[i]!);
    }
    b = Buffer.from(out);
  }
  return b.toString('utf8');
}
