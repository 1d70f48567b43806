/**
 * Serving one RRQ, as a self-contained task: everything in it survives structured cloning to a worker
 * thread, and the file's bytes travel as the SharedArrayBuffer of the cache's copy (shared, not copied)
 * with the offset and length of the view to send.
 * The same function runs it on the main thread (`--workers 0`) and in the pool's workers.
 */
import { NetasciiSource, OctetSource } from '../block-source.js';
import type { OptionPair } from '../codec.js';
import { TftpSender } from '../sender.js';
import type { TransferError } from '../transfer.js';
import type { SendCounters } from '../net/send-counters.js';
import { openTransport } from '../net/transport.js';
import { type Endpoint, UdpTransfer } from '../udp-transfer.js';
import { TransferStatus } from './status.js';

export interface ReadTask {
  /** Names the transfer for `abortTransfer` (unique per server). */
  id: number;
  /** The client's TID. */
  peer: Endpoint;
  /** Address the transfer's socket binds to (the server's listen address). */
  host: string;
  /**
   * The content: `size` bytes from `offset` of this buffer (the view a resolver returned, exactly).
   * A SharedArrayBuffer travels to a worker shared, not copied; any other buffer runs on the main thread.
   */
  bytes: SharedArrayBuffer | ArrayBuffer;
  offset: number;
  size: number;
  mode: 'octet' | 'netascii';
  /** Bytes on the wire: `size`, or the netascii length (computed once per file version by the server). */
  wireSize: number;
  blksize: number;
  windowsize: number;
  oack: OptionPair[];
  timeoutMs: number;
  maxRetries: number;
  retriesBeforeAnswer?: number;
  maxLifeMs?: number;
  maxUnackedBytes?: number;
  /** A TransferStatus's buffer, shared with the server (port, cancel flag, last progress). */
  status: SharedArrayBuffer;
}

/** What a served RRQ did, whatever its outcome. */
export interface ReadCounts {
  bytes: number;
  blocks: number;
  retransmits: number;
  /** ERROR packets sent, by code (ERROR 5 to strangers included). */
  errorsSent: Record<number, number>;
  /** What the transfer's socket did with its datagrams (back-pressure, losses at the sender). */
  udp?: SendCounters;
}

/** A served RRQ: done, or ended by `error`; its counts either way. Plain data: it crosses threads cloned. */
export type ReadResult = ({ ok: true } | { ok: false; error: TransferError }) & ReadCounts;

/** Transfers running in this thread, by task id, so a shutdown or a reclaim can end them. */
export const activeTransfers = new Map<number, UdpTransfer>();

export async function runReadTask(task: ReadTask): Promise<ReadResult> {
  const errorsSent: Record<number, number> = {};
  const countError = (code: number) => (errorsSent[code] = (errorsSent[code] ?? 0) + 1);
  const file = Buffer.from(task.bytes, task.offset, task.size);
  const source = task.mode === 'netascii' ? new NetasciiSource(file, task.wireSize) : new OctetSource(file);
  const status = new TransferStatus(task.status);
  const transport = await openTransport({ local: task.host, peer: task.peer, peerPortKnown: true });
  // Idleness counts from here: the transfer may have waited for its worker to start.
  status.progress(performance.now());
  status.port = transport.port;
  const t = new UdpTransfer({ transport, onErrorSent: countError, onProgress: (now) => status.progress(now) });
  const machine = new TftpSender(t, {
    role: 'server',
    source,
    blksize: task.blksize,
    windowsize: task.windowsize,
    oack: task.oack,
    timeoutMs: task.timeoutMs,
    maxRetries: task.maxRetries,
    ...(task.retriesBeforeAnswer !== undefined ? { retriesBeforeAnswer: task.retriesBeforeAnswer } : {}),
    ...(task.maxLifeMs !== undefined ? { maxLifeMs: task.maxLifeMs } : {}),
    ...(task.maxUnackedBytes !== undefined ? { maxUnackedBytes: task.maxUnackedBytes } : {}),
  });
  activeTransfers.set(task.id, t);
  let result;
  try {
    const done = t.start(machine);
    // Reclaimed while it was starting: the abort message found nothing to end.
    if (status.cancelled) t.abort(0, 'server busy');
    result = (await done).result;
  } finally {
    activeTransfers.delete(task.id);
    await t.closeSocket();
  }
  const s = machine.stats;
  const counts: ReadCounts = {
    bytes: s.bytes,
    blocks: s.blocks,
    retransmits: s.retransmits,
    errorsSent,
    udp: { ...transport.counters },
  };
  return result.ok ? { ok: true, ...counts } : { ok: false, error: result.error, ...counts };
}

/** Ends every transfer running in this thread with an ERROR (server shutdown). */
export function abortAll(code: number, message: string): void {
  for (const t of activeTransfers.values()) t.abort(code, message);
}

/** Its client repeated the request: the transfer's first packet goes again if unanswered. */
export function nudgeTransfer(id: number): void {
  activeTransfers.get(id)?.nudge();
}

/** Ends one transfer running in this thread, if it is here. */
export function abortTransfer(id: number, code: number, message: string): void {
  activeTransfers.get(id)?.abort(code, message);
}
