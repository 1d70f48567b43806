/**
 * One client's DISCOVER → OFFER → REQUEST → ACK, as a pure machine shaped like the TFTP ones
 * (@bootwire/tftp's TransferMachine): events in (`start(now)`, `receive(reply, now)`, `tick(now)`),
 * effects out through the injected `DoraEffects` (the packets to send), `deadline` says when to tick,
 * `result` holds the lease or the failure. The edge (RelayClient) owns sockets and timers.
 *
 * It behaves as the phones do: it takes the first OFFER (the Avaya 9600 refuses an OFFER without a
 * lease time), retransmits with back-off, starts over after a NAK, and gives up after `retries`.
 */
import { buildDhcp, type DhcpMessage } from '../codec/index.js';

export interface PhoneIdentity {
  mac: string;
  /** Option 60. */
  vendorClass?: string;
  /** Send option 60 with a trailing NUL, as some phones do. */
  vendorClassNul?: boolean;
  /** Option 77 (sent in the plain-string form phones use). */
  userClass?: string;
  /** Option 61; default: type 1 + MAC. */
  clientId?: Buffer;
  hostname?: string;
  /** Option 55. */
  requestedOptions: number[];
  /** Option 57. */
  maxMessageSize?: number;
  /** INIT-REBOOT: ask for this address first (a phone that had a lease). */
  previousAddress?: string;
}

export interface DoraConfig {
  /** giaddr: replies come back to the relay. '0.0.0.0' for a directly attached client. */
  giaddr: string;
  timeoutMs: number;
  retries: number;
  /** Refuse OFFERs without option 51, as the Avaya 9600 does. */
  requireLeaseTime?: boolean;
  /**
   * RFC 3527 link selection: the subnet to lease from, sent as option 82 sub-option 5. Lets a relay
   * on loopback (giaddr 127.x) ask for addresses on a phone subnet, as relays in data centres do.
   */
  linkSelection?: string;
  /** Ask for the replies to be broadcast (the BROADCAST flag): a client without an address yet. */
  broadcast?: boolean;
}

export interface DoraLease {
  address: string;
  serverId: string;
  leaseSeconds: number;
  ack: DhcpMessage;
  /** Time from start to ACK. */
  ms: number;
  retransmits: number;
}

export type DoraResult = { ok: true; lease: DoraLease } | { ok: false; error: string; retransmits: number };

/** Per-phone settings that override a client's. */
export interface DoraOverrides {
  timeoutMs?: number;
  retries?: number;
  requireLeaseTime?: boolean;
}

/** What runs phones' DORAs over a socket: relay-style (RelayClient) or as a client on its subnet (BroadcastClient). */
export interface DoraClient {
  dora(phone: PhoneIdentity, overrides?: DoraOverrides): Promise<DoraResult>;
  close(): Promise<void>;
}

/** What the machine does to the world: send a request (the edge addresses it). */
export interface DoraEffects {
  send(packet: Buffer): void;
}

const u8 = (n: number) => Buffer.from([n]);
const ipBytes = (ip: string) => Buffer.from(ip.split('.').map(Number));

export class DoraMachine {
  state: 'idle' | 'selecting' | 'requesting' | 'done' = 'idle';
  deadline = Infinity;
  result: DoraResult | undefined;
  readonly xid: number;
  private tries = 0;
  private retransmits = 0;
  private started = 0;
  private last: Buffer | undefined;
  private offer: { address: string; serverId: string } | undefined;

  constructor(
    private readonly effects: DoraEffects,
    readonly phone: PhoneIdentity,
    private readonly cfg: DoraConfig,
    xid: number,
  ) {
    this.xid = xid >>> 0;
  }

  /** Sends the DISCOVER (or, INIT-REBOOT, the REQUEST for the previous address). */
  start(now: number): void {
    this.started = now;
    if (this.phone.previousAddress) this.request(now, this.phone.previousAddress, undefined);
    else this.discover(now);
  }

