/**
 * bootwire's DHCP clients: one UDP socket runs the DORAs of any number of simulated phones, each a pure
 * DoraMachine matched to its replies by xid. Two ways to reach the server:
 *
 * - `RelayClient`: relay-style. The socket acts as the relay agent: requests go unicast to the server
 *   with giaddr set to the socket's address, and replies come back there. No broadcast, no raw socket
 *   and no root (with a server whose relay port is configurable), so a storm of thousands of phones
 *   runs on loopback.
 * - `BroadcastClient`: as phones do on their own subnet. Requests are broadcast from port 68 with the
 *   BROADCAST flag, and a relay agent on the subnet (ISC dhcrelay in a site, src/storm/site.ts) or a
 *   server on it answers by broadcast. Port 68: root, and a namespace of the phones' own.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import type { FaultInjector } from '@bootwire/core';
import { bindUdp, closeUdp } from '@bootwire/core';
import { decodeDhcp } from '../codec/index.js';
import {
  type DoraClient,
  type DoraConfig,
  type DoraEffects,
  DoraMachine,
  type DoraOverrides,
  type DoraResult,
  type PhoneIdentity,
} from './dora.js';

export type { DoraOverrides } from './dora.js';

interface CommonOptions {
  timeoutMs?: number;
  retries?: number;
  requireLeaseTime?: boolean;
  /** RFC 3527 link selection added to every request (see DoraConfig.linkSelection). */
  linkSelection?: string;
  /** Loss, duplication and reordering applied to every datagram sent and received. */
  faults?: FaultInjector;
}

export interface RelayClientOptions extends CommonOptions {
  /** Where the relay socket binds; its address is giaddr. Port 67 for standard servers (root). */
  bind: { address: string; port: number };
  server: { host: string; port: number };
}

export interface BroadcastClientOptions extends CommonOptions {
  /** The client port to bind (default 68) and the server port to broadcast to (default 67). */
  clientPort?: number;
  serverPort?: number;
}

interface Pending {
  machine: DoraMachine;
  done: (r: DoraResult) => void;
  timer?: NodeJS.Timeout;
}

/** The DORAs of many phones over one socket; how requests are addressed is the opener's. */
class DoraSocketClient implements DoraClient {
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  /** Every machine's packets go out through the socket, to the server (or the broadcast address). */
  private readonly effects: DoraEffects = { send: (packet) => this.send(packet) };

  constructor(
    protected readonly socket: dgram.Socket,
    protected o: CommonOptions & { giaddr: string; broadcast: boolean; to: { host: string; port: number } },
  ) {
    socket.on('message', (msg) => (o.faults ? o.faults.apply(() => this.onMessage(msg)) : this.onMessage(msg)));
    socket.on('error', () => {});
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
      giaddr: this.o.giaddr,
      timeoutMs: overrides.timeoutMs ?? this.o.timeoutMs ?? 1000,
      retries: overrides.retries ?? this.o.retries ?? 4,
      ...((overrides.requireLeaseTime ?? this.o.requireLeaseTime) ? { requireLeaseTime: true } : {}),
      ...(this.o.linkSelection ? { linkSelection: this.o.linkSelection } : {}),
      ...(this.o.broadcast ? { broadcast: true } : {}),
    };
    const machine = new DoraMachine(this.effects, phone, cfg, xid);
    return new Promise((done) => {
      const entry: Pending = { machine, done };
      this.pending.set(xid, entry);
      machine.start(Date.now());
      this.arm(entry);
    });
  }

  /** After each event: the machine's result when it ended, else a timer for its deadline. */
  private arm(entry: Pending): void {
    if (entry.timer) clearTimeout(entry.timer);
    const m = entry.machine;
    if (m.result) {
      this.pending.delete(m.xid);
      entry.done(m.result);
      return;
    }
    entry.timer = setTimeout(
      () => {
        m.tick(Date.now());
        this.arm(entry);
      },
      Math.max(0, m.deadline - Date.now()),
    );
  }

  private onMessage(msg: Buffer): void {
    const d = decodeDhcp(msg);
    if (!d.ok) return;
    const entry = this.pending.get(d.message.xid);
    if (!entry) return; // another client's (broadcast replies reach every client on the port)
    entry.machine.receive(d.message, Date.now());
    this.arm(entry);
  }

  private send(packet: Buffer): void {
    if (this.o.faults) this.o.faults.apply(() => this.sendNow(packet));
    else this.sendNow(packet);
  }

  private sendNow(packet: Buffer): void {
    if (this.closed) return;
    try {
      this.socket.send(packet, this.o.to.port, this.o.to.host);
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

export class RelayClient extends DoraSocketClient {
  static async open(o: RelayClientOptions): Promise<RelayClient> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    try {
      await bindUdp(socket, o.bind.port, o.bind.address);
    } catch (e) {
      closeUdp(socket);
      throw e;
    }
    return new RelayClient(socket, { ...o, giaddr: o.bind.address, broadcast: false, to: o.server });
  }

  /** Points later requests at another server (e.g. one started after the client, on the client's port). */
  setServer(server: { host: string; port: number }): void {
    this.o.to = server;
  }
}

export class BroadcastClient extends DoraSocketClient {
  /** Several clients may share the port (one per simulator thread): each takes the replies of its own xids. */
  static async open(o: BroadcastClientOptions = {}): Promise<BroadcastClient> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    try {
      await bindUdp(socket, o.clientPort ?? 68, '0.0.0.0');
      socket.setBroadcast(true);
    } catch (e) {
      closeUdp(socket);
      throw e;
    }
    return new BroadcastClient(socket, {
      ...o,
      giaddr: '0.0.0.0',
      broadcast: true,
      to: { host: '255.255.255.255', port: o.serverPort ?? 67 },
    });
  }
}
