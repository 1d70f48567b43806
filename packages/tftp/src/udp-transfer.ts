/**
 * The edge of one transfer: runs a pure sender or receiver machine on its transport (its own socket,
 * its TID; see src/net/transport.ts), with one lazily re-armed timer and the wall clock.
 *
 * - Packets from any address:port other than the peer's get ERROR 5 and do not touch the transfer.
 * - Malformed packets from the peer are counted and ignored, like stray ones.
 * - What the machine sends during one event leaves together when the event ends (a window of DATA in
 *   one go), through the transport's back-pressure.
 */
import { performance } from 'node:perf_hooks';
import type { FaultInjector } from '@bootwire/core';
import type { Endpoint, TransferTransport } from './net/transport.js';
import { decodeTftp, encodeError } from './codec.js';
import { ErrorCode, Opcode } from './packet.js';
import type { TftpReceiver } from './receiver.js';
import type { TftpSender } from './sender.js';
import type { TransferEffects, TransferResult } from './transfer.js';

export type { Endpoint } from './net/transport.js';

export type Machine = TftpSender | TftpReceiver;

export interface UdpTransferOptions {
  transport: TransferTransport;
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
  /** Packets from the peer that were not valid TFTP. */
  malformed: number;
  /** Packets from another address:port than the peer's (answered with ERROR 5, unless ERRORs themselves). */
  foreignTid: number;
}

export class UdpTransfer implements TransferEffects {
  machine!: Machine;
  readonly transport: TransferTransport;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private malformed = 0;
  private foreignTid = 0;
  private completed = false;
  private settle!: (o: UdpTransferOutcome) => void;
  private settleSettled!: (o: UdpTransferOutcome) => void;
  /** Resolves when the transfer is over, dally included. */
  readonly done: Promise<UdpTransferOutcome>;
  /** Resolves as soon as the outcome is known: a receiver's success comes before its dally ends. */
  readonly settled: Promise<UdpTransferOutcome>;
  readonly deliver: ((payload: Buffer, final: boolean) => void) | undefined;

  constructor(private readonly opts: UdpTransferOptions) {
    this.transport = opts.transport;
    this.now = opts.now ?? (() => performance.now());
    this.deliver = opts.deliver;
    this.done = new Promise((resolve) => (this.settle = resolve));
    this.settled = new Promise((resolve) => (this.settleSettled = resolve));
  }

  /** Binds the machine (constructed with this object as its effects) and starts it. */
  start(machine: Machine): Promise<UdpTransferOutcome> {
    this.machine = machine;
    this.transport.onPeer = this.fromPeer;
    this.transport.onStranger = this.fromStranger;
    machine.start(this.now());
    this.afterEvent();
    return this.done;
  }

  /** Where packets go now: the peer's TID once known. */
  get remote(): Endpoint {
    return this.transport.peer;
  }

  send(head: Buffer, body?: Buffer): void {
    if (isError(head)) this.opts.onErrorSent?.(head.readUInt16BE(2));
    const f = this.opts.faults;
    if (!f) this.transport.queue(head, body);
    else {
      // Faults delay single datagrams past the event: each goes as a batch of its own.
      f.apply(() => {
        this.transport.queue(head, body);
        this.transport.flush();
      });
    }
  }

  /** Closes the transport once what was sent has left it. */
  closeSocket(): Promise<void> {
    return this.transport.close();
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

  private readonly fromPeer = (msg: Buffer | null): void => {
    const f = this.opts.faults;
    if (f)
      f.apply(() => this.receive(msg)); // receive() drops what arrives once the transfer is done
    else this.receive(msg);
  };

  private receive(msg: Buffer | null): void {
    if (this.machine.state === 'done') return;
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

  /** A packet for this TID from someone else: ERROR 5 to them, the transfer goes on. */
  private readonly fromStranger = (msg: Buffer | null, from: Endpoint): void => {
    this.foreignTid++;
    if (msg !== null && isError(msg)) return; // never answer an ERROR with an ERROR (two confused peers could loop)
    this.transport.sendTo(from, encodeError(ErrorCode.UNKNOWN_TID, 'unknown transfer ID'));
    this.opts.onErrorSent?.(ErrorCode.UNKNOWN_TID);
  };

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.machine.tick(this.now());
    this.afterEvent();
  };

  private afterEvent(): void {
    if (!this.opts.faults) this.transport.flush();
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
    // Re-arm only when the deadline moved earlier than the pending timer (timerAt is Infinity when none
    // is pending); a later deadline is picked up when the timer fires (tick is a no-op before the
    // deadline). This keeps timer churn off the per-packet path.
    if (m.deadline < this.timerAt) {
      if (this.timer) clearTimeout(this.timer);
      this.timerAt = m.deadline;
      this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(m.deadline - this.now())));
      // A dally must not keep a finished client's process alive.
      if (m.state === 'dallying') this.timer.unref();
    }
  }

  private finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.transport.onPeer = ignore;
    this.transport.onStranger = ignore;
    const o = this.outcome();
    this.settleSettled(o);
    this.settle(o);
  }

  private outcome(): UdpTransferOutcome {
    const result = this.machine.result ?? { ok: false, error: { code: 0, message: 'ended', by: 'local' } };
    return { result, malformed: this.malformed, foreignTid: this.foreignTid };
  }
}

const ignore = (): void => {};

function isError(packet: Buffer): boolean {
  return packet.length >= 4 && packet[0] === 0 && packet[1] === Opcode.ERROR;
}