  /** Call at `deadline`: resends the last packet, or gives up after the retries. */
  tick(now: number): void {
    if (this.state === 'done' || now < this.deadline) return;
    if (++this.tries > this.cfg.retries) {
      this.finish({
        ok: false,
        error: `no ${this.state === 'selecting' ? 'OFFER' : 'ACK'} after ${this.cfg.retries} retries`,
        retransmits: this.retransmits,
      });
      return;
    }
    this.retransmits++;
    this.arm(now);
    if (this.last) this.effects.send(this.last);
  }

  /** A reply for this xid: sends the REQUEST after an OFFER, the DISCOVER again after a NAK; an ACK ends it. */
  receive(m: DhcpMessage, now: number): void {
    if (this.state === 'done' || m.op !== 2 || m.xid !== this.xid) return;
    const type = m.options.messageType();
    if (this.state === 'selecting' && type === 2) {
      const serverId = m.options.serverId();
      if (!serverId) return;
      if (this.cfg.requireLeaseTime && m.options.leaseTime() === undefined) return;
      this.offer = { address: m.yiaddr, serverId };
      this.tries = 0;
      this.request(now, m.yiaddr, serverId);
    } else if (this.state === 'requesting' && type === 5) {
      const lease = m.options.leaseTime() ?? 0;
      this.finish({
        ok: true,
        lease: {
          address: m.yiaddr,
          serverId: m.options.serverId() ?? this.offer?.serverId ?? '0.0.0.0',
          leaseSeconds: lease,
          ack: m,
          ms: now - this.started,
          retransmits: this.retransmits,
        },
      });
    } else if (this.state === 'requesting' && type === 6) {
      // NAK: start over from DISCOVER (RFC 2131 4.4.1).
      this.tries = 0;
      this.discover(now);
    }
  }

  private discover(now: number): void {
    this.state = 'selecting';
    this.offer = undefined;
    this.transmit(this.packet(1, []), now);
  }

  private request(now: number, address: string, serverId: string | undefined): void {
    this.state = 'requesting';
    const extra: [number, Buffer][] = [[50, ipBytes(address)]];
    if (serverId) extra.push([54, ipBytes(serverId)]);
    this.transmit(this.packet(3, extra), now);
  }

  /** Sends a new packet, kept for the retransmissions, and arms the timer. */
  private transmit(packet: Buffer, now: number): void {
    this.last = packet;
    this.arm(now);
    this.effects.send(packet);
  }

  private packet(type: number, extra: [number, Buffer][]): Buffer {
    const p = this.phone;
    const mac = Buffer.from(p.mac.split(':').map((h) => parseInt(h, 16)));
    const options: [number, Buffer][] = [[53, u8(type)], ...extra];
    options.push([61, p.clientId ?? Buffer.concat([u8(1), mac])]);
    if (p.maxMessageSize) options.push([57, Buffer.from([p.maxMessageSize >> 8, p.maxMessageSize & 255])]);
    if (p.vendorClass !== undefined)
      options.push([60, Buffer.from(p.vendorClassNul ? `${p.vendorClass}\0` : p.vendorClass, 'latin1')]);
    if (p.userClass !== undefined) options.push([77, Buffer.from(p.userClass, 'latin1')]);
    if (p.hostname) options.push([12, Buffer.from(p.hostname)]);
    options.push([55, Buffer.from(p.requestedOptions)]);
    if (this.cfg.linkSelection)
      // A relay's option goes last.
      options.push([82, Buffer.concat([Buffer.from([5, 4]), ipBytes(this.cfg.linkSelection)])]);
    const flags = this.cfg.broadcast ? 0x8000 : 0;
    return buildDhcp({
      op: 1,
      xid: this.xid,
      flags,
      giaddr: this.cfg.giaddr,
      hops: this.cfg.giaddr === '0.0.0.0' ? 0 : 1,
      chaddr: mac,
      options,
      maxSize: 576,
    }).bytes;
  }

  private arm(now: number): void {
    this.deadline = now + Math.min(this.cfg.timeoutMs * 2 ** this.tries, 16 * this.cfg.timeoutMs);
  }

  private finish(r: DoraResult): void {
    this.result = r;
    this.state = 'done';
    this.deadline = Infinity;
  }
}
