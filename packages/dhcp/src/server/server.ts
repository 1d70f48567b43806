/**
 * The DHCP server's edge: the UDP socket(s), decoding, the engine's decision, encoding and sending.
 * A bad packet is counted and dropped; nothing a client sends can stop the server.
 *
 * Where replies go (RFC 2131 4.1): to the relay (giaddr) on `relayPort`; to ciaddr when the client
 * has an address; else broadcast. Node cannot pick the interface of a broadcast, so when the server
 * listens on 0.0.0.0 it also binds, for each subnet it has an address in, a socket on that address
 * (SO_REUSEADDR): Linux sends a limited broadcast out of the interface of the socket's address.
 *
 * Option 54 without a configured `serverId` on a wildcard listen (a relayed site): the address the
 * reply leaves from, found by a route lookup toward the relay (or client): a UDP socket connected to
 * it has that address as its local address. node:dgram has no IP_PKTINFO, so the request's own
 * destination address cannot be read. The first request toward a new destination waits for the
 * lookup (a few hundred microseconds, bounded queue); the answer is cached.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { type DhcpConfig, type FilledDhcpConfig, withDefaults } from './config.js';
import {
  bindUdp,
  closeUdp,
  type Endpoint,
  type HostPort,
  intToIp,
  parseHostPort,
  type PhoneSink,
} from '@bootwire/core';
import { buildDhcp, decodeDhcp, type DhcpMessage, MessageType, messageTypeName } from '../codec/index.js';
import { openLeaseStore } from '../leases/open.js';
import type { Lease, LeaseStore } from '../leases/store.js';
import { compileDhcpConfig, localAddresses } from './compile.js';
import {
  type ClientRequest,
  type CompiledSubnet,
  type Decision,
  DhcpEngine,
  type SubnetLeaseSummary,
} from './engine.js';

export interface DhcpServerOptions {
  config: DhcpConfig;
  /** Default: SQLite at config.leases. */
  store?: LeaseStore;
  /** Override the machine's addresses (tests). */
  localAddresses?: number[];
  now?: () => number;
  /**
   * Told of every address bound (each ACK, and the store's bound leases at start), so that file
   * servers in the same process know which phone asks (src/server/phones.ts).
   */
  phones?: PhoneSink;
}

export interface DhcpServerStats {
  received: number;
  /** Requests received, by message type name (DISCOVER, REQUEST, …); the malformed ones are in `malformed`. */
  receivedByType: Record<string, number>;
  malformed: number;
  ignored: number;
  /** Replies sent, by message type name. */
  sent: Record<string, number>;
  /** Options dropped because a reply did not fit the client's maximum size. */
  droppedOptions: number;
  /** Replies not sent because their leases could not be stored (the clients retransmit). */
  withheld: number;
  /** Requests dropped while the route toward their relay or client was being looked up (queue full, or no route). */
  routeDrops: number;
}

/** Relays that get a connected socket of their own; more than this share the listening socket. */
const MAX_RELAY_SOCKETS = 256;
/** Route lookups remembered (destination → local address); the map starts again when full. */
const MAX_ROUTES = 4096;
/** Route lookups under way at once, and requests waiting for each. */
const MAX_LOOKUPS = 256;
const MAX_WAITING_PER_LOOKUP = 64;

/** A reply ready to send. */
interface Outgoing {
  socket: dgram.Socket;
  connected: boolean;
  bytes: Buffer;
  port: number;
  to: string;
}

/** An operator's change waiting, like an ACK, for its lease to be on disk. */
interface Waiter {
  done: (err?: Error) => void;
}

type Queued = Outgoing | Waiter;

/** What a reload prepared: applied by `commit()`, or given up by `abort()` (nothing changed then). */
export interface PreparedDhcpChange {
  commit(): void;
  abort(): void;
}

export type LeaseReleaseResult = { ok: true; lease: Lease } | { ok: false; reason: string };

/** The counters' name of a message type: RFC 2131's (1..8) by name, any other by number, as always. */
const counterName = (t: number): string =>
  t >= MessageType.DISCOVER && t <= MessageType.INFORM ? messageTypeName(t)! : String(t);

export declare interface DhcpServer {
  on(
    event: 'reply',
    listener: (info: { type: string; mac: string; yiaddr: string; to: string; className?: string }) => void,
  ): this;
  on(event: 'ignored', listener: (info: { mac: string; reason: string }) => void): this;
  on(event: 'warning', listener: (message: string) => void): this;
  /** Errors an operator must see: the leases file deleted, replaced, or not writable. */
  on(event: 'alert', listener: (message: string) => void): this;
}

