/**
 * The TFTP client: fetches (RRQ) and uploads (WRQ) with the same pure machines the server uses.
 */
import { lookup } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import { AtomicFile } from '@bootwire/core';
import type { FaultInjector } from '@bootwire/core';
import { openTransport, type TransferTransport } from './net/transport.js';
import { OctetSource, NetasciiSource } from './block-source.js';
import { encodeRequest, type OptionPair } from './codec.js';
import { NetasciiDecoder } from './netascii.js';
import { DEFAULT_BLKSIZE, type KnownOptions, Opcode } from './packet.js';
import { TftpReceiver } from './receiver.js';
import { TftpSender } from './sender.js';
import type { TransferError, TransferStats } from './transfer.js';
import { UdpTransfer } from './udp-transfer.js';

export interface TftpClientOptions {
  host: string;
  /** Default 69. */
  port?: number;
  filename: string;
  mode?: 'octet' | 'netascii';
  /** Options to request; each is sent only when set. */
  blksize?: number;
  windowsize?: number;
  /** The RFC 2349 timeout option, in seconds; also this client's retransmission timeout. */
  timeout?: number;
  /** Ask for (RRQ) or announce (WRQ) the transfer size. */
  tsize?: boolean;
  /** Retransmission timeout when no timeout option is sent. Default 1000 ms. */
  timeoutMs?: number;
  maxRetries?: number;
  /** Refuse downloads larger than this. */
  maxBytes?: number;
  /** Time to stay after the final ACK, to answer a resent final block. Default: the timeout. */
  dallyMs?: number;
  /** Packet faults injected at this client's socket (the storm's lossy network). */
  faults?: FaultInjector;
  /** The address this client sends from (a simulated phone's own); default: any. */
  localAddress?: string;
}

export class TftpError extends Error {
  constructor(
    readonly code: number,
    readonly tftpMessage: string,
    readonly by: 'peer' | 'local',
  ) {
    super(by === 'peer' ? `server error ${code}: ${tftpMessage}` : `transfer failed (error ${code}): ${tftpMessage}`);
    this.name = 'TftpError';
  }
  /** What the transfer did before it failed (retransmissions, bytes), when it got that far. */
  stats?: TransferStats;
  static from(e: TransferError, stats?: TransferStats): TftpError {
    const err = new TftpError(e.code, e.message, e.by);
    if (stats) err.stats = { ...stats };
    return err;
  }
}

export interface TftpTransferInfo {
  bytes: number;
  /** tsize the server announced, when it did. */
  tsize?: number;
  blksize: number;
  windowsize: number;
  stats: TransferStats;
}

function requestOptions(o: TftpClientOptions, tsize: number | undefined): { pairs: OptionPair[]; known: KnownOptions } {
  const pairs: OptionPair[] = [];
  const known: KnownOptions = {};
  if (o.blksize !== undefined) {
    pairs.push({ name: 'blksize', value: String(o.blksize) });
    known.blksize = o.blksize;
  }
  if (o.windowsize !== undefined) {
    pairs.push({ name: 'windowsize', value: String(o.windowsize) });
    known.windowsize = o.windowsize;
  }
  if (o.timeout !== undefined) {
    pairs.push({ name: 'timeout', value: String(o.timeout) });
    known.timeout = o.timeout;
  }
  if (tsize !== undefined) {
    pairs.push({ name: 'tsize', value: String(tsize) });
    known.tsize = tsize;
  }
  return { pairs, known };
}

/** The server's address as an IP literal, which is what replies are matched against. */
async function resolveHost(host: string): Promise<string> {
  return isIP(host) ? host : (await lookup(host)).address;
}

/**
 * The client's TID, on `localAddress` (default: any). `slotBytes` is the longest datagram the server
 * usually sends it (DATA of the blksize asked for), `burst` how many come at once (the window asked for).
 */
function openSocket(o: TftpClientOptions, host: string, slotBytes: number, burst = 1): Promise<TransferTransport> {
  const local = o.localAddress ?? (isIPv6(host) ? '::' : '0.0.0.0');
  return openTransport({ local, peer: { address: host, port: o.port ?? 69 }, peerPortKnown: false, slotBytes, burst });
}

function timing(o: TftpClientOptions) {
  const timeoutMs = o.timeout !== undefined ? o.timeout * 1000 : (o.timeoutMs ?? 1000);
  return { timeoutMs, maxRetries: o.maxRetries ?? 5 };
}

