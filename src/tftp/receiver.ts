/**
 * The TFTP receiver machine: downloads after a RRQ (client) or accepts a WRQ's upload (server).
 *
 * In-order payloads are handed to `effects.deliver` as views of the datagrams. With windowsize W the
 * receiver ACKs every W-th block, the final (short) block, and, once per gap, the last in-order block
 * when a block arrives out of order, so the sender slides back to it (RFC 7440). In lock-step every
 * duplicate DATA is re-ACKed, as RFC 1350 receivers do. After the final ACK the receiver dallies, so a
 * resent final DATA (our ACK was lost) is answered instead of timing the sender out.
 */
import { encodeAck, encodeOack, type OptionPair } from './codec.js';
import { DEFAULT_BLKSIZE, ErrorCode, type KnownOptions, type OackPacket, Opcode, type TftpPacket } from './packet.js';
import { type TimingConfig, TransferMachine, type TransferEffects } from './transfer.js';

export interface ReceiverConfig extends TimingConfig {
  /**
   * 'client': after sending `request` (a RRQ), waits for the server's OACK or DATA 1.
   * 'server': answering a WRQ; sends `oack` when options were accepted, else ACK 0.
   */
  role: 'server' | 'client';
  blksize?: number;
  windowsize?: number;
  oack?: readonly OptionPair[];
  request?: Buffer;
  requested?: KnownOptions;
  /** How long to stay after the final ACK. Defaults to timeoutMs. */
  dallyMs?: number;
  /** Largest transfer accepted; past it the receiver ends with ERROR 3. */
  maxBytes?: number;
}

export class TftpReceiver extends TransferMachine {
  /** tsize from the server's OACK, if it sent one. */
  peerTsize: number | undefined;
  /** Highest block received in order. */
  private received = 0;
  private sinceAck = 0;
  /** A gap or duplicate was already answered with an ACK for `received`. */
  private gapAcked = false;
  /** What to resend on a timeout before the first DATA: the request, OACK or ACK 0. */
  private opening: Buffer | undefined;

  constructor(
    effects: TransferEffects,
    private readonly config: ReceiverConfig,
  ) {
    super(effects, config);
  }

  /** Blocks received in order so far. */
  get blocksReceived(): number {
    return this.received;
  }

  start(now: number): void {
    if (this.state !== 'idle') return;
    const { role, oack, request } = this.config;
    if (role === 'client') {
      if (!request) throw new TypeError('a client receiver needs the encoded RRQ');
      this.state = 'requesting';
      this.opening = request;
    } else {
      this.state = 'transferring';
      this.opening = oack && oack.length > 0 ? encodeOack(oack) : encodeAck(0);
    }
    this.effects.send(this.opening);
    this.arm(now);
  }

  receive(packet: TftpPacket, now: number): void {
    if (this.state === 'done' || this.state === 'idle') return;
    switch (packet.opcode) {
      case Opcode.ERROR:
        if (this.state === 'dallying') this.close();
        else this.failPeer(packet.code, packet.message);
        return;
      case Opcode.OACK:
        if (this.state === 'requesting') this.acceptOack(packet, now);
        return;
      case Opcode.DATA:
        if (this.state === 'requesting') {
          // The server ignored our options: RFC 1350 defaults.
          this.blksize = DEFAULT_BLKSIZE;
          this.windowsize = 1;
          this.state = 'transferring';
        }
        if (this.state === 'transferring') this.onData(packet.block, packet.payload, now);
        else if (this.state === 'dallying') this.onDataWhileDallying(packet.block);
        return;
      default:
        this.stats.duplicates++;
    }
  }

  private acceptOack(packet: OackPacket, now: number): void {
    if (!this.applyOack(packet, this.config.requested ?? {})) return;
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
    if (wire !== ((this.received + 1) & 0xffff)) {
      this.stats.duplicates++;
      // Out of order or a duplicate: tell the sender where we are, once per gap (every time in lock-step).
      if (this.windowsize === 1 || !this.gapAcked) {
        this.gapAcked = true;
        this.sinceAck = 0;
        this.effects.send(encodeAck(this.received));
      }
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
    this.effects.deliver?.(payload);
    if (payload.length < this.blksize) {
      this.effects.send(encodeAck(this.received));
      this.result = { ok: true };
      this.state = 'dallying';
      this.deadline = now + (this.config.dallyMs ?? this.timing.timeoutMs);
      return;
    }
    if (++this.sinceAck >= this.windowsize) {
      this.sinceAck = 0;
      this.effects.send(encodeAck(this.received));
    }
    this.arm(now);
  }

  private onDataWhileDallying(wire: number): void {
    this.stats.duplicates++;
    if (wire === (this.received & 0xffff)) this.effects.send(encodeAck(this.received));
  }

  protected onTimeout(now: number): void {
    this.stats.retransmits++;
    this.gapAcked = false;
    this.sinceAck = 0;
    this.effects.send(this.received > 0 ? encodeAck(this.received) : this.opening!);
    this.arm(now);
  }
}
