/**
 * The TFTP server: owns the well-known port, checks each request (path, mode, limits), and runs every
 * transfer on its own socket and ephemeral port (a new TID) with the pure sender/receiver machines.
 *
 * Every request's work is bounded (issue 14): requests per source address are rate-limited (silently
 * dropped past it: an answer to a forged source is what a reflection attack wants); a source address
 * holds at most `maxTransfersPerAddress` of the `maxTransfers` slots, and when either cap is reached
 * the oldest idle transfer (no progress from its peer for a retransmission timeout) of that address,
 * or of all, is reclaimed before a request is refused "server busy". A flood from many ports of one
 * address churns through its own share while other addresses are served; a flood from many addresses
 * gives way to new requests as its transfers go idle. A client's timeout option is capped, a
 * transfer's life is capped, a silent client costs `1 + retriesBeforeAnswer` packets and a window at
 * most `maxUnackedBytes`. Names longer than `maxFilenameBytes` get ERROR 4. Error messages name the
 * request (quoted and cut), never the server's files.
 *
 * An upload's ACK is a promise that what it acknowledges is stored: the receiver machine waits for
 * each write, and the final ACK for the durable commit (src/files/atomic-file.ts).
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { EventEmitter } from 'node:events';
import { ImageCache, type FileLease } from '@bootwire/core';
import { AtomicFile, FileExistsError } from '@bootwire/core';
import { openRoot, resolveForWrite } from '@bootwire/core';
import { createRootResolver } from '@bootwire/core';
import {
  type ClientInfo,
  collectStream,
  DEFAULT_MAX_STREAM_BYTES,
  DEFAULT_RESOLVE_TIMEOUT_MS,
  DEFAULT_STREAM_TIMEOUT_MS,
  type FileRequest,
  messageOf,
  type RefusalReason,
  type Resolver,
  type ResolverOptions,
  runResolver,
} from '@bootwire/core';
import type { PhoneLookup } from '@bootwire/core';
import {
  MAX_RECORDED_NAME,
  type PhoneRef,
  type ServerWarning,
  type TftpTransferRecord,
  type TransferStart,
  type WarningCode,
} from '@bootwire/core';
import { cut, quote } from '@bootwire/core';
import { decodeTftp, encodeError } from './codec.js';
import { NetasciiDecoder, netasciiEncodedLength } from './netascii.js';
import { createTransferRunner, defaultWorkerCount, inlineTransferRunner, type TransferRunner } from './pool/pool.js';
import type { ReadResult } from './pool/read-task.js';
import { epochNow, TransferStatus } from './pool/status.js';
import { RateLimiter } from './rate-limit.js';
import type { TransferResult } from './transfer.js';
import { negotiate } from './negotiate.js';
import { BLKSIZE_MAX, ErrorCode, Opcode, type RequestPacket } from './packet.js';
import { TftpReceiver } from './receiver.js';
import { addSendCounters, emptySendCounters, type SendCounters } from './net/send-counters.js';
import { openTransport, type TransferTransport } from './net/transport.js';
import { bindUdp, closeUdp } from '@bootwire/core';
import { UdpTransfer, type Endpoint } from './udp-transfer.js';

/** `root` or `resolver`, `phones` and the resolver's limits: see ResolverOptions (src/files/resolver.ts). */
export interface TftpServerOptions extends ResolverOptions {
  host?: string;
  /** 0 picks a free port. Default 69. */
  port?: number;
  /** Concurrent transfers; past it requests get ERROR 0 "server busy". */
  maxTransfers?: number;
  allowWrite?: boolean;
  allowOverwrite?: boolean;
  maxUploadBytes?: number;
  /** Retransmission timeout when the client sends no timeout option. */
  timeoutMs?: number;
  maxRetries?: number;
  maxBlksize?: number;
  maxWindowsize?: number;
  /**
   * Worker threads that run RRQ transfers; 0 runs them on the main thread. Default: one per core.
   * Uploads (WRQ) always run on the main thread, which writes the files.
   */
  workers?: number;
  /** Share a cache between servers (e.g. TFTP and HTTP); else one of `cacheBytes` is made. */
  cache?: ImageCache;
  cacheBytes?: number;
  /** Longest client timeout option honoured (RFC 2349), in ms; a longer one is declined. */
  maxClientTimeoutMs?: number;
  /** A transfer's whole life, in ms; past it ERROR 0. */
  maxTransferMs?: number;
  /** Concurrent transfers of one client address. */
  maxTransfersPerAddress?: number;
  /** Requests a second from one source address (bursts of as many); past it they are dropped. 0: no limit. */
  maxRequestRate?: number;
  /** Retransmissions to a client that has not answered at all (no ACK or DATA yet). */
  retriesBeforeAnswer?: number;
  /** DATA bytes a transfer may have sent and not had acknowledged. */
  maxUnackedBytes?: number;
  /** Longest file name accepted, in UTF-8 bytes; longer ones get ERROR 4. */
  maxFilenameBytes?: number;
}

