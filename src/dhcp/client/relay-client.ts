/**
 * bootwire's DHCP client, relay-style: one UDP socket acts as the relay agent for any number of
 * simulated phones. Requests go unicast to the server with giaddr set to the socket's address, and
 * replies come back to that address and port, where they are matched to their phone by xid. This
 * needs no broadcast, no raw socket and no root (with a server whose relay port is configurable),
 * so a boot storm of thousands of phones runs on loopback.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import type { FaultInjector } from '../../net/faults.js';
import { decodeDhcp } from '../codec/index.js';
import { type DoraConfig, DoraMachine, type DoraResult, type PhoneIdentity } from './dora.js';

export interface RelayClientOptions {
  /** Where the relay socket binds; its address is giaddr. Port 67 for standard servers (root). */
  bind: { address: string; port: number };
  server: { host: string; port: number };
  timeoutMs?: number;
  retries?: number;
  requireLeaseTime?: boolean;
  /** RFC 3527 link selection added to every request (see DoraConfig.linkSelection). */
  linkSelection?: string;
  /** Loss, duplication and reordering applied to every datagram sent and received. */
  faults?: FaultInjector;
}

/** Per-phone settings that override the client's. */
export interface DoraOverrides {
  timeoutMs?: number;
  retries?: number;
  requireLeaseTime?: boolean;
}

export class RelayClient {
  private readonly pending = new Map<number, { machine: DoraMachine; done: (r: DoraResult) => void; timer?: NodeJS.Timeout }>();
  private closed = false;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly o: RelayClientOptions,
  ) {
    socket.on('message', (msg) => (o.faults ? o.faults.apply(() => this.onMessage(msg)) : this.onMessage(msg)));
    socket.on('error', () => {});
  }

  static async open(o: RelayClientOptions): Promise<RelayClient> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(o.bind.port, o.bind.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new RelayClient(socket, o);
  }

  /** Points later requests at another server (e.g. one started after the client, on the client's port). */
  setServer(server: { host: string; port: number }): void {
    this.o.server = server;
  }

  get address(): { address: string; port: number } {
    return this.socket.address();
  }

  /** Runs one phone's DORA to its ACK (or failure). */
  dora(phone: PhoneIdentity, overrides: DoraOverrides = {}): Promise<DoraResult> {
    if (this.closed) return Promise.resolve({ ok: false, error: 'client closed', retransmits: 0 });
    let xid: number;
    do xid = randomInt(1, 0xffffffff);
    while (this.pending.has(xid));
    const cfg: DoraConfig = {
      giaddr: this.o.bind.address,
      timeoutMs: overrides.timeoutMs ?? this.o.timeoutMs ?? 1000,
      retries: overrides.retries ?? this.o.retries ?? 4,
      ...((overrides.requireLeaseTime ?? this.o.requireLeaseTime) ? { requireLeaseTime: true } : {}),
      ...(this.o.linkSelection ? { linkSelection: this.o.linkSelection } : {}),
    };
    const machine = new DoraMachine(phone, cfg, xid);
    return new Promise((done) => {
      const entry: { machine: DoraMachine; done: (r: DoraResult) => void; timer?: NodeJS.Timeout } = { machine, done };
      this.pending.set(xid, entry);
      this.send(machine.start(Date.now()));
      this.arm(entry);
    });
  }

  private arm(entry: { machine: DoraMachine; done: (r: DoraResult) => void; timer?: NodeJS.Timeout }): void {
    if (entry.timer) clearTimeout(entry.timer);
    const m = entry.machine;
    if (m.state === 'done') {
      this.pending.delete(m.xid);
      entry.done(m.result!);
      return;
    }
    entry.timer = setTimeout(() => {
      const again = m.tick(Date.now());
      if (again) this.send(again);
      this.arm(entry);
    }, Math.max(0, m.deadline - Date.now()));
  }

  private onMessage(msg: Buffer): void {
    const d = decodeDhcp(msg);
    if (!d.ok) return;
    const entry = this.pending.get(d.message.xid);
    if (!entry) return;
    const next = entry.machine.receive(d.message, Date.now());
    if (next) this.send(next);
    this.arm(entry);
  }

  private send(packet: Buffer): void {
    if (this.o.faults) this.o.faults.apply(() => this.sendNow(packet));
    else this.sendNow(packet);
  }

  private sendNow(packet: Buffer): void {
    if (this.closed) return;
    try {
      this.socket.send(packet, this.o.server.port, this.o.server.host);
    } catch {
      /* closed */
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const [xid, e] of this.pending) {
      if (e.timer) clearTimeout(e.timer);
      e.done({ ok: false, error: 'client closed', retransmits: 0 });
      this.pending.delete(xid);
    }
    await new Promise<void>((r) => this.socket.close(() => r()));
  }
}