/**
 * Downloads a file, handing each in-order chunk to `onData` (a view: copy it to keep it past the call).
 * If `onData` throws, the transfer is cancelled (ERROR 0 to the server) and the call rejects with
 * what it threw: a phone that sees a wrong image header stops there.
 */
export async function tftpGet(o: TftpClientOptions, onData: (chunk: Buffer) => void): Promise<TftpTransferInfo> {
  const { pairs, known } = requestOptions(o, o.tsize ? 0 : undefined);
  const request = encodeRequest(Opcode.RRQ, o.filename, o.mode ?? 'octet', pairs);
  const host = await resolveHost(o.host);
  const transport = await openSocket(o, host, 4 + (o.blksize ?? DEFAULT_BLKSIZE), o.windowsize ?? 1);
  const decoder = o.mode === 'netascii' ? new NetasciiDecoder() : undefined;
  let closeLater = false;
  let refused: Error | undefined;
  const deliver = (b: Buffer) => {
    if (refused) return;
    try {
      onData(decoder ? decoder.push(b) : b);
    } catch (e) {
      refused = e instanceof Error ? e : new Error(String(e));
      // Not from inside the machine's own receive: abort on the next microtask.
      queueMicrotask(() => t.abort(0, 'download cancelled'));
    }
  };
  const t = new UdpTransfer({
    transport,
    deliver,
    ...(o.faults ? { faults: o.faults } : {}),
  });
  try {
    const m = new TftpReceiver(t, {
      role: 'client',
      request,
      requested: known,
      ...timing(o),
      ...(o.dallyMs !== undefined ? { dallyMs: o.dallyMs } : {}),
      ...(o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {}),
    });
    void t.start(m); // its outcome (never a rejection) is read from t.settled below
    // Return at the final block; the socket stays open (not keeping the process alive) while the
    // receiver dallies to answer a resent final DATA.
    const { result } = await t.settled;
    if (refused) throw refused;
    if (!result.ok) throw TftpError.from(result.error, m.stats);
    closeLater = true;
    transport.unref();
    void t.done.then(() => t.closeSocket());
    if (decoder) {
      const tail = decoder.end();
      if (tail.length) onData(tail);
    }
    return {
      bytes: m.stats.bytes,
      ...(m.peerTsize !== undefined ? { tsize: m.peerTsize } : {}),
      blksize: m.blksize,
      windowsize: m.windowsize,
      stats: m.stats,
    };
  } finally {
    if (!closeLater) await t.closeSocket();
  }
}

/** Downloads into memory. */
export async function tftpGetBuffer(o: TftpClientOptions): Promise<{ data: Buffer; info: TftpTransferInfo }> {
  const chunks: Buffer[] = [];
  // Payloads are views of datagrams this client owns and drops: keeping them needs no copy.
  const info = await tftpGet(o, (c) => chunks.push(c));
  return { data: Buffer.concat(chunks), info };
}

/** Downloads to a file, which appears only when complete (never a partial file). */
export async function tftpGetFile(o: TftpClientOptions, outPath: string, overwrite = true): Promise<TftpTransferInfo> {
  const file = await AtomicFile.create(outPath, { overwrite });
  try {
    // A failed write is kept by the file (its promise is marked handled) and rejects commit() below.
    const info = await tftpGet(o, (c) => void file.write(c));
    await file.commit();
    return info;
  } catch (e) {
    await file.abort();
    throw e;
  }
}

/** Uploads `data` (a WRQ). */
export async function tftpPut(o: TftpClientOptions, data: Buffer): Promise<TftpTransferInfo> {
  const source = o.mode === 'netascii' ? new NetasciiSource(data) : new OctetSource(data);
  const { pairs, known } = requestOptions(o, o.tsize ? source.size : undefined);
  const request = encodeRequest(Opcode.WRQ, o.filename, o.mode ?? 'octet', pairs);
  const host = await resolveHost(o.host);
  const transport = await openSocket(o, host, 512);
  const t = new UdpTransfer({ transport, ...(o.faults ? { faults: o.faults } : {}) });
  try {
    const m = new TftpSender(t, {
      role: 'client',
      source,
      request,
      requested: known,
      ...timing(o),
    });
    const { result } = await t.start(m);
    if (!result.ok) throw TftpError.from(result.error, m.stats);
    return { bytes: m.stats.bytes, blksize: m.blksize, windowsize: m.windowsize, stats: m.stats };
  } finally {
    await t.closeSocket();
  }
}