export class DhcpServer extends EventEmitter {
  private current: DhcpEngine;
  private readonly sockets: dgram.Socket[] = [];
  private readonly broadcastBySubnet = new Map<CompiledSubnet, dgram.Socket>();
  /** The same sockets by their address (a reload keeps the ones its subnets still need). */
  private broadcastByAddress = new Map<string, dgram.Socket>();
  private readonly counters: DhcpServerStats = {
    received: 0,
    receivedByType: {},
    malformed: 0,
    ignored: 0,
    sent: {},
    droppedOptions: 0,
    withheld: 0,
    routeDrops: 0,
  };
  private readonly now: () => number;
  /**
   * ACKs waiting for their leases to be on disk. One commit and one sync at a time: the ACKs decided
   * while a sync is under way wait for it, then go into the next commit together (group commit
   * across turns: the busier the server, the bigger each batch).
   */
  private outbox: Queued[] = [];
  /** OFFERs and NAKs promise nothing: they leave at the end of the turn. */
  private sendNow: Outgoing[] = [];
  private flushScheduled = false;
  private syncing = false;
  /**
   * Relay address → a socket on the server's address and port connected to that relay (null while it
   * is being opened). A connected socket sends without dgram's per-send address lookup and its extra
   * tick, a third of the cost of a reply; the kernel also hands it the relay's requests, which it
   * handles like any other socket's.
   */
  private readonly relaySockets = new Map<string, dgram.Socket | null>();
  /** No more connected relay sockets: binding the server's port again was refused (privileges dropped). */
  private relaySocketsOff = false;
  private closing = false;
  /** Option 54 comes from route lookups (no serverId, wildcard listen). */
  private needsRoute: boolean;
  /** Destination (relay or client) → the server's address replies to it leave from. */
  private readonly routeSource = new Map<string, string>();
  /** Requests waiting for the route lookup toward their destination. */
  private readonly awaitingRoute = new Map<string, { msg: Buffer; from: string }[]>();
  /** Why leases cannot be stored right now (said once, until they can again). */
  private storeFailure: string | undefined;

  private constructor(
    private config: FilledDhcpConfig,
    private readonly store: LeaseStore,
    engine: DhcpEngine,
    now: () => number,
    private readonly locals: number[] | undefined,
    private readonly phones: PhoneSink | undefined,
  ) {
    super();
    this.current = engine;
    this.now = now;
    this.needsRoute = config.serverId === undefined && listenOf(config).host === '0.0.0.0';
  }

  /** The engine deciding requests now (a reload replaces it). */
  get engine(): DhcpEngine {
    return this.current;
  }

  static async start(o: DhcpServerOptions): Promise<DhcpServer> {
    const engineConfig = compileDhcpConfig(o.config, o.localAddresses ?? localAddresses());
    let alert: (m: string) => void = () => {};
    const warnings: string[] = [];
    const store =
      o.store ?? openLeaseStore(o.config.leases, { onAlert: (m) => alert(m), onWarning: (m) => warnings.push(m) });
    const server = new DhcpServer(
      withDefaults(o.config),
      store,
      new DhcpEngine(engineConfig, store),
      o.now ?? Date.now,
      o.localAddresses,
      o.phones,
    );
    alert = (m) => server.emit('alert', m);
    // Said once start() has returned and the caller listens.
    for (const w of warnings) setImmediate(() => server.emit('warning', w));
    if (o.phones) {
      const now = server.now();
      for (const l of store.all())
        if (l.state === 'bound' && l.expiresAt > now) o.phones.bound(l.address, { mac: l.mac, expiresAt: l.expiresAt });
    }
    try {
      const { host, port } = listenOf(server.config);
      server.sockets.push(await server.bind(host, port));
      if (host === '0.0.0.0') {
        for (const subnet of engineConfig.subnets) {
          if (subnet.localAddress === undefined) continue;
          const address = intToIp(subnet.localAddress);
          const s = server.broadcastByAddress.get(address) ?? (await server.bind(address, server.address().port));
          if (!server.broadcastByAddress.has(address)) server.sockets.push(s);
          server.broadcastByAddress.set(address, s);
          server.broadcastBySubnet.set(subnet, s);
        }
      }
    } catch (e) {
      await server.close();
      throw e;
    }
    return server;
  }

