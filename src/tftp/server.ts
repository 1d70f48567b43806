/**
 * The TFTP server: owns the well-known port, checks each request (path, mode, limits), and runs every
 * transfer on its own socket and ephemeral port (a new TID) with the pure sender/receiver machines.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { EventEmitter } from 'node:events';
import { ImageCache, type FileLease } from '../files/image-cache.js';
import { AtomicFile, FileExistsError } from '../files/atomic-file.js';
import { openRoot, resolveForRead, resolveForWrite } from '../files/root.js';
import { decodeTftp, encodeError } from './codec.js';
import { NetasciiDecoder, netasciiEncodedLength } from './netascii.js';
import { createTransferRunner, defaultWorkerCount, type TransferRunner } from './pool/pool.js';
import type { ReadResult } from './pool/read-task.js';
import type { TransferResult } from './transfer.js';
import { negotiate } from './negotiate.js';
import { BLKSIZE_MAX, ErrorCode, Opcode, type RequestPacket } from './packet.js';
import { TftpReceiver } from './receiver.js';
import { addSendCounters, emptySendCounters, type SendCounters } from '../net/send-counters.js';
import { openTransport, type TransferTransport } from '../net/transport.js';
import { UdpTransfer, type Endpoint } from './udp-transfer.js';

export interface TftpServerOptions {
  root: string;
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
}

export interface TransferRecord {
  client: Endpoint;
  direction: 'read' | 'write';
  file: string;
  mode: string;
  blksize: number;
  windowsize: number;
  bytes: number;
  retransmits: number;
  ms: number;
  ok: boolean;
  error?: { code: number; message: string; by: 'peer' | 'local' };
}

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
  /** ERROR packets this server sent, by code. */
  errorsSent: Record<number, number>;
  /**
   * What the transfers' sockets did with their datagrams: sent, deferred for lack of room (the
   * socket's buffer or the interface's queue was full: back-pressure), superseded while waiting, lost
   * to a send error, and windows sent as one segmented write.
   */
  udp: SendCounters;
}

/** Boot storms bring hundreds of clients at once: dnsmasq's default of 50 leaves most of them hanging. */
export const DEFAULT_MAX_TRANSFERS = 2000;

/** A transfer that was accepted; wrapped so that awaiting its start does not await its end. */
interface Started {
  done: Promise<void>;
}

interface Active {
  transfer?: UdpTransfer;
  done?: Promise<unknown>;
}

export declare interface TftpServer {
  on(event: 'transfer', listener: (record: TransferRecord) => void): this;
  on(event: 'warning', listener: (message: string) => void): this;
}

