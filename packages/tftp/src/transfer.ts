/**
 * What the sender and receiver machines share: their configuration (timing, and the side they play),
 * the opening and the handling of ERROR and OACK, retry timing, results and the effects interface.
 *
 * The machines are pure: no sockets, no timers, no clock of their own. The edge feeds them events
 * (`start`, `receive`, `tick`, `abort`) with the current time, and they act through `TransferEffects`
 * (packets to send, payload to deliver). Effects are calls rather than returned action objects so that
 * the per-block path allocates nothing. `deadline` is the time at which the edge must call `tick`.
 * The DHCP client's DoraMachine (@bootwire/dhcp) has the same shape.
 */
import { encodeError, type OptionPair } from './codec.js';
import { DEFAULT_BLKSIZE, ErrorCode, type KnownOptions, type OackPacket, Opcode, type TftpPacket } from './packet.js';

export interface TransferEffects {
  /** Send one datagram: `head` alone, or `head` followed by `body` (a DATA payload view). */
  send(head: Buffer, body?: Buffer): void;
  /**
   * Receiver only: the next in-order payload bytes (a view of the datagram); `final` on the last block.
   * A receiver with `awaitWrites` then waits for the edge's `written()` (or `writeFailed()`) for it.
   */
  deliver?(payload: Buffer, final: boolean): void;
  /** The peer moved the transfer forward (a new ACK or in-order DATA), at machine time `now`. */
  progress?(now: number): void;
}

export interface TimingConfig {
  /** First retransmission timeout. */
  timeoutMs: number;
  /** Each retry multiplies the timeout by this (back-off)... */
  backoff?: number;
  /** ...up to this. Defaults to max(timeoutMs, 8 s). */
  maxTimeoutMs?: number;
  /** Retransmissions of the same packet before giving up with ERROR 0. */
  maxRetries: number;
  /**
   * Retransmissions while the peer has not answered at all (no ACK, DATA or OACK yet): a request from
   * a spoofed address is answered a bounded number of times. Past them the machine keeps waiting,
   * silently, for the rest of its retries (the peer's own retransmission of its ACK, or a `nudge` when
   * it repeats its request, still gets through), and ends without an ERROR if the peer never answered.
   * Default: every retry is sent, and the end is told.
   */
  retriesBeforeAnswer?: number;
  /** The transfer's whole life, from start: past it, ERROR 0. Default: no limit. */
  maxLifeMs?: number;
}

/** The side answering a request: the values it granted, and the OACK that says so. */
export interface ServerSide {
  role: 'server';
  blksize?: number;
  windowsize?: number;
  /** The OACK to send, when any option was accepted. */
  oack?: readonly OptionPair[];
}

/** The side that sent the request: it resends it until answered, and checks the OACK against it. */
export interface ClientSide {
  role: 'client';
  /** The encoded request (RRQ for a receiver, WRQ for a sender). */
  request: Buffer;
  /** The options the request asked for. */
  requested: KnownOptions;
}

/** What both machines are configured with: timing, and the side they play with what that side needs. */
export type MachineConfig = TimingConfig & (ServerSide | ClientSide);

export interface TransferStats {
  /** DATA payload bytes sent or delivered, counted once per block. */
  bytes: number;
  blocks: number;
  /** Packets sent again after a timeout or a receiver's gap report. */
  retransmits: number;
  /** Duplicate or out-of-window ACKs (sender) or DATA (receiver) received and ignored. */
  duplicates: number;
}

export type TransferError = {
  code: number;
  message: string;
  /** 'peer': the other side sent ERROR; 'local': this side ended it (and told the peer). */
  by: 'peer' | 'local';
};

export type TransferResult = { ok: true } | { ok: false; error: TransferError };

export type MachineState = 'idle' | 'requesting' | 'negotiating' | 'transferring' | 'dallying' | 'done';

/** A packet the shared part of the machine does not handle itself (ERROR and OACK are handled there). */
export type TransferPacket = Exclude<TftpPacket, { opcode: typeof Opcode.ERROR | typeof Opcode.OACK }>;

