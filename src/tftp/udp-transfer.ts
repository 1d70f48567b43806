/**
 * The edge of one transfer: runs a pure sender or receiver machine on its own UDP socket (its TID),
 * with one lazily re-armed timer and the wall clock.
 *
 * - Packets from any address:port other than the peer's get ERROR 5 and do not touch the transfer.
 * - A client does not know the server's TID until the first answer: the first packet from the
 *   server's address (any port) fixes it.
 * - Malformed packets from the peer are counted and ignored, like stray ones.
 *
 * A server knows its peer from the start, so `openTransferSockets` gives it a socket connected to
 * the peer plus an unconnected one on the same port (both SO_REUSEADDR). Linux delivers the peer's
 * packets to the connected socket and everyone else's to the other, which answers ERROR 5. Sending on
 * a connected socket skips dgram's per-send address lookup (a tick and a closure per DATA block):
 * about 15% of the cost of a block on loopback.
 */
import dgram, { type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { BatchSocket, batchUdpFor, ipv4ToNumber, numberToIpv4 } from '../net/batch-udp.js';
import type { FaultInjector } from '../net/faults.js';
import { decodeTftp, encodeError } from './codec.js';
import { ErrorCode, Opcode } from './packet.js';
import type { TftpReceiver } from './receiver.js';
import type { TftpSender } from './sender.js';
import type { TransferEffects, TransferResult } from './transfer.js';

export interface Endpoint {
  address: string;
  port: number;
}

export type Machine = TftpSender | TftpReceiver;

/** A transfer's TID: `socket` talks to the peer; `strangers`, when set, takes the rest of the port's traffic. */
export interface TransferSockets {
  socket: Socket | BatchSocket;
  /** Set when `socket` is connected to the peer. */
  strangers?: Socket;
}

/** What a sending transfer usually gets from its client: ACKs and short ERRORs. */
export const SENDER_SLOT_BYTES = 512;

function bind(s: Socket, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, host, () => {
      s.off('error', reject);
      resolve();
    });
  });
}

/**
 * A new TID for a transfer with a known peer: a connected socket and a stranger socket on one port.
 * `slotBytes`: the longest datagram the peer usually sends (a receiving transfer: 4 + blksize);
 * `burst`: how many it sends at once (a receiving transfer: the window).
 */