/**
 * The limits' defaults. They serve a 1,000-phone storm on one machine, where every phone shares the
 * address 127.0.0.1 (measured: at most 932 transfers at once from it, 1,312 requests in its busiest
 * second); on a network where each phone has its own address, far lower per-address values fit.
 */
/** What a reload prepared: applied by `commit()`, or given up by `abort()` (nothing changed then). */
export interface PreparedTftpChange {
  commit(): void;
  abort(): void;
}

/** What a reload may change: everything but the worker threads, the file cache and the phone directory. */
export type TftpReconfigureOptions = Omit<TftpServerOptions, 'workers' | 'cache' | 'cacheBytes' | 'phones'>;

export const TFTP_LIMIT_DEFAULTS = {
  maxClientTimeoutMs: 5000,
  maxTransferMs: 600_000,
  maxTransfersPerAddress: 64,
  maxRequestRate: 200,
  retriesBeforeAnswer: 1,
  maxUnackedBytes: 512 * 1024,
  maxFilenameBytes: 1024,
} as const;

/** A TFTP transfer's end (src/server/records.ts). */
export type TransferRecord = TftpTransferRecord;

export interface TftpServerStats {
  activeTransfers: number;
  transfersStarted: number;
  transfersCompleted: number;
  transfersFailed: number;
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
  busyRejections: number;
  malformedRequests: number;
  /** Requests dropped by the per-source rate limit. */
  rateLimited: number;
  /** Idle transfers ended to make room for a new request. */
  reclaimed: number;
  /** ERROR packets this server sent, by code. */
  errorsSent: Record<number, number>;
  /**
   * What the transfers' sockets did with their datagrams: sent, deferred for lack of room (the
   * socket's buffer or the interface's queue was full: back-pressure), superseded while waiting, lost
   * to a send error, and windows sent as one segmented write.
   */
  udp: SendCounters;
}

/** Task ids, unique in the process: transfers of several servers may run on the main thread. */
let nextTaskId = 1;

/** Boot storms bring hundreds of clients at once: dnsmasq's default of 50 leaves most of them hanging. */
export const DEFAULT_MAX_TRANSFERS = 2000;

/** A transfer that was accepted; wrapped so that awaiting its start does not await its end. */
interface Started {
  done: Promise<void>;
}

/** A transfer from its request to its end. */
interface Active {
  address: string;
  /** Its retransmission timeout: silent that long, it is idle. */
  timeoutMs: number;
  status: TransferStatus;
  /** Still holds a slot under the caps (false once reclaimed). */
  counted: boolean;
  /** Ends it early (reclaimed, or shutdown for uploads); set once it runs. */
  stop?: (code: number, message: string) => void;
  /** Its client repeated the request. */
  nudge?: () => void;
  done?: Promise<unknown>;
}

const DISK_FULL_MESSAGE = 'disk full or allocation exceeded';
/** Longest ERROR message sent (the names in it are cut shorter still). */
const MAX_ERROR_MESSAGE = 160;

export declare interface TftpServer {
  /** A transfer accepted: its content resolved, its first packet about to go (or, for uploads, its first ACK). */
  on(event: 'transfer-start', listener: (start: TransferStart) => void): this;
  /** Every request's end, refused ones included (a refusal has `bytes: 0` and its ERROR). */
  on(event: 'transfer-end', listener: (record: TftpTransferRecord) => void): this;
  /** The same record as `transfer-end` (the name this event had first). */
  on(event: 'transfer', listener: (record: TftpTransferRecord) => void): this;
  on(event: 'warning', listener: (warning: ServerWarning) => void): this;
}

type Limits = Required<
  Omit<TftpServerOptions, 'cache' | 'cacheBytes' | 'host' | 'port' | 'workers' | 'root' | 'resolver' | 'phones'>
> & { host: string };

/** What a RRQ is served from, once resolved. */
interface Content {
  bytes: Uint8Array;
  /** The file's name for the record (relative to the root, or the resolver's). */
  name: string | undefined;
  netasciiLength: () => number;
  release: () => void;
}

export class TftpServer extends EventEmitter {
  /** By client TID (address:port), from request to end: a repeated request finds its transfer here. */
  private readonly active = new Map<string, Active>();
  /** Transfers that hold a slot, by client address. */
  private readonly byAddress = new Map<string, Set<Active>>();
  private counted = 0;
  /** Runs on this thread the transfers whose bytes a worker cannot share (see startRead). */
  private readonly inline: TransferRunner = inlineTransferRunner();
  /** Ids of the transfers running on `inline` (a shutdown ends them; other servers' are not ours). */
  private readonly inlineIds = new Set<number>();
  private limiter: RateLimiter;
  private readonly counters: TftpServerStats = {
    activeTransfers: 0,
    transfersStarted: 0,
    transfersCompleted: 0,
    transfersFailed: 0,
    bytesSent: 0,
    bytesReceived: 0,
    retransmits: 0,
    busyRejections: 0,
    malformedRequests: 0,
    rateLimited: 0,
    reclaimed: 0,
    errorsSent: {},
    udp: emptySendCounters(),
  };
  private closing = false;
  readonly cache: ImageCache;