export class TftpServer extends EventEmitter {
  private readonly active = new Map<string, Active>();
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
    errorsSent: {},
    udp: emptySendCounters(),
  };
  private closing = false;
  readonly cache: ImageCache;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly rootReal: string,
    private readonly opts: Required<Omit<TftpServerOptions, 'cache' | 'cacheBytes' | 'host' | 'port' | 'workers'>> & { host: string },
    cache: ImageCache,
    readonly runner: TransferRunner,
  ) {
    super();
    this.cache = cache;
    socket.on('message', (msg, rinfo) => {
      void this.onRequest(msg, { address: rinfo.address, port: rinfo.port }).catch((e: unknown) => {
        this.emit('warning', `request from ${rinfo.address}:${rinfo.port} failed: ${(e as Error).message}`);
      });
    });
    socket.on('error', (e) => this.emit('warning', `socket error: ${e.message}`));
  }

  static async start(options: TftpServerOptions): Promise<TftpServer> {
    const rootReal = await openRoot(options.root);
    const host = options.host ?? '0.0.0.0';
    const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.port ?? 69, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const opts = {
      root: options.root,
      host,
      maxTransfers: options.maxTransfers ?? DEFAULT_MAX_TRANSFERS,
      allowWrite: options.allowWrite ?? false,
      allowOverwrite: options.allowOverwrite ?? false,
      maxUploadBytes: options.maxUploadBytes ?? 64 * 1024 * 1024,
      timeoutMs: options.timeoutMs ?? 1000,
      maxRetries: options.maxRetries ?? 5,
      maxBlksize: Math.min(options.maxBlksize ?? BLKSIZE_MAX, BLKSIZE_MAX),
      maxWindowsize: options.maxWindowsize ?? 64,
    };
    let runner: TransferRunner;
    try {
      runner = createTransferRunner(options.workers ?? defaultWorkerCount());
    } catch (e) {
      socket.close();
      throw e;
    }
    return new TftpServer(socket, rootReal, opts, options.cache ?? new ImageCache(options.cacheBytes), runner);
  }

  address(): Endpoint {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  stats(): TftpServerStats {
    return { ...this.counters, activeTransfers: this.active.size, errorsSent: { ...this.counters.errorsSent }, udp: { ...this.counters.udp } };
  }

  private countError = (code: number): void => {
    this.counters.errorsSent[code] = (this.counters.errorsSent[code] ?? 0) + 1;
  };

  private replyError(to: Endpoint, code: number, message: string): void {
    this.countError(code);
    try {
      this.socket.send(encodeError(code, message), to.port, to.address);
    } catch {
      /* closing */
    }
  }

  private async onRequest(msg: Buffer, from: Endpoint): Promise<void> {
    if (this.closing) return;
    const decoded = decodeTftp(msg);
    if (!decoded.ok) {
      this.counters.malformedRequests++;
      const code = decoded.error.kind === 'bad-option-value' ? ErrorCode.OPTION_NEGOTIATION : ErrorCode.ILLEGAL_OPERATION;
      // An unknown opcode might be anything (even another protocol): answer only what looks like a request.
      if (decoded.error.kind !== 'unknown-opcode' && decoded.error.kind !== 'truncated') {
        this.replyError(from, code, `malformed request: ${decoded.error.message}`);
      }
      return;
    }
    const p = decoded.packet;
    if (p.opcode !== Opcode.RRQ && p.opcode !== Opcode.WRQ) return; // strays to the well-known port
    const key = `${from.address}:${from.port}`;
    if (this.active.has(key)) return; // a repeated request while its transfer runs
    if (this.active.size >= this.opts.maxTransfers) {
      this.counters.busyRejections++;
      this.replyError(from, ErrorCode.NOT_DEFINED, 'server busy');
      return;
    }
    const slot: Active = {};
    this.active.set(key, slot);
    let started: Started | undefined;
    try {
      started = p.opcode === Opcode.RRQ ? await this.startRead(p, from, slot) : await this.startWrite(p, from, slot);
    } finally {
      if (!started) this.active.delete(key);
    }
    if (!started) return;
    slot.done = started.done;
    await started.done;
    this.active.delete(key);
  }

  /** Checks a RRQ and starts its transfer; returns a promise of its end, or undefined if refused. */
  private async startRead(req: RequestPacket, from: Endpoint, slot: Active): Promise<Started | undefined> {
    if (req.mode === 'mail') return this.refuse(from, ErrorCode.ILLEGAL_OPERATION, 'mail mode is not supported');
    const resolved = await resolveForRead(this.rootReal, req.filename);
    if (!resolved.ok) {
      return this.refuse(from, resolved.reason === 'not-found' ? ErrorCode.FILE_NOT_FOUND : ErrorCode.ACCESS_VIOLATION, resolved.message);
    }
    let lease: FileLease;
    try {
      lease = await this.cache.acquire(resolved.path);
    } catch (e) {
      return this.refuse(from, ErrorCode.ACCESS_VIOLATION, `cannot read ${JSON.stringify(req.filename)}: ${(e as Error).message}`);
    }
    // tsize is what goes on the wire: the netascii form is longer than the file.
    const size = req.mode === 'netascii' ? netasciiEncodedLength(lease.file.bytes) : lease.file.size;
    const n = negotiate(req, this.opts, size);
    this.counters.transfersStarted++;
    const started = performance.now();
    const done = this.runner
      .run({
        peer: from,
        host: this.opts.host,
        bytes: lease.file.bytes.buffer as SharedArrayBuffer,
        size: lease.file.size,
        mode: req.mode === 'netascii' ? 'netascii' : 'octet',
        blksize: n.blksize,
        windowsize: n.windowsize,
        oack: n.oack,
        timeoutMs: n.timeoutMs ?? this.opts.timeoutMs,
        maxRetries: this.opts.maxRetries,
        portSlot: new Int32Array(new SharedArrayBuffer(4)),
      })
      .catch((e: unknown): ReadResult => {
        // runReadTask only throws when its socket cannot be opened.
        this.replyError(from, ErrorCode.NOT_DEFINED, `cannot start transfer: ${(e as Error).message}`);
        return { ok: false, error: { code: 0, message: (e as Error).message, by: 'local' }, bytes: 0, blocks: 0, retransmits: 0, errorsSent: {} };
      })
      .then((r) => {
        lease.release();
        for (const [code, count] of Object.entries(r.errorsSent)) this.counters.errorsSent[Number(code)] = (this.counters.errorsSent[Number(code)] ?? 0) + count;
        if (r.udp) addSendCounters(this.counters.udp, r.udp);
        this.record(from, 'read', req, { blksize: n.blksize, windowsize: n.windowsize, bytes: r.bytes, retransmits: r.retransmits }, r.ok ? { ok: true } : { ok: false, error: r.error! }, started);
      });
    return { done };
  }

  private async startWrite(req: RequestPacket, from: Endpoint, slot: Active): Promise<Started | undefined> {
    if (!this.opts.allowWrite) return this.refuse(from, ErrorCode.ACCESS_VIOLATION, 'uploads are disabled on this server');
    if (req.mode === 'mail') return this.refuse(from, ErrorCode.ILLEGAL_OPERATION, 'mail mode is not supported');
    const resolved = await resolveForWrite(this.rootReal, req.filename);
    if (!resolved.ok) return this.refuse(from, ErrorCode.ACCESS_VIOLATION, resolved.message);
    if (req.known.tsize !== undefined && req.known.tsize > this.opts.maxUploadBytes) {
      return this.refuse(from, ErrorCode.DISK_FULL, `upload of ${req.known.tsize} bytes exceeds the limit of ${this.opts.maxUploadBytes}`);
    }
    let file: AtomicFile;
    try {
      file = await AtomicFile.create(resolved.path, { overwrite: this.opts.allowOverwrite });
    } catch (e) {
      if (e instanceof FileExistsError) return this.refuse(from, ErrorCode.FILE_EXISTS, `${JSON.stringify(req.filename)} already exists`);
      return this.refuse(from, ErrorCode.ACCESS_VIOLATION, `cannot create ${JSON.stringify(req.filename)}: ${(e as Error).message}`);
    }
    const n = negotiate(req, this.opts);
    let transport: TransferTransport;
    try {
      transport = await openTransport({ local: this.opts.host, peer: from, peerPortKnown: true, slotBytes: 4 + n.blksize, burst: n.windowsize });
    } catch (e) {
      await file.abort();
      return this.refuse(from, ErrorCode.NOT_DEFINED, `no socket: ${(e as Error).message}`);
    }
    const decoder = req.mode === 'netascii' ? new NetasciiDecoder() : undefined;
    let committed: Promise<void> | undefined;
    const t = new UdpTransfer({
      transport,
      onErrorSent: this.countError,
      // Octet payloads are views of datagrams nobody else holds, so they can be queued as they are.
      deliver: decoder ? (b) => file.write(decoder.push(b)) : (b) => file.write(b),
      // The upload is complete at the final block, before the dally ends: put it in place then.
      onComplete: () => {
        if (decoder) file.write(decoder.end());
        committed = file.commit().catch((e: unknown) => {
          this.emit('warning', `upload ${req.filename} not stored: ${(e as Error).message}`);
        });
      },
    });
    const machine = new TftpReceiver(t, {
      role: 'server',
      blksize: n.blksize,
      windowsize: n.windowsize,
      oack: n.oack,
      timeoutMs: n.timeoutMs ?? this.opts.timeoutMs,
      maxRetries: this.opts.maxRetries,
      maxBytes: this.opts.maxUploadBytes,
    });
    slot.transfer = t;
    this.counters.transfersStarted++;
    const started = performance.now();
    const done = t.start(machine).then(async (outcome) => {
      await t.closeSocket();
      addSendCounters(this.counters.udp, transport.counters);
      if (committed) await committed;
      else await file.abort();
      const st = machine.stats;
      this.record(from, 'write', req, { blksize: machine.blksize, windowsize: machine.windowsize, bytes: st.bytes, retransmits: st.retransmits }, outcome.result, started);
    });
    return { done };
  }

  private refuse(to: Endpoint, code: number, message: string): undefined {
    this.replyError(to, code, message);
    return undefined;
  }

  private record(
    client: Endpoint,
    direction: 'read' | 'write',
    req: RequestPacket,
    m: { blksize: number; windowsize: number; bytes: number; retransmits: number },
    result: TransferResult,
    started: number,
  ): void {
    if (direction === 'read') this.counters.bytesSent += m.bytes;
    else this.counters.bytesReceived += m.bytes;
    this.counters.retransmits += m.retransmits;
    if (result.ok) this.counters.transfersCompleted++;
    else this.counters.transfersFailed++;
    const rec: TransferRecord = {
      client,
      direction,
      file: req.filename,
      mode: req.mode,
      blksize: m.blksize,
      windowsize: m.windowsize,
      bytes: m.bytes,
      retransmits: m.retransmits,
      ms: Math.round(performance.now() - started),
      ok: result.ok,
      ...(result.ok ? {} : { error: result.error }),
    };
    this.emit('transfer', rec);
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
    const all = () => Promise.allSettled([...this.active.values()].map((a) => a.done));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([all(), graceOver]);
    clearTimeout(timer);
    for (const a of this.active.values()) a.transfer?.abort(ErrorCode.NOT_DEFINED, 'server shutting down');
    this.runner.abortAll(ErrorCode.NOT_DEFINED, 'server shutting down');
    await all();
    await this.runner.close();
  }
}