  /**
   * A new configuration, checked before anything changes: it compiles (the same ConfigError as at
   * start), and the broadcast sockets new subnets need are bound. `commit()` then swaps the engine in
   * one step: leases stay in the store, offers under way are carried over, requests already decided
   * leave as decided. The listen address and the leases file cannot change without a restart.
   */
  async prepareReconfigure(o: { config: DhcpConfig; localAddresses?: number[] }): Promise<PreparedDhcpChange> {
    const old = this.config;
    const next = withDefaults(o.config);
    const restart: string[] = [];
    if (next.listen !== old.listen) restart.push(`dhcp.listen (${old.listen} to ${next.listen})`);
    if (next.leases !== old.leases) restart.push(`dhcp.leases (${old.leases} to ${next.leases})`);
    if (restart.length) throw new Error(`${restart.join(', ')} changed: restart needed`);
    const engineConfig = compileDhcpConfig(next, o.localAddresses ?? this.locals ?? localAddresses());
    const { host } = listenOf(next);
    const keep = new Map<string, dgram.Socket>();
    const opened: dgram.Socket[] = [];
    const closeOpened = () => {
      for (const s of opened) s.close();
    };
    if (host === '0.0.0.0') {
      for (const subnet of engineConfig.subnets) {
        if (subnet.localAddress === undefined) continue;
        const address = intToIp(subnet.localAddress);
        if (keep.has(address)) continue;
        let s = this.broadcastByAddress.get(address);
        if (!s) {
          try {
            s = await this.bind(address, this.address().port);
          } catch (e) {
            closeOpened();
            throw new Error(
              `cannot bind ${address}:${this.address().port} for dhcp.subnets (${subnet.cidr.text}): ` +
                `${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
            );
          }
          opened.push(s);
        }
        keep.set(address, s);
      }
    }
    let done = false;
    return {
      abort: () => {
        if (done) return;
        done = true;
        closeOpened();
      },
      commit: () => {
        if (done) return;
        done = true;
        if (this.closing) return closeOpened();
        // Built now, not while the sockets were bound: the store may have changed meanwhile.
        this.current = new DhcpEngine(engineConfig, this.store, this.current);
        const relayPortChanged = next.relayPort !== old.relayPort;
        this.config = next;
        this.needsRoute = next.serverId === undefined && host === '0.0.0.0';
        if (next.serverId !== old.serverId || relayPortChanged) this.routeSource.clear();
        if (relayPortChanged) {
          // Connected to the old port: reopened on their next use.
          for (const s of this.relaySockets.values()) s?.close();
          this.relaySockets.clear();
        }
        for (const [address, s] of this.broadcastByAddress) {
          if (keep.has(address)) continue;
          const i = this.sockets.indexOf(s);
          if (i > 0) this.sockets.splice(i, 1);
          s.close();
        }
        this.sockets.push(...opened);
        this.broadcastByAddress = keep;
        this.broadcastBySubnet.clear();
        for (const subnet of engineConfig.subnets) {
          const s = subnet.localAddress !== undefined ? keep.get(intToIp(subnet.localAddress)) : undefined;
          if (s) this.broadcastBySubnet.set(subnet, s);
        }
      },
    };
  }

  /** prepareReconfigure, then commit. */
  async reconfigure(o: { config: DhcpConfig; localAddresses?: number[] }): Promise<void> {
    (await this.prepareReconfigure(o)).commit();
  }

  /** Every lease row the server holds (copies). */
  leases(): Lease[] {
    return this.store.all();
  }

  /** Per subnet: leases by state, offers, pool size and use (a pass over the leases in memory). */
  leaseSummary(): SubnetLeaseSummary[] {
    return this.current.leaseSummary(this.now());
  }

  /**
   * Frees an address for an operator (see DhcpEngine.releaseLease). Resolves once the change is on
   * disk, as an ACK would leave: a "released" answer is a promise.
   */
  releaseLease(address: string): Promise<LeaseReleaseResult> {
    if (this.closing) return Promise.resolve({ ok: false, reason: 'the server is stopping' });
    const r = this.current.releaseLease(address, this.now());
    if (!r.ok) return Promise.resolve(r);
    return new Promise((resolve) => {
      this.outbox.push({
        done: (err) =>
          resolve(err ? { ok: false, reason: `not stored yet (${err.message}); the server keeps trying` } : r),
      });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushOutbox);
      }
    });
  }

  private async bind(host: string, port: number): Promise<dgram.Socket> {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    try {
      await bindUdp(s, port, host);
    } catch (e) {
      closeUdp(s);
      throw e;
    }
    s.setBroadcast(true);
    s.on('error', (e) => this.emit('warning', `socket error: ${e.message}`));
    s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address));
    return s;
  }

  address(): Endpoint {
    const a = this.sockets[0]!.address();
    return { address: a.address, port: a.port };
  }

  stats(): DhcpServerStats {
    return { ...this.counters, sent: { ...this.counters.sent }, receivedByType: { ...this.counters.receivedByType } };
  }

  private onMessage(msg: Buffer, from: string, routed = false): void {
    if (!routed) this.counters.received++;
    let decision: Decision;
    let message: DhcpMessage;
    try {
      const d = decodeDhcp(msg);
      if (!d.ok || d.message.op !== 1) {
        this.counters.malformed++;
        return;
      }
      message = d.message;
      const req = toRequest(message);
      if (req === undefined) {
        this.counters.malformed++;
        return;
      }
      if (!routed) {
        const typeName = counterName(req.messageType & 0xff);
        this.counters.receivedByType[typeName] = (this.counters.receivedByType[typeName] ?? 0) + 1;
      }
      // Only a subnet the server has no address in needs the route (a broadcast client is always on
      // one it has: the engine names that address).
      const dest = req.giaddr !== '0.0.0.0' ? req.giaddr : req.ciaddr;
      const subnet = this.needsRoute && dest !== '0.0.0.0' ? this.engine.subnetFor(req) : undefined;
      if (subnet && subnet.localAddress === undefined) {
        const local = this.routeSource.get(dest);
        if (local === undefined) return this.awaitRoute(dest, msg, from, routed);
        req.localAddress = local;
      }
      decision = this.engine.handle(req, this.now());
      if (decision.kind === 'ignore') {
        this.counters.ignored++;
        if (decision.notice) this.emit('warning', decision.notice);
        if (this.listenerCount('ignored') > 0) this.emit('ignored', { mac: req.mac, reason: decision.reason });
        return;
      }
      this.send(message, req, decision);
    } catch (e) {
      // A decoder or engine bug must not take the server down: count it and go on.
      this.counters.malformed++;
      this.emit('warning', `request from ${from} failed: ${(e as Error).message}`);
    }
  }

  /** Holds a request until the route toward `dest` is known (bounded), starting the lookup. */
  private awaitRoute(dest: string, msg: Buffer, from: string, routed: boolean): void {
    let waiting = this.awaitingRoute.get(dest);
    if (
      routed ||
      this.closing ||
      (!waiting && this.awaitingRoute.size >= MAX_LOOKUPS) ||
      (waiting && waiting.length >= MAX_WAITING_PER_LOOKUP)
    ) {
      this.counters.routeDrops++; // the client retransmits
      return;
    }
    // dgram hands each message a buffer of its own: keeping it is safe.
    if (waiting) return void waiting.push({ msg, from });
    this.awaitingRoute.set(dest, (waiting = [{ msg, from }]));
    const probe = dgram.createSocket('udp4');
    const done = (local: string | undefined, error?: string) => {
      try {
        probe.close();
      } catch {
        /* closed */
      }
      const queued = this.awaitingRoute.get(dest) ?? [];
      this.awaitingRoute.delete(dest);
      if (this.closing) return;
      if (local === undefined || local === '0.0.0.0') {
        this.counters.routeDrops += queued.length;
        this.emit(
          'warning',
          `no route toward ${dest} to answer ${queued.length} request(s): ${error ?? 'no local address'}`,
        );
        return;
      }
      if (this.routeSource.size >= MAX_ROUTES) this.routeSource.clear();
      this.routeSource.set(dest, local);
      for (const q of queued) this.onMessage(q.msg, q.from, true);
    };
    probe.once('error', (e) => done(undefined, e.message));
    const host = this.sockets[0]!.address().address;
    probe.bind(0, host, () => {
      probe.connect(this.config.relayPort, dest, () => {
        let local: string | undefined;
        try {
          local = probe.address().address;
        } catch {
          /* closed */
        }
        done(local);
      });
    });
  }

  private send(message: DhcpMessage, req: ClientRequest, d: Extract<Decision, { kind: 'reply' }>): void {
    const { bytes, dropped } = buildDhcp({
      op: 2,
      htype: message.htype,
      hlen: message.hlen,
      hops: 0,
      xid: message.xid,
      secs: 0,
      flags: message.flags,
      ciaddr: d.ciaddr,
      yiaddr: d.yiaddr,
      siaddr: '0.0.0.0',
      giaddr: message.giaddr,
      chaddr: message.chaddr, // copied into the reply by the encoder
      options: d.options,
      maxSize: message.options.maxMessageSize() ?? 576,
      required: d.required,
    });
    if (dropped.length) {
      this.counters.droppedOptions += dropped.length;
      this.emit('warning', `reply to ${req.mac} did not fit its maximum size: dropped options ${dropped.join(', ')}`);
    }
    let socket = this.sockets[0]!;
    let to: string;
    let port: number;
    switch (d.destination.kind) {
      case 'relay': {
        [to, port] = [d.destination.address, this.config.relayPort];
        const connected = this.relaySocket(to);
        if (connected) return this.enqueue(connected, true, bytes, port, to, d.type, req, d);
        break;
      }
      case 'unicast':
        [to, port] = [d.destination.address, this.config.clientPort];
        break;
      case 'broadcast': {
        [to, port] = ['255.255.255.255', this.config.clientPort];
        const s = d.destination.subnet && this.broadcastBySubnet.get(d.destination.subnet);
        if (s) socket = s;
        else if (d.destination.subnet && this.sockets[0]!.address().address !== '0.0.0.0') {
          // Bound to one address: the subnet's directed broadcast leaves by the right interface.
          to = intToIp(d.destination.subnet.cidr.broadcast);
        }
        break;
      }
    }
    this.enqueue(socket, false, bytes, port, to, d.type, req, d);
  }

  private enqueue(
    socket: dgram.Socket,
    connected: boolean,
    bytes: Buffer,
    port: number,
    to: string,
    type: number,
    req: ClientRequest,
    d: Extract<Decision, { kind: 'reply' }>,
  ): void {
    const typeName = counterName(type);
    this.counters.sent[typeName] = (this.counters.sent[typeName] ?? 0) + 1;
    (type === 5 ? this.outbox : this.sendNow).push({ socket, connected, bytes, port, to });
    if (type === 5 && this.phones && d.yiaddr !== '0.0.0.0') {
      const lease = this.store.get(d.yiaddr);
      this.phones.bound(d.yiaddr, {
        mac: req.mac,
        ...(req.vendorClass !== undefined ? { vendorClass: req.vendorClass } : {}),
        ...(d.className !== undefined ? { className: d.className } : {}),
        ...(lease ? { expiresAt: lease.expiresAt } : {}),
      });
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushOutbox);
    }
    if (this.listenerCount('reply') > 0) {
      this.emit('reply', {
        type: typeName,
        mac: req.mac,
        yiaddr: d.yiaddr,
        to: `${to}:${port}`,
        ...(d.className ? { className: d.className } : {}),
      });
    }
  }

  private readonly flushOutbox = (): void => {
    this.flushScheduled = false;
    if (this.sendNow.length) {
      const out = this.sendNow;
      this.sendNow = [];
      this.release(out);
    }
    if (!this.syncing && this.outbox.length) this.commit();
  };

  /** Commits the leases of the waiting ACKs, and sends them once the commit is on disk. */
  private commit(): void {
    const out = this.outbox;
    this.outbox = [];
    let committed: boolean;
    try {
      committed = this.store.flush?.() ?? false;
    } catch (e) {
      this.withhold(out, e as Error);
      return;
    }
    if (!committed || !this.store.durable) return this.stored(out);
    // The ACKs wait for the disk; the event loop goes on with the next requests meanwhile.
    this.syncing = true;
    this.store.durable((err) => {
      this.syncing = false;
      if (err) this.withhold(out, err);
      else this.stored(out);
      if (this.outbox.length) this.commit();
    });
  }

  private stored(out: Queued[]): void {
    if (this.storeFailure !== undefined) {
      this.emit('alert', `leases stored again (after: ${this.storeFailure}); DHCP replies resume`);
      this.storeFailure = undefined;
    }
    this.release(out);
  }

  /** Not stored, so not acknowledged: the clients retransmit and a later turn tries again. */
  private withhold(out: Queued[], e: Error): void {
    let count = 0;
    for (const m of out) {
      if ('done' in m) m.done(e);
      else count++;
    }
    this.counters.withheld += count;
    if (this.storeFailure === undefined) {
      this.storeFailure = e.message;
      this.emit(
        'alert',
        `${this.storeFailure}: DHCP replies withheld until the leases can be stored (said once; clients retransmit)`,
      );
    }
  }

  private release(out: Queued[]): void {
    for (const m of out) {
      if ('done' in m) {
        m.done();
        continue;
      }
      try {
        // No callback: dgram then completes a send without a tick of its own; failures arrive as the
        // socket's 'error' event, which is logged.
        if (m.connected) m.socket.send(m.bytes);
        else m.socket.send(m.bytes, m.port, m.to);
      } catch {
        /* closing */
      }
    }
  }

  /** The connected socket for a relay, once open; starts opening it on first use (at most MAX_RELAY_SOCKETS). */
  private relaySocket(address: string): dgram.Socket | undefined {
    const known = this.relaySockets.get(address);
    if (known !== undefined) return known ?? undefined;
    if (this.closing || this.relaySocketsOff || this.relaySockets.size >= MAX_RELAY_SOCKETS) return undefined;
    this.relaySockets.set(address, null);
    const main = this.sockets[0]!.address();
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const give = (e: NodeJS.ErrnoException) => {
      // Stay on the shared socket for this relay.
      s.close();
      if (e.code === 'EACCES' || e.code === 'EPERM') {
        // The port needs privileges the process gave up (serve --user): no more of these sockets.
        if (!this.relaySocketsOff)
          this.emit(
            'warning',
            `cannot bind another socket on port ${main.port} (${e.code}: privileges dropped?): replies to relays ` +
              'leave through the listening socket',
          );
        this.relaySocketsOff = true;
        this.relaySockets.delete(address);
        return;
      }
      this.emit('warning', `socket to relay ${address}: ${e.message}`);
    };
    s.once('error', give);
    s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address));
    s.bind(main.port, main.address, () => {
      s.connect(this.config.relayPort, address, () => {
        s.off('error', give);
        try {
          const local = s.address().address;
          if (local !== '0.0.0.0' && !this.routeSource.has(address) && this.routeSource.size < MAX_ROUTES)
            this.routeSource.set(address, local);
        } catch {
          /* closed meanwhile */
        }
        s.on('error', (e) => this.emit('warning', `socket to relay ${address}: ${e.message}`));
        if (this.closing) s.close();
        else this.relaySockets.set(address, s);
      });
    });
    return undefined;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.flushOutbox();
    for (const s of this.relaySockets.values()) if (s) this.sockets.push(s);
    this.relaySockets.clear();
    await Promise.all(this.sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.sockets.length = 0;
    this.awaitingRoute.clear();
    try {
      this.store.close();
    } catch (e) {
      // Nothing unstored was acknowledged; say what was lost and stop cleanly (a full disk at SIGTERM).
      this.emit('alert', `leases not stored at shutdown: ${(e as Error).message}`);
    }
  }
}

/** Where the server listens (compileDhcpConfig has checked `listen` already). */
const listenOf = (c: { listen?: string }): HostPort =>
  parseHostPort(c.listen ?? '0.0.0.0:67', '0.0.0.0', 'dhcp.listen');

/** The engine's view of a decoded client message; undefined when it is not a usable DHCP request. */
export function toRequest(m: DhcpMessage): ClientRequest | undefined {
  const o = m.options;
  const messageType = o.messageType();
  if (messageType === undefined) return undefined;
  const relay = o.relayAgent();
  const clientId = o.clientId();
  const req: ClientRequest = {
    messageType,
    xid: m.xid,
    flags: m.flags,
    ciaddr: m.ciaddr,
    giaddr: m.giaddr,
    mac: m.mac,
    requestedOptions: o.requestedOptions(),
    userClasses: o.userClasses(),
  };
  if (clientId) req.clientId = clientId.toString('hex');
  const requested = o.requestedAddress();
  if (requested) req.requestedAddress = requested;
  const serverId = o.serverId();
  if (serverId) req.serverId = serverId;
  const vendorClass = o.vendorClass();
  if (vendorClass !== undefined) req.vendorClass = vendorClass;
  const hostname = o.hostname();
  if (hostname) req.hostname = hostname;
  if (relay) {
    const raw = o.raw(82);
    if (raw) req.relayAgent = Buffer.from(raw);
    if (relay.circuitId) req.circuitId = relay.circuitId.toString('latin1');
    const link = relay.subOptions.find((s) => s.code === 5);
    if (link && link.value.length === 4) req.linkSelection = intToIp(link.value.readUInt32BE(0));
  }
  return req;
}