  private constructor(
    private socket: dgram.Socket,
    private root: string | undefined,
    private opts: Limits,
    cache: ImageCache,
    readonly runner: TransferRunner,
    private currentResolver: Resolver,
    private readonly phones: PhoneLookup | undefined,
  ) {
    super();
    this.cache = cache;
    this.limiter = new RateLimiter(opts.maxRequestRate);
    this.listen(socket);
  }

  private listen(socket: dgram.Socket): void {
    socket.on('message', (msg, rinfo) => {
      const from = { address: rinfo.address, port: rinfo.port };
      void this.onRequest(msg, from).catch((e: unknown) => {
        this.warn('request-failed', `request from ${rinfo.address}:${rinfo.port} failed: ${messageOf(e)}`, from);
      });
    });
    socket.on('error', (e) => this.warn('socket-error', `socket error: ${e.message}`));
  }

  /**
   * The root's real path (uploads, and the default resolver); undefined when only a resolver serves. A reload may
   * change it.
   */
  get rootReal(): string | undefined {
    return this.root;
  }

  /** What read requests are answered with (a reload may change it; running transfers keep their content). */
  get resolver(): Resolver {
    return this.currentResolver;
  }

  private warn(code: WarningCode, message: string, client?: Endpoint): void {
    const w: ServerWarning = { code, message, ...(client ? { client } : {}) };
    this.emit('warning', w);
  }

  static async start(options: TftpServerOptions): Promise<TftpServer> {
    if (options.root === undefined && options.resolver === undefined)
      throw new Error('a TFTP server needs a root or a resolver');
    const rootReal = options.root !== undefined ? await openRoot(options.root) : undefined;
    const resolver = options.resolver ?? (await createRootResolver({ root: rootReal! }));
    const host = options.host ?? '0.0.0.0';
    const socket = await bindRequestSocket(host, options.port ?? 69);
    const opts = limitsOf(options, host);
    let runner: TransferRunner;
    try {
      runner = await createTransferRunner(options.workers ?? defaultWorkerCount());
    } catch (e) {
      socket.close();
      throw e;
    }
    return new TftpServer(
      socket,
      rootReal,
      opts,
      options.cache ?? new ImageCache(options.cacheBytes),
      runner,
      resolver,
      options.phones,
    );
  }

  /**
   * A new configuration, checked before anything changes: the root opens, and a new listen address is
   * bound (port 0 keeps the current port). `commit()` swaps it in at once: requests from then on are
   * served on the new settings, while running transfers finish on what they started with (their
   * socket, content, options and timers are their own).
   */
  async prepareReconfigure(options: TftpReconfigureOptions): Promise<PreparedTftpChange> {
    if (options.root === undefined && options.resolver === undefined)
      throw new Error('a TFTP server needs a root or a resolver');
    const rootReal = options.root !== undefined ? await openRoot(options.root) : undefined;
    const resolver = options.resolver ?? (await createRootResolver({ root: rootReal! }));
    const host = options.host ?? '0.0.0.0';
    const current = this.socket.address();
    const port = options.port === undefined ? 69 : options.port === 0 ? current.port : options.port;
    let socket: dgram.Socket | undefined;
    if (host !== this.opts.host || port !== current.port) {
      try {
        socket = await bindRequestSocket(host, port);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new Error(
          `cannot listen on ${host}:${port} for tftp: ${code ?? (e as Error).message}` +
            `${code === 'EACCES' ? ' (privileges dropped: restart needed)' : ''}`,
        );
      }
    }
    const opts = limitsOf(options, host);
    let done = false;
    return {
      abort: () => {
        if (done) return;
        done = true;
        socket?.close();
      },
      commit: () => {
        if (done) return;
        done = true;
        if (this.closing) return void socket?.close();
        if (opts.maxRequestRate !== this.opts.maxRequestRate) this.limiter = new RateLimiter(opts.maxRequestRate);
        this.opts = opts;
        this.root = rootReal;
        this.currentResolver = resolver;
        if (socket) {
          const old = this.socket;
          this.socket = socket;
          this.listen(socket);
          old.close();
        }
      },
    };
  }

  /** prepareReconfigure, then commit. */
  async reconfigure(options: TftpReconfigureOptions): Promise<void> {
    (await this.prepareReconfigure(options)).commit();
  }

