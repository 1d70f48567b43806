/**
 * A simulated network for the pure transfer machines: a fake clock, an event queue, and impairments
 * (drop, duplicate, delay/reorder) chosen per packet by a test-supplied policy. No sockets, no timers.
 *
 * Two topologies, as in real TFTP:
 * - download: a client TftpReceiver sends a RRQ; the "server" decodes the first RRQ, negotiates and
 *   starts a TftpSender (repeated RRQs are ignored, as the real server does);
 * - upload: a client TftpSender sends a WRQ; the server starts a TftpReceiver.
 */
import { createHash } from 'node:crypto';
import { decodeTftp, encodeRequest, type OptionPair } from '../../packages/tftp/src/codec.js';
import { NetasciiSource, OctetSource } from '../../packages/tftp/src/block-source.js';
import { NetasciiDecoder } from '../../packages/tftp/src/netascii.js';
import { negotiate } from '../../packages/tftp/src/negotiate.js';
import {
  type KnownOptions,
  Opcode,
  OPCODE_NAMES,
  type RequestPacket,
  type TftpPacket,
} from '../../packages/tftp/src/packet.js';
import { TftpReceiver } from '../../packages/tftp/src/receiver.js';
import { TftpSender } from '../../packages/tftp/src/sender.js';
import type { TransferEffects } from '../../packages/tftp/src/transfer.js';
import { mulberry32 } from '../helpers/lossy-relay.js';

export type Side = 'client' | 'server';

/** One packet on the simulated wire, as the policy sees it. */
export interface WirePacket {
  from: Side;
  bytes: Buffer;
  packet: TftpPacket;
  /** Opcode name, with DATA/ACK split into ordinary and final (the last block and its ACK). */
  kind: string;
  /** How many packets of this kind and direction were sent before this one. */
  nth: number;
  time: number;
}

export type Fate = { drop?: boolean; copies?: number; delay?: number };
export type Policy = (p: WirePacket) => Fate | undefined;

export interface SimOptions {
  direction: 'download' | 'upload';
  data: Buffer;
  mode?: 'octet' | 'netascii';
  /** What the client requests. */
  request?: { blksize?: number; windowsize?: number; timeout?: number; tsize?: boolean };
  /** Server policy. */
  maxBlksize?: number;
  maxWindowsize?: number;
  timeoutMs?: number;
  maxRetries?: number;
  latency?: number;
  policy?: Policy;
  /** Stop after this much simulated time. */
  limitMs?: number;
  /** Replace the server's answer to the request (for misbehaving-server tests). */
  serverOverride?: (req: RequestPacket, send: (b: Buffer) => void) => boolean;
  /**
   * Upload: the server's receiver waits for its writes (awaitWrites); each payload takes this long to
   * write, one after another, as on a disk (the final one includes the commit).
   */
  writeMs?: number | ((block: number) => number);
  /** Extra server machine settings (limits). */
  serverLimits?: { maxUnackedBytes?: number; retriesBeforeAnswer?: number; maxLifeMs?: number };
}

