/**
 * The TFTP receiver machine: downloads after a RRQ (client) or accepts a WRQ's upload (server).
 *
 * In-order payloads are handed to `effects.deliver` as views of the datagrams. With windowsize W the
 * receiver ACKs every W-th block, the final (short) block, and, once per gap, the last in-order block
 * when a block arrives out of order, so the sender slides back to it (RFC 7440). In lock-step every
 * duplicate DATA is re-ACKed, as RFC 1350 receivers do. After the final ACK the receiver dallies, so a
 * resent final DATA (our ACK was lost) is answered instead of timing the sender out.
 *
 * With `awaitWrites` (a server storing an upload) an ACK is a promise that the data is stored: the
 * edge answers each `deliver` with `written()` once the bytes are written, and the final one once the
 * file is durably in place; an ACK waits for the writes of every block it acknowledges, so a slow disk
 * slows the ACKs. A block beyond the window the last ACK opened is dropped, so at most one window of
 * payloads waits for the disk, whatever the sender does. `writeFailed()` ends the transfer with the
 * edge's ERROR.
 */
import { encodeAck, encodeOack } from './codec.js';
import { DEFAULT_BLKSIZE, ErrorCode, type OackPacket, Opcode } from './packet.js';
import { type MachineConfig, TransferMachine, type TransferEffects, type TransferPacket } from './transfer.js';

/** A receiver: the file's limits, on either side, and when an ACK may go. */
export type ReceiverConfig = MachineConfig & {
  /** How long to stay after the final ACK. Defaults to timeoutMs. */
  dallyMs?: number;
  /** Largest transfer accepted; past it the receiver ends with ERROR 3. */
  maxBytes?: number;
  /** ACK only what the edge confirmed with `written()` (see the module comment). */
  awaitWrites?: boolean;
};

export class TftpReceiver extends TransferMachine {
  declare protected readonly config: ReceiverConfig;
  /** tsize from the server's OACK, if it sent one. */
  peerTsize: number | undefined;
  /** Highest block received in order (and delivered). */
  private received = 0;
  /** Highest block the edge confirmed written (always `received` without awaitWrites). */
  private stored = 0;
  /** Highest block acknowledged to the peer: it may send up to lastAck + windowsize. */
  private lastAck = 0;
  /** An ACK owed once `stored` reaches it (0: none). */
  private pendingAck = 0;
  /** The final block, once delivered (0: not yet). */
  private finalBlock = 0;
  private sinceAck = 0;
  /** A gap or duplicate was already answered with an ACK for `received`. */
  private gapAcked = false;
  /** What to resend on a timeout before the first DATA: the RRQ (client), the OACK or ACK 0 (server). */
  private opening: Buffer;

  /**
   * 'client': after sending its RRQ, waits for the server's OACK or DATA 1.
   * 'server': answering a WRQ; sends the OACK when options were accepted, else ACK 0.
   */
  constructor(effects: TransferEffects, config: ReceiverConfig) {
    super(effects, config);
    if (config.role === 'client') this.opening = config.request;
    else this.opening = config.oack && config.oack.length > 0 ? encodeOack(config.oack) : encodeAck(0);
  }

  /** Blocks received in order so far. */
  get blocksReceived(): number {
    return this.received;
  }

  protected serve(now: number): void {
    this.state = 'transferring';
    this.effects.send(this.opening);
    this.arm(now);
  }

  protected onPacket(packet: TransferPacket, now: number): void {
    if (packet.opcode !== Opcode.DATA) {
      this.stats.duplicates++;
      return;
    }
    this.heard();
    if (this.state === 'requesting') {
      // The server ignored our options: RFC 1350 defaults.
      this.blksize = DEFAULT_BLKSIZE;
      this.windowsize = 1;
      this.state = 'transferring';
    }
    if (this.state === 'transferring') this.onData(packet.block, packet.payload, now);
    else if (this.state === 'dallying') this.onDataWhileDallying(packet.block);
  }

  /** awaitWrites: the oldest delivered payload not yet confirmed is written (the final one: stored durably). */
  written(now: number): void {
    if (this.state !== 'transferring' || this.stored >= this.received) return;
    this.stored++;
    if (this.stored === this.finalBlock) {
      this.complete(now);
      return;
    }
    if (this.pendingAck !== 0 && this.pendingAck <= this.stored) {
      const block = this.pendingAck;
      this.pendingAck = 0;
      this.sendAck(block);
      this.arm(now);
    }
  }