  address(): Endpoint {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  stats(): TftpServerStats {
    return {
      ...this.counters,
      activeTransfers: this.active.size,
      errorsSent: { ...this.counters.errorsSent },
      udp: { ...this.counters.udp },
    };
  }

  /** Transfers holding a slot from `address` now (reclaimed ones no longer count). */
  transfersFrom(address: string): number {
    return this.byAddress.get(address)?.size ?? 0;
  }

  /** Source addresses the rate limiter remembers (bounded). */
  get rateLimitSources(): number {
    return this.limiter.sources;
  }

  private countError = (code: number): void => {
    this.counters.errorsSent[code] = (this.counters.errorsSent[code] ?? 0) + 1;
  };

  private replyError(to: Endpoint, code: number, message: string): void {
    this.countError(code);
    try {
      this.socket.send(encodeError(code, cut(message, MAX_ERROR_MESSAGE)), to.port, to.address);
    } catch {
      /* closing */
    }
  }

  private async onRequest(msg: Buffer, from: Endpoint): Promise<void> {
    if (this.closing) return;
    if (!this.limiter.take(from.address, epochNow())) {
      this.counters.rateLimited++;
      return;
    }
    const decoded = decodeTftp(msg);
    if (!decoded.ok) {
      this.counters.malformedRequests++;
      const code =
        decoded.error.kind === 'bad-option-value' ? ErrorCode.OPTION_NEGOTIATION : ErrorCode.ILLEGAL_OPERATION;
      // An unknown opcode might be anything (even another protocol): answer only what looks like a request.
      if (decoded.error.kind !== 'unknown-opcode' && decoded.error.kind !== 'truncated') {
        this.replyError(from, code, `malformed request: ${decoded.error.message}`);
      }
      return;
    }
    const p = decoded.packet;
    if (p.opcode !== Opcode.RRQ && p.opcode !== Opcode.WRQ) return; // strays to the well-known port
    if (Buffer.byteLength(p.filename) > this.opts.maxFilenameBytes) {
      this.replyError(from, ErrorCode.ILLEGAL_OPERATION, 'file name too long');
      return;
    }
    const key = `${from.address}:${from.port}`;
    const running = this.active.get(key);
    if (running) {
      running.nudge?.(); // a repeated request: the first packet again if it was lost, never a second transfer
      return;
    }
    if (!this.makeRoom(from.address)) {
      this.counters.busyRejections++;
      this.replyError(from, ErrorCode.NOT_DEFINED, 'server busy');
      return;
    }
    const slot: Active = {
      address: from.address,
      timeoutMs: this.opts.timeoutMs,
      status: new TransferStatus(),
      counted: true,
    };
    this.active.set(key, slot);
    this.hold(slot);
    let started: Started | undefined;
    const rq: RequestContext = { req: p, from, client: this.clientOf(from) };
    try {
      started = p.opcode === Opcode.RRQ ? await this.startRead(rq, slot) : await this.startWrite(rq, slot);
    } finally {
      if (!started) this.forget(key, slot);
    }
    if (!started) return;
    slot.done = started.done;
    await started.done;
    this.forget(key, slot);
  }

  /**
   * A slot for a request from `address`: under its per-address share and the global cap, reclaiming
   * the oldest idle transfer of that address (or of any, at the global cap) when one is full.
   */
  private makeRoom(address: string): boolean {
    const mine = this.byAddress.get(address);
    if (mine && mine.size >= this.opts.maxTransfersPerAddress) return this.reclaimOldestIdle(mine);
    if (this.counted >= this.opts.maxTransfers) {
      let oldest: Active | undefined;
      for (const set of this.byAddress.values()) oldest = oldestIdle(set, oldest);
      return oldest !== undefined && this.reclaim(oldest);
    }
    return true;
  }

  private reclaimOldestIdle(set: Set<Active>): boolean {
    const victim = oldestIdle(set, undefined);
    return victim !== undefined && this.reclaim(victim);
  }

  private reclaim(victim: Active): boolean {
    this.release(victim);
    this.counters.reclaimed++;
    victim.status.cancel();
    victim.stop?.(ErrorCode.NOT_DEFINED, 'server busy: idle transfer ended');
    return true;
  }

  private hold(a: Active): void {
    let set = this.byAddress.get(a.address);
    if (!set) this.byAddress.set(a.address, (set = new Set()));
    set.add(a);
    this.counted++;
  }

  private release(a: Active): void {
    if (!a.counted) return;
    a.counted = false;
    this.counted--;
    const set = this.byAddress.get(a.address)!;
    set.delete(a);
    if (set.size === 0) this.byAddress.delete(a.address);
  }

  private forget(key: string, a: Active): void {
    this.release(a);
    if (this.active.get(key) === a) this.active.delete(key);
  }

  private policy() {
    return {
      maxBlksize: this.opts.maxBlksize,
      maxWindowsize: this.opts.maxWindowsize,
      maxTimeoutMs: this.opts.maxClientTimeoutMs,
    };
  }

  private machineLimits() {
    return {
      maxRetries: this.opts.maxRetries,
      retriesBeforeAnswer: this.opts.retriesBeforeAnswer,
      maxLifeMs: this.opts.maxTransferMs,
    };
  }

  /** The client as a resolver sees it: with its phone when the directory knows the address. */
  private clientOf(from: Endpoint): ClientInfo {
    const phone = this.phones?.phoneAt(from.address);
    return phone ? { address: from.address, port: from.port, phone } : { address: from.address, port: from.port };
  }

  /**
   * Resolves a RRQ's content: one resolver call, its answer checked (a fault is ERROR 0 to this client
   * only), a file leased from the shared cache, a stream read whole (bounded). Undefined when refused.
   */
  private async contentOf(rq: RequestContext): Promise<Content | undefined> {
    const req = rq.req;
    const request: FileRequest = { name: req.filename, protocol: 'tftp', mode: req.mode };
    const r = await runResolver(this.resolver, request, rq.client, this.opts.resolveTimeoutMs);
    switch (r.kind) {
      case 'fault':
        this.warn('resolver-failed', `${quote(req.filename)}: ${r.message}`, rq.from);
        return this.refuse(rq, ErrorCode.NOT_DEFINED, `cannot resolve ${quote(req.filename)}`);
      case 'refusal':
        return this.refuse(rq, codeFor(r.reason), r.message ?? defaultRefusal(r.reason, req.filename));
      case 'file': {
        let lease: FileLease;
        try {
          lease = await this.cache.acquire(r.path);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') return this.refuse(rq, ErrorCode.FILE_NOT_FOUND, `${quote(req.filename)} not found`);
          return this.refuse(
            rq,
            ErrorCode.ACCESS_VIOLATION,
            `cannot read ${quote(req.filename)}${code ? `: ${code}` : ''}`,
          );
        }
        const f = lease.file;
        return {
          bytes: f.bytes,
          name: r.name,
          netasciiLength: () => f.memo('netascii-length', netasciiEncodedLength),
          release: () => lease.release(),
        };
      }
      case 'bytes':
        return {
          bytes: r.bytes,
          name: r.name,
          netasciiLength: () => netasciiEncodedLength(r.bytes),
          release: () => {},
        };
      case 'stream': {
        let bytes: Buffer;
        try {
          bytes = await collectStream(r.stream, {
            maxBytes: this.opts.maxStreamBytes,
            timeoutMs: this.opts.streamTimeoutMs,
            ...(r.size !== undefined ? { size: r.size } : {}),
          });
        } catch (e) {
          this.warn('stream-failed', `${quote(req.filename)}: ${messageOf(e)}`, rq.from);
          return this.refuse(rq, ErrorCode.NOT_DEFINED, `cannot read ${quote(req.filename)}`);
        }
        return { bytes, name: r.name, netasciiLength: () => netasciiEncodedLength(bytes), release: () => {} };
      }
    }
  }

  /** Checks a RRQ and starts its transfer; returns a promise of its end, or undefined if refused. */
  private async startRead(rq: RequestContext, slot: Active): Promise<Started | undefined> {
    const { req, from } = rq;
    if (req.mode === 'mail') return this.refuse(rq, ErrorCode.ILLEGAL_OPERATION, 'mail mode is not supported');
    const content = await this.contentOf(rq);
    if (!content) return undefined;
    rq.file = content.name;
    if (!slot.counted) {
      content.release(); // reclaimed while its content was resolved
      return this.refuse(rq, ErrorCode.NOT_DEFINED, 'server busy');
    }
    // tsize is what goes on the wire: the netascii form is longer than the file. Scanned once per version.
    const netascii = req.mode === 'netascii';
    const size = content.bytes.byteLength;
    const wireSize = netascii ? content.netasciiLength() : size;
    const n = negotiate(req, this.policy(), wireSize);
    if (n.timeoutMs !== undefined) slot.timeoutMs = n.timeoutMs;
    const id = nextTaskId++;
    // Bytes in a SharedArrayBuffer (the cache's copies, collected streams) go to the worker pool as
    // views; any other buffer is served on this thread, from the view itself: never copied.
    const shared = content.bytes.buffer instanceof SharedArrayBuffer;
    const runner = shared ? this.runner : this.inline;
    slot.stop = (code, message) => runner.abort(id, code, message);
    slot.nudge = () => runner.nudge(id);
    if (!shared) this.inlineIds.add(id);
    this.counters.transfersStarted++;
    this.started(rq, size);
    const started = performance.now();
    const done = runner
      .run({
        id,
        peer: from,
        host: this.opts.host,
        bytes: content.bytes.buffer,
        offset: content.bytes.byteOffset,
        size,
        mode: netascii ? 'netascii' : 'octet',
        wireSize,
        blksize: n.blksize,
        windowsize: n.windowsize,
        oack: n.oack,
        timeoutMs: n.timeoutMs ?? this.opts.timeoutMs,
        ...this.machineLimits(),
        maxUnackedBytes: this.opts.maxUnackedBytes,
        status: slot.status.buffer,
      })
      .catch((e: unknown): ReadResult => {
        // runReadTask only throws when its socket cannot be opened.
        this.replyError(from, ErrorCode.NOT_DEFINED, 'cannot start transfer');
        return {
          ok: false,
          error: { code: 0, message: (e as Error).message, by: 'local' },
          bytes: 0,
          blocks: 0,
          retransmits: 0,
          errorsSent: {},
        };
      })
      .then((r) => {
        this.inlineIds.delete(id);
        content.release();
        for (const [code, count] of Object.entries(r.errorsSent))
          this.counters.errorsSent[Number(code)] = (this.counters.errorsSent[Number(code)] ?? 0) + count;
        if (r.udp) addSendCounters(this.counters.udp, r.udp);
        this.record(
          rq,
          {
            blksize: n.blksize,
            windowsize: n.windowsize,
            oack: n.oack,
            bytes: r.bytes,
            retransmits: r.retransmits,
            size,
          },
          r.ok ? { ok: true } : { ok: false, error: r.error },
          started,
        );
      });
    return { done };
  }

  private async startWrite(rq: RequestContext, slot: Active): Promise<Started | undefined> {
    const { req, from } = rq;
    if (!this.opts.allowWrite || this.rootReal === undefined)
      return this.refuse(rq, ErrorCode.ACCESS_VIOLATION, 'uploads are disabled on this server');
    if (req.mode === 'mail') return this.refuse(rq, ErrorCode.ILLEGAL_OPERATION, 'mail mode is not supported');
    // The resolver's name rules (remap, lowercase) apply to uploads too, as tftpd-hpa's do.
    let target = req.filename;
    if (this.resolver.mapName) {
      const m = this.resolver.mapName({ name: req.filename, protocol: 'tftp', mode: req.mode }, rq.client, 'write');
      if (!m.ok)
        return this.refuse(rq, ErrorCode.ACCESS_VIOLATION, m.message ?? `access to ${quote(req.filename)} denied`);
      target = m.name;
    }
    const resolved = await resolveForWrite(this.rootReal, target);
    if (!resolved.ok)
      return this.refuse(
        rq,
        resolved.reason === 'invalid' ? ErrorCode.ILLEGAL_OPERATION : ErrorCode.ACCESS_VIOLATION,
        target === req.filename ? resolved.message : `access to ${quote(req.filename)} denied`,
      );
    rq.file = resolved.relative;
    if (req.known.tsize !== undefined && req.known.tsize > this.opts.maxUploadBytes) {
      return this.refuse(
        rq,
        ErrorCode.DISK_FULL,
        `upload of ${req.known.tsize} bytes exceeds the limit of ${this.opts.maxUploadBytes}`,
      );
    }
    const name = quote(req.filename);
    let file: AtomicFile;
    try {
      // A new name is reserved from here: a second WRQ for it is refused before any data.
      file = await AtomicFile.create(resolved.path, { overwrite: this.opts.allowOverwrite });
    } catch (e) {
      if (e instanceof FileExistsError) return this.refuse(rq, ErrorCode.FILE_EXISTS, `${name} already exists`);
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENAMETOOLONG') return this.refuse(rq, ErrorCode.ILLEGAL_OPERATION, `file name ${name} is too long`);
      if (code === 'ENOSPC' || code === 'EDQUOT') return this.refuse(rq, ErrorCode.DISK_FULL, DISK_FULL_MESSAGE);
      return this.refuse(rq, ErrorCode.ACCESS_VIOLATION, `cannot create ${name}${code ? `: ${code}` : ''}`);
    }
    if (!slot.counted) {
      await file.abort();
      return this.refuse(rq, ErrorCode.NOT_DEFINED, 'server busy');
    }
    const n = negotiate(req, this.policy());
    if (n.timeoutMs !== undefined) slot.timeoutMs = n.timeoutMs;
    let transport: TransferTransport;
    try {
      transport = await openTransport({
        local: this.opts.host,
        peer: from,
        peerPortKnown: true,
        slotBytes: 4 + n.blksize,
        burst: n.windowsize,
      });
    } catch {
      await file.abort();
      return this.refuse(rq, ErrorCode.NOT_DEFINED, 'cannot start transfer');
    }
    slot.status.progress(performance.now());
    slot.status.port = transport.port;
    const decoder = req.mode === 'netascii' ? new NetasciiDecoder() : undefined;
    const t: UdpTransfer = new UdpTransfer({
      transport,
      onErrorSent: this.countError,
      onProgress: (now) => slot.status.progress(now),
      // Octet payloads are views of datagrams nobody else holds, so they can be queued as they are.
      // At most a window of them waits for the disk: the machine takes no block past its last ACK's window.
      deliver: (payload, final) => {
        const bytes = decoder ? decoder.push(payload) : payload;
        let stored: Promise<void>;
        if (!final) stored = file.write(bytes);
        else {
          void file.write(bytes);
          if (decoder) void file.write(decoder.end());
          stored = file.commit();
        }
        stored.then(
          () => {
            slot.status.progress(performance.now()); // a write done is progress too: a slow disk is not an idle client
            t.written();
          },
          (e: unknown) => {
            const [code, message] = storeError(e, name);
            t.writeFailed(code, message);
          },
        );
      },
    });
    const machine = new TftpReceiver(t, {
      role: 'server',
      blksize: n.blksize,
      windowsize: n.windowsize,
      oack: n.oack,
      timeoutMs: n.timeoutMs ?? this.opts.timeoutMs,
      ...this.machineLimits(),
      maxBytes: this.opts.maxUploadBytes,
      awaitWrites: true,
      // Long enough for a client that lost our final ACK to resend its final DATA twice, backing off.
      dallyMs: 4 * (n.timeoutMs ?? this.opts.timeoutMs),
    });
    slot.stop = (code, message) => t.abort(code, message);
    slot.nudge = () => t.nudge();
    this.counters.transfersStarted++;
    this.started(rq, req.known.tsize);
    const started = performance.now();
    const running = t.start(machine);
    if (!slot.counted) t.abort(ErrorCode.NOT_DEFINED, 'server busy'); // reclaimed while its socket opened
    const done = running.then(async (outcome) => {
      await t.closeSocket();
      addSendCounters(this.counters.udp, transport.counters);
      // Success means committed (the final ACK followed it); anything else leaves nothing behind.
      if (!outcome.result.ok) await file.abort();
      const st = machine.stats;
      this.record(
        rq,
        {
          blksize: machine.blksize,
          windowsize: machine.windowsize,
          oack: n.oack,
          bytes: st.bytes,
          retransmits: st.retransmits,
        },
        outcome.result,
        started,
      );
    });
    return { done };
  }

  /** Answers a request with an ERROR and records it (a refusal: nothing was sent). */
  private refuse(rq: RequestContext, code: number, message: string): undefined {
    this.replyError(rq.from, code, message);
    if (this.listenerCount('transfer-end') + this.listenerCount('transfer') > 0) {
      this.emitRecord({
        ...this.recordBase(rq),
        mode: rq.req.mode,
        blksize: 0,
        windowsize: 0,
        options: {},
        bytes: 0,
        retransmits: 0,
        ms: 0,
        ok: false,
        result: 'refused',
        error: { code, message: cut(message, MAX_ERROR_MESSAGE), by: 'local' },
      });
    }
    return undefined;
  }

  private recordBase(
    rq: RequestContext,
  ): Pick<TftpTransferRecord, 'protocol' | 'client' | 'phone' | 'direction' | 'name' | 'file'> {
    const phone = rq.client.phone;
    const ref: PhoneRef | undefined = phone
      ? phone.model !== undefined
        ? { mac: phone.mac, model: phone.model }
        : { mac: phone.mac }
      : undefined;
    return {
      protocol: 'tftp',
      client: rq.from,
      ...(ref ? { phone: ref } : {}),
      direction: rq.req.opcode === Opcode.RRQ ? 'read' : 'write',
      name: cut(rq.req.filename, MAX_RECORDED_NAME),
      ...(rq.file !== undefined ? { file: cut(rq.file, MAX_RECORDED_NAME) } : {}),
    };
  }

  private started(rq: RequestContext, size: number | undefined): void {
    if (this.listenerCount('transfer-start') === 0) return;
    const s: TransferStart = { ...this.recordBase(rq), ...(size !== undefined ? { size } : {}) };
    this.emit('transfer-start', s);
  }

  private emitRecord(rec: TftpTransferRecord): void {
    this.emit('transfer-end', rec);
    this.emit('transfer', rec);
  }

  private record(
    rq: RequestContext,
    m: {
      blksize: number;
      windowsize: number;
      oack: readonly { name: string; value: string }[];
      bytes: number;
      retransmits: number;
      size?: number;
    },
    result: TransferResult,
    started: number,
  ): void {
    const direction = rq.req.opcode === Opcode.RRQ ? 'read' : 'write';
    if (direction === 'read') this.counters.bytesSent += m.bytes;
    else this.counters.bytesReceived += m.bytes;
    this.counters.retransmits += m.retransmits;
    if (result.ok) this.counters.transfersCompleted++;
    else this.counters.transfersFailed++;
    if (this.listenerCount('transfer-end') + this.listenerCount('transfer') === 0) return;
    const options: Record<string, string> = {};
    for (const o of m.oack) options[o.name.toLowerCase()] = o.value;
    const rec: TftpTransferRecord = {
      ...this.recordBase(rq),
      mode: rq.req.mode,
      blksize: m.blksize,
      windowsize: m.windowsize,
      options,
      bytes: m.bytes,
      ...(m.size !== undefined ? { size: m.size } : {}),
      retransmits: m.retransmits,
      ms: Math.round(performance.now() - started),
      ok: result.ok,
      result: result.ok ? 'ok' : 'failed',
      ...(result.ok ? {} : { error: result.error }),
    };
    this.emitRecord(rec);
  }

  /** Resolves when no transfer is running (one starting meanwhile is waited for too). */
  async idle(): Promise<void> {
    while (this.active.size > 0) {
      await Promise.allSettled([...this.active.values()].map((a) => a.done ?? new Promise((r) => setTimeout(r, 5))));
    }
  }

  /**
   * Stops accepting requests, lets running transfers finish for up to `graceMs`, then ends the rest
   * with ERROR 0 and waits for them to clean up.
   */
  async close(graceMs = 5000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.socket.close();
    const all = () => Promise.allSettled([...this.active.values()].flatMap((a) => (a.done ? [a.done] : [])));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([all(), graceOver]);
    clearTimeout(timer);
    for (const a of this.active.values()) a.stop?.(ErrorCode.NOT_DEFINED, 'server shutting down');
    this.runner.abortAll(ErrorCode.NOT_DEFINED, 'server shutting down');
    for (const id of this.inlineIds) this.inline.abort(id, ErrorCode.NOT_DEFINED, 'server shutting down');
    await all();
    await this.runner.close();
  }
}

/** The transfer in `set` (or `best`) silent the longest, if it has been silent for its timeout. */
function oldestIdle(set: Set<Active>, best: Active | undefined): Active | undefined {
  const now = epochNow();
  for (const a of set) {
    if (!a.status.started) continue; // still starting: it has not had its chance yet
    const since = a.status.lastProgress;
    if (now - since < a.timeoutMs) continue;
    if (!best || since < best.status.lastProgress) best = a;
  }
  return best;
}

function codeFor(reason: RefusalReason): number {
  return reason === 'not-found'
    ? ErrorCode.FILE_NOT_FOUND
    : reason === 'invalid'
      ? ErrorCode.ILLEGAL_OPERATION
      : ErrorCode.ACCESS_VIOLATION;
}

function defaultRefusal(reason: RefusalReason, name: string): string {
  return reason === 'not-found'
    ? `${quote(name)} not found`
    : reason === 'invalid'
      ? `file name ${quote(name)} is not valid`
      : `access to ${quote(name)} denied`;
}

/** One request on its way: who asked, for what, and (once resolved) the file it names. */
interface RequestContext {
  req: RequestPacket;
  from: Endpoint;
  client: ClientInfo;
  file?: string;
}

/** The ERROR for a failed write or commit: disk full is ERROR 3, the rest ERROR 0, the request named, never a path. */
function storeError(e: unknown, name: string): [number, string] {
  if (e instanceof FileExistsError) return [ErrorCode.FILE_EXISTS, `${name} already exists`];
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return [ErrorCode.DISK_FULL, DISK_FULL_MESSAGE];
  return [ErrorCode.NOT_DEFINED, `cannot store ${name}${code ? `: ${code}` : ''}`];
}

/** The well-known port's socket. */
async function bindRequestSocket(host: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false });
  try {
    await bindUdp(socket, port, host);
  } catch (e) {
    closeUdp(socket);
    throw e;
  }
  return socket;
}