export abstract class TransferMachine {
  state: MachineState = 'idle';
  blksize: number;
  windowsize: number;
  /** When the edge must call tick(); Infinity when nothing is pending. */
  deadline = Infinity;
  /** Set once the transfer's outcome is known (a receiver may still dally after a success). */
  result: TransferResult | undefined;
  readonly stats: TransferStats = { bytes: 0, blocks: 0, retransmits: 0, duplicates: 0 };
  protected retries = 0;
  /** The peer has sent something that belongs to this transfer. */
  protected answered = false;
  private lifeEnd = Infinity;

  constructor(
    protected readonly effects: TransferEffects,
    protected readonly config: MachineConfig,
  ) {
    // A client starts from RFC 1350's values; the server's OACK (or its silence on options) sets them.
    this.blksize = config.role === 'server' ? (config.blksize ?? DEFAULT_BLKSIZE) : DEFAULT_BLKSIZE;
    this.windowsize = config.role === 'server' ? (config.windowsize ?? 1) : 1;
  }

  /** A client sends its request and waits for the answer; a server sends its first packet (`serve`). */
  start(now: number): void {
    if (this.state !== 'idle') return;
    this.begin(now);
    if (this.config.role === 'client') {
      this.state = 'requesting';
      this.effects.send(this.config.request);
      this.arm(now);
    } else {
      this.serve(now);
    }
  }

  /** Takes one packet from the peer: ERROR and OACK here, the rest in the machine's `onPacket`. */
  receive(packet: TftpPacket, now: number): void {
    if (this.state === 'done' || this.state === 'idle') return;
    if (packet.opcode === Opcode.ERROR) {
      // After our final ACK the transfer has succeeded: a peer's ERROR only ends the dally.
      if (this.state === 'dallying') this.close();
      else this.failPeer(packet.code, packet.message);
    } else if (packet.opcode === Opcode.OACK) {
      // Only a client waiting for its request's answer takes an OACK; anywhere else it is ignored.
      if (this.state === 'requesting' && this.config.role === 'client') {
        this.heard();
        if (this.applyOack(packet, this.config.requested)) this.oackAccepted(packet, now);
      }
    } else {
      this.onPacket(packet, now);
    }
  }

  /** Server: the first packet after the request (the OACK, DATA 1 or ACK 0). */
  protected abstract serve(now: number): void;

  /** Client: the server's OACK was checked and its blksize and windowsize apply. */
  protected abstract oackAccepted(packet: OackPacket, now: number): void;

  /** DATA, ACK, or a stray request. */
  protected abstract onPacket(packet: TransferPacket, now: number): void;

  /**
   * A client takes the server's OACK: checked against what was asked, then its blksize and windowsize
   * apply (RFC 1350 defaults for the ones it left out). On a bad OACK, ends with ERROR 8 and returns false.
   */
  private applyOack(packet: OackPacket, requested: KnownOptions): boolean {
    const bad = checkOack(packet, requested);
    if (bad) {
      this.failLocal(ErrorCode.OPTION_NEGOTIATION, bad);
      return false;
    }
    this.blksize = packet.known.blksize ?? DEFAULT_BLKSIZE;
    this.windowsize = packet.known.windowsize ?? 1;
    return true;
  }

  /** Ends the transfer now, telling the peer (e.g. on server shutdown). */
  abort(code: number, message: string): void {
    if (this.state === 'done') return;
    if (this.result?.ok) {
      this.close(); // already complete, only dallying
      return;
    }
    this.failLocal(code, message);
  }

