/**
 * Serving one RRQ, as a self-contained task: everything in it survives structured cloning to a worker
 * thread, and the file's bytes travel as the SharedArrayBuffer of the cache's copy (shared, not copied).
 * The same function runs it on the main thread (`--workers 0`) and in the pool's workers.
 */
import { NetasciiSource, OctetSource } from '../block-source.js';
import type { OptionPair } from '../codec.js';
import { TftpSender } from '../sender.js';
import type { TransferError } from '../transfer.js';
import type { SendCounters } from '../../net/send-counters.js';
import { openTransport } from '../../net/transport.js';
import { type Endpoint, UdpTransfer } from '../udp-transfer.js';

export interface ReadTask {
  /** The client's TID. */
  peer: Endpoint;
  /** Address the transfer's socket binds to (the server's listen address). */
  host: string;
  /** The shared copy of the file and how many of its bytes are the file. */
  bytes: SharedArrayBuffer;
  size: number;
  mode: 'octet' | 'netascii';
  blksize: number;
  windowsize: number;
  oack: OptionPair[];
  timeoutMs: number;
  maxRetries: number;
  /** Slot 0 receives the transfer's port once bound, so the server can still reach the client if a worker dies. */
  portSlot: Int32Array;
}

export interface ReadResult {
  ok: boolean;
  error?: TransferError;
  bytes: number;
  blocks: number;
  retransmits: number;
  /** ERROR packets sent, by code (ERROR 5 to strangers included). */
  errorsSent: Record<number, number>;
  /** What the transfer's socket did with its datagrams (back-pressure, losses at the sender). */
  udp?: SendCounters;
}

/** Transfers running in this thread, so a shutdown can end them all. */
export const activeTransfers = new Set<UdpTransfer>();

export async function runReadTask(task: ReadTask): Promise<ReadResult> {
  const errorsSent: Record<number, number> = {};
  const countError = (code: number) => (errorsSent[code] = (errorsSent[code] ?? 0) + 1);
  const file = Buffer.from(task.bytes, 0, task.size);
  const source = task.mode === 'netascii' ? new NetasciiSource(file) : new OctetSource(file);
  const transport = await openTransport({ local: task.host, peer: task.peer, peerPortKnown: true });
  Atomics.store(task.portSlot, 0, transport.port);
  const t = new UdpTransfer({ transport, onErrorSent: countError });
  const machine = new TftpSender(t, {
    role: 'server',
    source,
    blksize: task.blksize,
    windowsize: task.windowsize,
    oack: task.oack,
    timeoutMs: task.timeoutMs,
    maxRetries: task.maxRetries,
  });
  activeTransfers.add(t);
  let result;
  try {
    result = (await t.start(machine)).result;
  } finally {
    activeTransfers.delete(t);
    await t.closeSocket();
  }
  const s = machine.stats;
  const udp = { ...transport.counters };
  return { ok: result.ok, ...(result.ok ? {} : { error: result.error }), bytes: s.bytes, blocks: s.blocks, retransmits: s.retransmits, errorsSent, udp };
}

/** Ends every transfer running in this thread with an ERROR (server shutdown). */
export function abortAll(code: number, message: string): void {
  for (const t of activeTransfers) t.abort(code, message);
}