  /** awaitWrites: a write (or the final commit) failed; ends the transfer with this ERROR. */
  writeFailed(code: number, message: string): void {
    if (this.state === 'transferring') this.failLocal(code, message);
  }

  /** A commit in progress is finished, not interrupted: its outcome (written or writeFailed) ends the transfer. */
  override abort(code: number, message: string): void {
    if (this.state === 'transferring' && this.finalBlock !== 0 && this.stored < this.finalBlock) return;
    super.abort(code, message);
  }

  protected override waitingOnEdge(): boolean {
    return this.stored < this.received;
  }

  protected oackAccepted(packet: OackPacket, now: number): void {
    this.peerTsize = packet.known.tsize;
    const { maxBytes } = this.config;
    if (maxBytes !== undefined && this.peerTsize !== undefined && this.peerTsize > maxBytes) {
      this.failLocal(ErrorCode.DISK_FULL, `file of ${this.peerTsize} bytes exceeds the limit of ${maxBytes}`);
      return;
    }
    this.state = 'transferring';
    this.retries = 0;
    this.opening = encodeAck(0);
    this.effects.send(this.opening);
    this.arm(now);
  }

  private onData(wire: number, payload: Buffer, now: number): void {
    if (this.finalBlock !== 0) {
      this.stats.duplicates++; // the final block is being stored: its ACK follows the commit
      return;
    }
    if (wire !== ((this.received + 1) & 0xffff)) {
      this.stats.duplicates++;
      // Out of order or a duplicate: tell the sender where we are, once per gap (every time in lock-step).
      if (this.windowsize === 1 || !this.gapAcked) {
        this.gapAcked = true;
        this.sinceAck = 0;
        this.ack(this.received);
      }
      return;
    }
    if (this.received + 1 > this.lastAck + this.windowsize) {
      this.stats.duplicates++; // past the window we opened: the sender has to wait for our ACK
      return;
    }
    if (payload.length > this.blksize) {
      this.failLocal(ErrorCode.ILLEGAL_OPERATION, `DATA of ${payload.length} bytes exceeds blksize ${this.blksize}`);
      return;
    }
    const { maxBytes } = this.config;
    if (maxBytes !== undefined && this.stats.bytes + payload.length > maxBytes) {
      this.failLocal(ErrorCode.DISK_FULL, `transfer exceeds the limit of ${maxBytes} bytes`);
      return;
    }
    this.received++;
    this.stats.blocks++;
    this.stats.bytes += payload.length;
    this.retries = 0;
    this.gapAcked = false;
    this.effects.progress?.(now);
    const final = payload.length < this.blksize;
    if (final) this.finalBlock = this.received;
    if (!this.config.awaitWrites) this.stored = this.received;
    this.effects.deliver?.(payload, final);
    if (this.state !== 'transferring') return; // the edge ended it from deliver
    if (final) {
      if (this.stored === this.received) this.complete(now);
      else this.arm(now);
      return;
    }
    if (++this.sinceAck >= this.windowsize) {
      this.sinceAck = 0;
      this.ack(this.received);
    }
    this.arm(now);
  }

  /** The final block is stored: its ACK, success, then the dally. */
  private complete(now: number): void {
    this.sendAck(this.finalBlock);
    this.result = { ok: true };
    this.state = 'dallying';
    this.deadline = now + (this.config.dallyMs ?? this.config.timeoutMs);
  }

  /** ACKs `block` now if it is stored, else once it is. */
  private ack(block: number): void {
    if (block <= this.stored) this.sendAck(block);
    else if (block > this.pendingAck) this.pendingAck = block;
  }

  private sendAck(block: number): void {
    if (block > this.lastAck) this.lastAck = block;
    this.effects.send(encodeAck(block));
  }

  private onDataWhileDallying(wire: number): void {
    this.stats.duplicates++;
    if (wire === (this.received & 0xffff)) this.effects.send(encodeAck(this.received));
  }

  protected resendOpening(now: number): void {
    if (this.state === 'transferring' && this.received === 0) this.effects.send(this.opening);
    this.arm(now);
  }

  protected onTimeout(now: number): void {
    this.stats.retransmits++;
    this.gapAcked = false;
    this.sinceAck = 0;
    if (this.received > 0) this.sendAck(this.received);
    else this.effects.send(this.opening);
    this.arm(now);
  }
}