/** The options with their defaults filled in. */
function limitsOf(options: TftpReconfigureOptions, host: string): Limits {
  const d = TFTP_LIMIT_DEFAULTS;
  return {
    host,
    resolveTimeoutMs: options.resolveTimeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS,
    maxStreamBytes: options.maxStreamBytes ?? DEFAULT_MAX_STREAM_BYTES,
    streamTimeoutMs: options.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS,
    maxTransfers: options.maxTransfers ?? DEFAULT_MAX_TRANSFERS,
    maxClientTimeoutMs: options.maxClientTimeoutMs ?? d.maxClientTimeoutMs,
    maxTransferMs: options.maxTransferMs ?? d.maxTransferMs,
    maxTransfersPerAddress: options.maxTransfersPerAddress ?? d.maxTransfersPerAddress,
    maxRequestRate: options.maxRequestRate ?? d.maxRequestRate,
    retriesBeforeAnswer: options.retriesBeforeAnswer ?? d.retriesBeforeAnswer,
    maxUnackedBytes: options.maxUnackedBytes ?? d.maxUnackedBytes,
    maxFilenameBytes: options.maxFilenameBytes ?? d.maxFilenameBytes,
    allowWrite: options.allowWrite ?? false,
    allowOverwrite: options.allowOverwrite ?? false,
    maxUploadBytes: options.maxUploadBytes ?? 64 * 1024 * 1024,
    timeoutMs: options.timeoutMs ?? 1000,
    maxRetries: options.maxRetries ?? 5,
    maxBlksize: Math.min(options.maxBlksize ?? BLKSIZE_MAX, BLKSIZE_MAX),
    maxWindowsize: options.maxWindowsize ?? 64,
  };
}