  /** Call when `now >= deadline`. */
  tick(now: number): void {
    if (now < this.deadline || this.state === 'done') return;
    if (this.state === 'dallying') {
      this.close();
      return;
    }
    if (now >= this.lifeEnd) {
      this.failLocal(ErrorCode.NOT_DEFINED, 'transfer took too long');
      return;
    }
    if (this.waitingOnEdge()) {
      // The peer waits for us (a write in progress), not the other way round: no retry is spent.
      this.arm(now);
      return;
    }
    const { maxRetries, retriesBeforeAnswer } = this.config;
    // Quiet: a peer that never answered (and may not exist) is sent only retriesBeforeAnswer retries.
    const quiet = !this.answered && retriesBeforeAnswer !== undefined;
    if (++this.retries > maxRetries) {
      this.failLocal(ErrorCode.NOT_DEFINED, `timed out after ${maxRetries} retries`, !quiet);
      return;
    }
    if (quiet && this.retries > retriesBeforeAnswer) {
      this.arm(now); // sent enough to a peer that may not exist: wait without sending
      return;
    }
    this.onTimeout(now);
  }

  /**
   * The peer repeated its request while this transfer runs: if it has not answered yet, it missed our
   * first packet, which goes again (one packet per request, like a new transfer's, and no retry spent).
   */
  nudge(now: number): void {
    if (this.answered || this.state === 'done' || this.config.role !== 'server') return;
    this.stats.retransmits++;
    this.resendOpening(now);
  }

  /** Sends the first packet again (OACK, DATA 1 or ACK 0). */
  protected abstract resendOpening(now: number): void;

  protected abstract onTimeout(now: number): void;

  /** True while the machine waits for its edge (e.g. a receiver's writes) rather than for the peer. */
  protected waitingOnEdge(): boolean {
    return false;
  }

  /** Starts the life clock; each machine's start() calls it. */
  protected begin(now: number): void {
    if (this.config.maxLifeMs !== undefined) this.lifeEnd = now + this.config.maxLifeMs;
  }

  /** The peer answered with something that belongs to the transfer. */
  protected heard(): void {
    this.answered = true;
  }

  /** Arms the retransmission timer, with back-off for the current retry count (never past the life cap). */
  protected arm(now: number): void {
    const { timeoutMs, backoff = 2 } = this.config;
    const max = this.config.maxTimeoutMs ?? Math.max(timeoutMs, 8000);
    this.deadline = Math.min(now + Math.min(timeoutMs * backoff ** this.retries, max), this.lifeEnd);
  }

  /** Ends the transfer with an error of ours; `tell` sends it to the peer as an ERROR. */
  protected failLocal(code: number, message: string, tell = true): void {
    if (tell) this.effects.send(encodeError(code, message));
    this.result = { ok: false, error: { code, message, by: 'local' } };
    this.close();
  }

  protected failPeer(code: number, message: string): void {
    this.result = { ok: false, error: { code, message, by: 'peer' } };
    this.close();
  }

  protected close(): void {
    this.state = 'done';
    this.deadline = Infinity;
  }
}

/**
 * A client checks the server's OACK against what it asked for (RFC 2347: the server may only
 * acknowledge requested options, blksize/windowsize no larger than requested, timeout unchanged).
 * Returns an error message, or undefined when the OACK is acceptable.
 */
export function checkOack(oack: OackPacket, requested: KnownOptions): string | undefined {
  for (const o of oack.options) {
    const asked = (requested as Record<string, number | undefined>)[o.key];
    if (asked === undefined) return `server acknowledged option ${o.name} that was not requested`;
  }
  // Every option in the OACK was asked for (above), so a value it acknowledges has one asked beside it.
  const k = oack.known;
  const r = requested;
  if (k.blksize !== undefined && r.blksize !== undefined && k.blksize > r.blksize)
    return `server blksize ${k.blksize} > requested ${r.blksize}`;
  if (k.windowsize !== undefined && r.windowsize !== undefined && k.windowsize > r.windowsize) {
    return `server windowsize ${k.windowsize} > requested ${r.windowsize}`;
  }
  if (k.timeout !== undefined && k.timeout !== requested.timeout)
    return `server timeout ${k.timeout} != requested ${requested.timeout}`;
  return undefined;
}