export interface SimResult {
  client: TftpSender | TftpReceiver;
  server: TftpSender | TftpReceiver | undefined;
  delivered: Buffer;
  log: WirePacket[];
  time: number;
  /** Count of packets sent by kind, e.g. sent['server DATA']. */
  sent: Record<string, number>;
  /** With writeMs: when each block's write completed (index = block - 1). */
  writtenAt: number[];
  /** With writeMs: the most payloads waiting for the disk at once. */
  maxQueuedWrites: number;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface EdgeEvent {
  at: number;
  seq: number;
  fn: () => void;
}

interface QueuedPacket {
  at: number;
  seq: number;
  to: Side;
  bytes: Buffer;
}

export function simulate(o: SimOptions): SimResult {
  const latency = o.latency ?? 1;
  const timeoutMs = o.timeoutMs ?? 100;
  const maxRetries = o.maxRetries ?? 6;
  const limit = o.limitMs ?? 10 * 60_000;
  let now = 0;
  let seq = 0;
  const queue: QueuedPacket[] = [];
  const log: WirePacket[] = [];
  const counts: Record<string, number> = {};
  const chunks: Buffer[] = [];
  let server: TftpSender | TftpReceiver | undefined;

  const kindOf = (p: TftpPacket, from: Side): string => {
    const name = OPCODE_NAMES[p.opcode]!;
    const dataSide = o.direction === 'download' ? 'server' : 'client';
    if (p.opcode === Opcode.DATA && from === dataSide) {
      const m = from === 'server' ? server : client;
      const bs = m?.blksize ?? 512;
      return p.payload.length < bs ? 'final DATA' : 'DATA';
    }
    return name;
  };

  const emit = (from: Side) => (head: Buffer, body?: Buffer) => {
    const bytes = body ? Buffer.concat([head, body]) : Buffer.from(head);
    const d = decodeTftp(bytes);
    if (!d.ok) throw new Error(`machine sent an undecodable packet: ${d.error.message}`);
    const kind = kindOf(d.packet, from);
    const key = `${from} ${kind}`;
    const nth = counts[key] ?? 0;
    counts[key] = nth + 1;
    const wp: WirePacket = { from, bytes, packet: d.packet, kind, nth, time: now };
    log.push(wp);
    const fate = o.policy?.(wp) ?? {};
    if (fate.drop) return;
    for (let c = 0; c < (fate.copies ?? 1); c++) {
      queue.push({
        at: now + latency + (fate.delay ?? 0) + c * 0.1,
        seq: seq++,
        to: from === 'client' ? 'server' : 'client',
        bytes,
      });
    }
  };

  const decoder = o.mode === 'netascii' ? new NetasciiDecoder() : undefined;
  const clientFx: TransferEffects = {
    send: emit('client'),
    deliver: (b) => chunks.push(Buffer.from(decoder ? decoder.push(b) : b)),
  };
  // A disk that writes one payload after another, each taking writeMs; the machine hears `written`.
  const edge: EdgeEvent[] = [];
  const writtenAt: number[] = [];
  let diskFreeAt = 0;
  let queuedWrites = 0;
  let maxQueuedWrites = 0;
  let deliveredBlocks = 0;
  const serverDeliver =
    o.writeMs === undefined
      ? (b: Buffer) => chunks.push(Buffer.from(decoder ? decoder.push(b) : b))
      : (b: Buffer) => {
          const block = ++deliveredBlocks;
          const copy = Buffer.from(decoder ? decoder.push(b) : b);
          const ms = typeof o.writeMs === 'function' ? o.writeMs(block) : o.writeMs!;
          diskFreeAt = Math.max(diskFreeAt, now) + ms;
          maxQueuedWrites = Math.max(maxQueuedWrites, ++queuedWrites);
          edge.push({
            at: diskFreeAt,
            seq: seq++,
            fn: () => {
              queuedWrites--;
              chunks.push(copy);
              writtenAt[block - 1] = now;
              (server as TftpReceiver).written(now);
            },
          });
        };
  const serverFx: TransferEffects = { send: emit('server'), deliver: serverDeliver };
  const makeSource = () => (o.mode === 'netascii' ? new NetasciiSource(o.data) : new OctetSource(o.data));

  // The client's request.
  const pairs: OptionPair[] = [];
  const requested: KnownOptions = {};
  const r = o.request ?? {};
  if (r.blksize !== undefined) {
    pairs.push({ name: 'blksize', value: String(r.blksize) });
    requested.blksize = r.blksize;
  }
  if (r.windowsize !== undefined) {
    pairs.push({ name: 'windowsize', value: String(r.windowsize) });
    requested.windowsize = r.windowsize;
  }
  if (r.timeout !== undefined) {
    pairs.push({ name: 'timeout', value: String(r.timeout) });
    requested.timeout = r.timeout;
  }
  const uploadSource = o.direction === 'upload' ? makeSource() : undefined;
  if (r.tsize) {
    const t = o.direction === 'download' ? 0 : uploadSource!.size;
    pairs.push({ name: 'tsize', value: String(t) });
    requested.tsize = t;
  }
  const mode = o.mode ?? 'octet';
  const client =
    o.direction === 'download'
      ? new TftpReceiver(clientFx, {
          role: 'client',
          request: encodeRequest(Opcode.RRQ, 'f', mode, pairs),
          requested,
          timeoutMs,
          maxRetries,
          dallyMs: timeoutMs * 3,
        })
      : new TftpSender(clientFx, {
          role: 'client',
          request: encodeRequest(Opcode.WRQ, 'f', mode, pairs),
          requested,
          source: uploadSource!,
          timeoutMs,
          maxRetries,
        });

  const policy = { maxBlksize: o.maxBlksize ?? 65464, maxWindowsize: o.maxWindowsize ?? 64 };
  const serverReceive = (bytes: Buffer) => {
    const d = decodeTftp(bytes);
    if (!d.ok) return;
    const p = d.packet;
    if (p.opcode === Opcode.RRQ || p.opcode === Opcode.WRQ) {
      if (server) return; // a repeated request while the transfer runs
      if (o.serverOverride?.(p, emit('server'))) return;
      if (p.opcode === Opcode.RRQ) {
        const source = makeSource();
        const n = negotiate(p, policy, source.size);
        server = new TftpSender(serverFx, {
          role: 'server',
          source,
          blksize: n.blksize,
          windowsize: n.windowsize,
          oack: n.oack,
          timeoutMs: n.timeoutMs ?? timeoutMs,
          maxRetries,
          ...o.serverLimits,
        });
      } else {
        const n = negotiate(p, policy);
        server = new TftpReceiver(serverFx, {
          role: 'server',
          blksize: n.blksize,
          windowsize: n.windowsize,
          oack: n.oack,
          timeoutMs: n.timeoutMs ?? timeoutMs,
          maxRetries,
          dallyMs: timeoutMs * 3,
          awaitWrites: o.writeMs !== undefined,
          ...o.serverLimits,
        });
      }
      server.start(now);
      return;
    }
    server?.receive(p, now);
  };

  client.start(now);
  const machines = () => [client, server].filter((m): m is TftpSender | TftpReceiver => m !== undefined);
  while (now <= limit) {
    if (client.state === 'done' && (!server || server.state === 'done') && queue.length === 0) break;
    // Next event: earliest packet, write completion or deadline.
    queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
    edge.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const nextPacket = queue[0]?.at ?? Infinity;
    const nextEdge = edge[0]?.at ?? Infinity;
    const nextDeadline = Math.min(...machines().map((m) => m.deadline));
    const next = Math.min(nextPacket, nextDeadline, nextEdge);
    if (next === Infinity) break;
    now = next;
    if (nextEdge <= nextPacket && nextEdge <= nextDeadline) {
      edge.shift()!.fn();
    } else if (nextPacket <= nextDeadline) {
      const q = queue.shift()!;
      if (q.to === 'server') serverReceive(q.bytes);
      else {
        const d = decodeTftp(q.bytes);
        if (d.ok) client.receive(d.packet, now);
      }
    } else {
      for (const m of machines()) if (m.deadline <= now) m.tick(now);
    }
  }
  if (decoder) chunks.push(decoder.end());
  return { client, server, delivered: Buffer.concat(chunks), log, time: now, sent: counts, writtenAt, maxQueuedWrites };
}

/** Deterministic PRNG: the lossy relay's. */
export const rng = mulberry32;

export function bytes(n: number, seed = 1): Buffer {
  const r = rng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}
