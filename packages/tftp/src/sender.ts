/**
 * The TFTP sender machine: serves a RRQ (server) or uploads after a WRQ (client).
 *
 * Windowed per RFC 7440 (windowsize 1 is RFC 1350 lock-step): up to `windowsize` blocks go out, then the
 * sender waits. An ACK for any block in flight slides the window to it and sends the next window, which
 * resends the blocks after it when the receiver reported a gap. A duplicate ACK never causes a resend
 * (the Sorcerer's Apprentice bug); only a timeout does. The first timeout since the window last moved
 * resends the window from the first unacknowledged block, as RFC 7440 does; later ones resend a
 * single block, the highest sent, so a silent peer costs one block per retry, not a window. That block
 * makes a live receiver answer at once (a duplicate or the final block is re-ACKed, a gap reported,
 * the window's last block completes the window), and the answer reopens the window: an ACK that moves
 * it as usual, or an ACK for the block already acknowledged (the receiver lacks what follows it).
 * `maxUnackedBytes` caps the window in bytes, so a client asking for blksize 65464 and windowsize 64
 * cannot make one ACK release 4 MB: a client that sends ACK 0 and falls silent gets at most two
 * windows of that cap and one block per retry.
 *
 * Blocks are counted with absolute numbers internally and put on the wire modulo 65536, so block
 * numbers wrap past 65535 to 0 as tftp-hpa, curl and atftp expect.
 */
import { dataHeader, encodeOack } from './codec.js';
import { type BlockSource, blockCount } from './block-source.js';
import { DEFAULT_BLKSIZE, type OackPacket, Opcode } from './packet.js';
import { type MachineConfig, TransferMachine, type TransferEffects, type TransferPacket } from './transfer.js';

/** A sender: the file's blocks, on either side, and how many bytes may be in flight. */
export type SenderConfig = MachineConfig & {
  source: BlockSource;
  /** Most DATA payload bytes sent and not yet acknowledged (at least one block always goes). Default: no cap. */
  maxUnackedBytes?: number;
};

export class TftpSender extends TransferMachine {
  declare protected readonly config: SenderConfig;
  private lastBlock: number;
  /** Highest block acknowledged (0 before any). */
  private acked = 0;
  /** Highest block sent so far. */
  private sent = 0;
  /** A timeout has resent the window since it last moved: further timeouts resend one block. */
  private resent = false;
  /** One block went on a timeout, and the receiver has not answered since. */
  private collapsed = false;
  private readonly source: BlockSource;
  /**
   * What goes again while the peer has not moved the transfer: the WRQ (client), the OACK (server
   * that accepted options), or nothing, when DATA 1 opens the transfer.
   */
  private readonly opening: Buffer | undefined;

  /**
   * 'server': answering a RRQ; sends the OACK first when options were accepted, else DATA 1 at once.
   * 'client': after sending its WRQ, waits for the server's OACK or ACK 0.
   */
  constructor(effects: TransferEffects, config: SenderConfig) {
    super(effects, config);
    this.source = config.source;
    this.lastBlock = blockCount(this.source.size, this.blksize);
    if (config.role === 'client') this.opening = config.request;
    else if (config.oack && config.oack.length > 0) this.opening = encodeOack(config.oack);
  }

  /** Highest block acknowledged so far. */
  get acknowledged(): number {
    return this.acked;
  }

  protected serve(now: number): void {
    if (this.opening) {
      this.state = 'negotiating';
      this.effects.send(this.opening);
      this.arm(now);
    } else {
      this.state = 'transferring';
      this.sendWindow(now);
    }
  }

  protected onPacket(packet: TransferPacket, now: number): void {
    if (packet.opcode !== Opcode.ACK) {
      // DATA or a request reaching a sender is a stray packet: ignore it rather than abort a transfer.
      this.stats.duplicates++;
      return;
    }
    this.heard();
    if (this.state === 'transferring') this.onAck(packet.block, now);
    else if (packet.block === 0) this.beginData(now);
    else this.stats.duplicates++;
  }

  protected oackAccepted(_packet: OackPacket, now: number): void {
    this.lastBlock = blockCount(this.source.size, this.blksize);
    this.state = 'transferring';
    this.retries = 0;
    this.sendWindow(now);
  }

  /** ACK 0: the client acknowledged our OACK, or (client) the server accepted our WRQ without options. */
  private beginData(now: number): void {
    if (this.state === 'requesting') {
      // RFC 2347: a server that answers a WRQ with ACK 0 declined every option; RFC 1350 defaults apply.
      this.blksize = DEFAULT_BLKSIZE;
      this.windowsize = 1;
      this.lastBlock = blockCount(this.source.size, this.blksize);
    }
    this.state = 'transferring';
    this.retries = 0;
    this.effects.progress?.(now);
    this.sendWindow(now);
  }

  private onAck(wire: number, now: number): void {
    // The only absolute block with this wire number in [acked, sent] (a window spans < 65536 blocks).
    const delta = (wire - this.acked) & 0xffff;
    if (delta === 0 && this.collapsed) {
      // The answer to the block resent on a timeout: the receiver lacks everything after `acked`.
      this.collapsed = false;
      if (this.windowBlocks() > 1) this.sendWindow(now);
      return;
    }
    if (delta === 0 || this.acked + delta > this.sent) {
      this.stats.duplicates++; // duplicate, stale, or for a block never sent: never resend on it
      return;
    }
    this.acked += delta;
    this.source.release(this.acked);
    this.retries = 0;
    this.collapsed = false;
    this.resent = false;
    this.effects.progress?.(now);
    if (this.acked === this.lastBlock) {
      this.result = { ok: true };
      this.close();
      return;
    }
    this.sendWindow(now);
  }

  protected onTimeout(now: number): void {
    this.stats.retransmits++;
    if (this.state !== 'transferring' && this.opening) {
      // Requesting or negotiating: the WRQ or the OACK again.
      this.effects.send(this.opening);
      this.arm(now);
    } else {
      if (!this.resent) {
        this.resent = true;
        this.stats.retransmits--; // sendWindow counts each resent block
        this.sendWindow(now);
        return;
      }
      this.collapsed = true;
      this.effects.send(dataHeader(this.sent), this.source.block(this.sent, this.blksize));
      this.arm(now);
    }
  }

  protected resendOpening(now: number): void {
    if (this.state === 'negotiating' && this.opening) this.effects.send(this.opening);
    else if (this.state === 'transferring' && this.acked === 0)
      this.effects.send(dataHeader(1), this.source.block(1, this.blksize));
    this.arm(now);
  }

  /** Blocks to have in flight: the window, within the byte cap. */
  private windowBlocks(): number {
    const cap = this.config.maxUnackedBytes;
    return cap === undefined ? this.windowsize : Math.max(1, Math.min(this.windowsize, Math.floor(cap / this.blksize)));
  }

  /** Sends blocks acked+1 .. acked+window (those already sent once count as retransmits). */
  private sendWindow(now: number): void {
    const end = Math.min(this.acked + this.windowBlocks(), this.lastBlock);
    const { effects, source, blksize } = this;
    for (let b = this.acked + 1; b <= end; b++) {
      const payload = source.block(b, blksize);
      if (b <= this.sent) this.stats.retransmits++;
      else {
        this.stats.blocks++;
        this.stats.bytes += payload.length;
      }
      effects.send(dataHeader(b), payload);
    }
    if (end > this.sent) this.sent = end;
    this.arm(now);
  }
}