export async function openTransferSockets(host: string, peer: Endpoint, slotBytes = SENDER_SLOT_BYTES, burst = 1): Promise<Required<TransferSockets>> {
  const type = isIPv6(host) ? 'udp6' : 'udp4';
  const strangers = dgram.createSocket({ type, reuseAddr: true });
  strangers.on('error', () => {});
  await bind(strangers, 0, host);
  if (batchUdpFor(host) && batchUdpFor(peer.address)) {
    try {
      const socket = new BatchSocket({ address: host, port: strangers.address().port, reuseAddr: true, slotBytes, burst });
      try {
        socket.connect(peer.address, peer.port);
      } catch (e) {
        socket.close();
        throw e;
      }
      return { socket, strangers };
    } catch (e) {
      strangers.close();
      throw e;
    }
  }
  const socket = dgram.createSocket({ type, reuseAddr: true });
  socket.on('error', () => {});
  try {
    await bind(socket, strangers.address().port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(peer.port, peer.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    strangers.close();
    try {
      socket.close();
    } catch {
      /* not bound */
    }
    throw e;
  }
  return { socket, strangers };
}

export interface UdpTransferOptions extends TransferSockets {
  /** The peer's TID when known (server side); for a client, where the request goes. */
  peer: Endpoint;
  /** Client: the peer's port is learned from its first answer. */
  learnPeerPort?: boolean;
  /** Receiver: where in-order payload goes (`final` on the last block). */
  deliver?: (payload: Buffer, final: boolean) => void;
  /** The peer moved the transfer forward (machine time), e.g. to tell idle transfers from live ones. */
  onProgress?: (now: number) => void;
  /** Called with each ERROR code this side sends (for counters). */
  onErrorSent?: (code: number) => void;
  /** Called once when the transfer succeeds (for a receiver: at the final block, before its dally). */
  onComplete?: () => void;
  now?: () => number;
  /** Loss, duplication and reordering applied to every packet sent and received (simulators). */
  faults?: FaultInjector;
}

export interface UdpTransferOutcome {
  result: TransferResult;
  /** Packets that were not valid TFTP, or came from another TID. */
  malformed: number;
  foreignTid: number;
}

export class UdpTransfer implements TransferEffects {
  machine!: Machine;
  private readonly socket: Socket | undefined;
  private readonly batch: BatchSocket | undefined;
  private readonly strangers: Socket | undefined;
  private readonly connected: boolean;
  private peer: Endpoint;
  /** The peer's address as a batch socket reports sources (IPv4, host order). */
  private readonly peerAddress32: number;
  private learnPort: boolean;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private malformed = 0;
  private foreignTid = 0;
  private completed = false;
  private lastError: Promise<void> | undefined;
  private settle!: (o: UdpTransferOutcome) => void;
  private settleSettled!: (o: UdpTransferOutcome) => void;
  /** Resolves when the transfer is over, dally included. */
  readonly done: Promise<UdpTransferOutcome>;
  /** Resolves as soon as the outcome is known: a receiver's success comes before its dally ends. */
  readonly settled: Promise<UdpTransferOutcome>;
  readonly deliver: ((payload: Buffer, final: boolean) => void) | undefined;

  constructor(private readonly opts: UdpTransferOptions) {
    if (opts.socket instanceof BatchSocket) this.batch = opts.socket;
    else this.socket = opts.socket;
    this.strangers = opts.strangers;
    this.connected = opts.strangers !== undefined;
    this.peer = { ...opts.peer };
    this.peerAddress32 = this.batch && !this.connected ? ipv4ToNumber(this.peer.address) : 0;
    this.learnPort = opts.learnPeerPort ?? false;
    this.now = opts.now ?? (() => performance.now());
    this.deliver = opts.deliver;
    this.done = new Promise((resolve) => (this.settle = resolve));
    this.settled = new Promise((resolve) => (this.settleSettled = resolve));
  }

  /** Binds the machine (constructed with this object as its effects) and starts it. */
  start(machine: Machine): Promise<UdpTransferOutcome> {
    this.machine = machine;
    if (this.batch) this.batch.onMessage = this.onBatchMessage;
    else {
      this.socket!.on('message', this.onMessage);
      this.socket!.on('error', this.onSocketError);
    }
    this.strangers?.on('message', this.onStranger);
    machine.start(this.now());
    this.afterEvent();
    return this.done;
  }

  /** Where packets go now: the peer's TID once known. */
  get remote(): Endpoint {
    return this.peer;
  }

  send(head: Buffer, body?: Buffer): void {
    const f = this.opts.faults;
    if (f) f.apply(() => this.sendNow(head, body));
    else this.sendNow(head, body);
  }

  private sendNow(head: Buffer, body?: Buffer): void {
    const b = this.batch;
    if (b) {
      // Synchronous: when send returns, the datagram has left (or was lost, which UDP allows).
      if (isError(head)) this.opts.onErrorSent?.(head.readUInt16BE(2));
      if (!this.connected) b.sendTo(this.peerAddress32, this.peer.port, head, body);
      // DATA waits for the end of this event (afterEvent), so a window leaves in one segmented send.
      // Not with injected faults: those delay single datagrams past the event.
      else if (body !== undefined && !this.opts.faults) b.queue(head, body);
      else {
        b.flush();
        b.send(head, body);
      }
      return;
    }
    const socket = this.socket!;
    try {
      if (this.connected) {
        if (body !== undefined) socket.send([head, body]);
        else if (isError(head)) this.lastError = this.sendError(head, (cb) => socket.send(head, cb));
        else socket.send(head);
      } else {
        const { port, address } = this.peer;
        if (body !== undefined) socket.send([head, body], port, address);
        else if (isError(head)) this.lastError = this.sendError(head, (cb) => socket.send(head, port, address, cb));
        else socket.send(head, port, address);
      }
    } catch {
      /* socket closed under us: the machine's timeout will end the transfer */
    }
  }

  /** An ERROR is usually the last packet: remember when it has left, so closing waits for it. */
  private sendError(head: Buffer, send: (cb: () => void) => void): Promise<void> {
    this.opts.onErrorSent?.(head.readUInt16BE(2));
    return new Promise((resolve) => send(() => resolve()));
  }

  /**
   * Closes the socket once what was sent has left it. dgram sends on a later tick, so closing at once
   * would drop a final ERROR or ACK.
   */
  async closeSocket(): Promise<void> {
    if (this.batch) this.batch.close();
    else await (this.lastError ?? new Promise((resolve) => setImmediate(resolve)));
    for (const s of [this.socket, this.strangers]) {
      try {
        s?.close();
      } catch {
        /* already closed */
      }
    }
  }

  abort(code: number, message: string): void {
    this.machine.abort(code, message);
    this.afterEvent();
  }

  /** The peer repeated its request (see TransferMachine.nudge). */
  nudge(): void {
    this.machine.nudge(this.now());
    this.afterEvent();
  }

  progress(now: number): void {
    this.opts.onProgress?.(now);
  }

  /** A receiver with awaitWrites: the oldest payload delivered and not yet confirmed is stored. */
  written(): void {
    if (this.machine.state === 'done') return;
    (this.machine as TftpReceiver).written(this.now());
    this.afterEvent();
  }

  /** A receiver with awaitWrites: storing failed; the transfer ends with this ERROR. */
  writeFailed(code: number, message: string): void {
    if (this.machine.state === 'done') return;
    (this.machine as TftpReceiver).writeFailed(code, message);
    this.afterEvent();
  }

  /** The socket's datagrams, whether the socket is a dgram or a batch one. */
  private readonly onMessage = (msg: Buffer, rinfo: { address: string; port: number }): void => {
    this.arrive(msg, this.connected || rinfo.address === this.peer.address, rinfo.port, rinfo.address);
  };

  private readonly onBatchMessage = (msg: Buffer | null, address: number, port: number): void => {
    this.arrive(msg, this.connected || address === this.peerAddress32, port, address);
  };

  private arrive(msg: Buffer | null, fromPeerAddress: boolean, port: number, address: string | number): void {
    const f = this.opts.faults;
    if (f) f.apply(() => this.machine.state !== 'done' && this.receive(msg, fromPeerAddress, port, address));
    else this.receive(msg, fromPeerAddress, port, address);
  }

  private receive(msg: Buffer | null, fromPeerAddress: boolean, port: number, address: string | number): void {
    if (!this.connected && (!fromPeerAddress || (port !== this.peer.port && !this.learnPort))) {
      this.strangerSent(msg, typeof address === 'number' ? numberToIpv4(address) : address, port);
      return;
    }
    if (this.learnPort) {
      this.learnPort = false;
      this.peer.port = port;
    }
    if (msg === null) {
      this.malformed++;
      return;
    }
    const decoded = decodeTftp(msg);
    if (!decoded.ok) {
      this.malformed++;
      return;
    }
    this.machine.receive(decoded.packet, this.now());
    this.afterEvent();
  }

  private readonly onStranger = (msg: Buffer, rinfo: { address: string; port: number }): void => this.strangerSent(msg, rinfo.address, rinfo.port);

  /** A packet for this TID from someone else: ERROR 5 to them, the transfer goes on. */
  private strangerSent(msg: Buffer | null, address: string, port: number): void {
    this.foreignTid++;
    if (msg !== null && isError(msg)) return; // never answer an ERROR with an ERROR (two confused peers could loop)
    const error = encodeError(ErrorCode.UNKNOWN_TID, 'unknown transfer ID');
    const out = this.strangers ?? this.socket;
    try {
      if (out) out.send(error, port, address);
      else this.batch!.sendTo(ipv4ToNumber(address), port, error);
    } catch {
      /* closed */
    }
    this.opts.onErrorSent?.(ErrorCode.UNKNOWN_TID);
  }

  private readonly onSocketError = (): void => {
    // ICMP port unreachable and the like surface here; the retry timer decides when to give up.
  };

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.machine.tick(this.now());
    this.afterEvent();
  };

  private afterEvent(): void {
    this.batch?.flush();
    const m = this.machine;
    if (!this.completed && m.result?.ok) {
      this.completed = true;
      this.opts.onComplete?.();
      this.settleSettled(this.outcome());
    }
    if (m.state === 'done') {
      this.finish();
      return;
    }
    // Re-arm only when the deadline moved earlier than the pending timer; a later deadline is picked
    // up when the timer fires (tick is a no-op before the deadline). This keeps timer churn off the
    // per-packet path.
    if (m.deadline < this.timerAt) {
      if (this.timer) clearTimeout(this.timer);
      this.timerAt = m.deadline;
      this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(m.deadline - this.now())));
      // A dally must not keep a finished client's process alive.
      if (m.state === 'dallying') this.timer.unref();
    } else if (!this.timer && m.deadline !== Infinity) {
      this.timerAt = m.deadline;
      this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(m.deadline - this.now())));
    }
  }

  private finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.batch) this.batch.onMessage = ignoreBatch;
    else this.socket!.off('message', this.onMessage);
    this.strangers?.off('message', this.onStranger);
    const o = this.outcome();
    this.settleSettled(o);
    this.settle(o);
  }

  private outcome(): UdpTransferOutcome {
    const result = this.machine.result ?? { ok: false, error: { code: 0, message: 'ended', by: 'local' } };
    return { result, malformed: this.malformed, foreignTid: this.foreignTid };
  }
}

const ignoreBatch = (): void => {};

function isError(packet: Buffer): boolean {
  return packet.length >= 4 && packet[0] === 0 && packet[1] === Opcode.ERROR;
}
