/**
 * The DHCP server's decisions (RFC 2131 section 4.3): which subnet, which address, which options,
 * OFFER / ACK / NAK / silence, and where the reply goes. No sockets and no clock of its own: requests
 * come in already decoded, `now` is passed in, and leases live behind the synchronous LeaseStore.
 */
import type { RE2JS } from 're2js';
import { releaseChange } from '../leases/query.js';
import type { Lease, LeaseStore } from '../leases/store.js';
import { type Cidr, inCidr, intToIp, ipToInt } from '@bootwire/core';
import { PoolAllocator } from './pool-allocator.js';
import { MessageType } from '../codec/registry.js';

export { MessageType };

/** What the engine needs of a client message (the edge extracts it from the decoded packet). */
export interface ClientRequest {
  messageType: number;
  xid: number;
  flags: number;
  ciaddr: string;
  giaddr: string;
  mac: string;
  /** Lowercase hex of option 61, when sent. */
  clientId?: string;
  requestedAddress?: string;
  serverId?: string;
  /** Option 55, in the client's order. */
  requestedOptions: number[];
  vendorClass?: string;
  userClasses: string[];
  hostname?: string;
  /** Option 82 sub-option 1 as text, and the whole option to echo to the relay. */
  circuitId?: string;
  relayAgent?: Buffer;
  /** Option 82 sub-option 5 (link selection), when present. */
  linkSelection?: string;
  /**
   * The server's address that the reply leaves from toward the relay or client (the edge finds it
   * with a route lookup): option 54 when neither `serverId` nor an address in the subnet says more.
   */
  localAddress?: string;
}

/** `regex` is RE2 (re2js): linear in the input whatever the pattern, so no client can stall the server. */
export type TextMatch = { exact: string } | { prefix: string } | { regex: RE2JS };

export interface CompiledClass {
  name: string;
  vendorClass?: TextMatch;
  userClass?: TextMatch;
  macPrefix?: string;
  clientId?: TextMatch;
  circuitId?: TextMatch;
  options: Map<number, Buffer>;
  alwaysSend: Set<number>;
}

export interface CompiledSubnet {
  cidr: Cidr;
  /** Inclusive [first, last] address ranges. */
  pool: [number, number][];
  leaseSeconds: number;
  options: Map<number, Buffer>;
  alwaysSend: Set<number>;
  /** MAC → address, and address → MAC. */
  reservations: Map<string, number>;
  reservedAddresses: Map<number, string>;
  /** The server's own address in this subnet, if it has one. */
  localAddress?: number;
  /** NAK a REQUEST from a client without a record instead of staying silent (ISC dhcpd's `authoritative`). */
  authoritative: boolean;
}

export interface EngineConfig {
  subnets: CompiledSubnet[];
  classes: CompiledClass[];
  /** Option 54; falls back to the subnet's local address, then to `listenAddress`. */
  serverId?: string;
  /**
   * The address the server listens on, when it is one address: the server identifier of subnets it
   * has no address in (a relayed site, or a simulation on loopback). Every OFFER and ACK must carry
   * option 54 (RFC 2131 4.3.1): clients ignore an OFFER without one.
   */
  listenAddress?: string;
  /**
   * Every address of the server (the machine's, the listen address, serverId): a REQUEST whose
   * option 54 names any of them is for this server.
   */
  ownAddresses: Set<number>;
  offerMs: number;
  declineMs: number;
}

/** At most this many quarantined (declined) addresses per client at once. */
export const MAX_DECLINED_PER_CLIENT = 4;
/** At most one address in this many of a pool quarantined at once (and at least one). */
export const DECLINED_POOL_SHARE = 8;

export type Destination =
  | { kind: 'relay'; address: string }
  | { kind: 'unicast'; address: string }
  | { kind: 'broadcast'; subnet: CompiledSubnet | undefined };

export type Decision =
  | {
      kind: 'reply';
      type: number;
      yiaddr: string;
      ciaddr: string;
      /** Options in the order to send them: 53, 54, lease times, then what the client asked for. */
      options: [number, Buffer][];
      /** Options that may be dropped last if the reply does not fit (everything but the first ones). */
      required: number[];
      destination: Destination;
      subnet?: CompiledSubnet;
      className?: string;
    }
  | {
      kind: 'ignore';
      reason: string;
      /** Something for the operator, said once (a pool that ran out), where `reason` is per request. */
      notice?: string;
    };

const u32 = (n: number) => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};
const ipBytes = (ip: string | number) => u32(typeof ip === 'number' ? ip : ipToInt(ip));

function matches(m: TextMatch | undefined, value: string | undefined): boolean {
  if (m === undefined) return true;
  if (value === undefined) return false;
  if ('exact' in m) return value === m.exact;
  if ('prefix' in m) return value.startsWith(m.prefix);
  return m.regex.test(value);
}

/** What `leaseSummary` says of one subnet. */
export interface SubnetLeaseSummary {
  subnet: string;
  /** Pool addresses the server can hand out (network, broadcast, its own and reserved ones left out). */
  poolSize: number;
  /** Pool addresses bound to a client or on offer now. */
  inUse: number;
  offered: number;
  states: Record<'bound' | 'expired' | 'released' | 'declined', number>;
}

/** The per-subnet state the engine keeps beside the store. */
interface PoolState {
  alloc: PoolAllocator;
  /** Lease rows in this pool (for the heap's rebuild bound). */
  rows: number;
  declined: number;
  exhausted: boolean;
}

export class DhcpEngine {
  /** Addresses offered and not yet requested: address → client and expiry. In memory only. */
  private readonly offers = new Map<number, { clientKey: string; expiresAt: number }>();
  private readonly offerOf = new Map<string, number>();
  /** Offers in the order they expire (all last offerMs): [address, expiresAt] pairs, oldest first. */
  private offerQueue: number[] = [];
  private offerHead = 0;
  /** Quarantined addresses in the order they leave quarantine (declineMs each): [address, expiresAt]. */
  private declineQueue: number[] = [];
  private declineHead = 0;
  private readonly declinedBy = new Map<string, number>();
  private readonly pools = new Map<CompiledSubnet, PoolState>();
  private readonly templates = new Map<CompiledSubnet, Map<CompiledClass | null, ReplyTemplate>>();
  /** Option 54's bytes per server address (a handful). */
  private readonly idBytes = new Map<string, Buffer>();

  /**
   * `previous`: the engine this one replaces (a configuration reload). Leases are in the store and
   * stay; the offers it made, which live only in memory, are carried over when their address is still
   * in a pool, so a client between its OFFER and its REQUEST is not turned away by a reload.
   */
  constructor(
    private readonly cfg: EngineConfig,
    readonly store: LeaseStore,
    previous?: DhcpEngine,
  ) {
    for (const s of cfg.subnets) {
      const alloc = new PoolAllocator(s.pool);
      for (const ip of [
        s.cidr.network,
        s.cidr.broadcast,
        ...(s.localAddress !== undefined ? [s.localAddress] : []),
        ...s.reservedAddresses.keys(),
      ])
        alloc.exclude(ip);
      this.pools.set(s, { alloc, rows: 0, declined: 0, exhausted: false });
    }
    const declined: Lease[] = [];
    for (const l of store.all()) {
      this.track(l);
      if (l.state === 'declined') declined.push(l);
    }
    declined.sort((a, b) => a.expiresAt - b.expiresAt);
    for (const l of declined) this.quarantined(l);
    if (previous) this.adoptOffers(previous);
  }

  /** The live offers of `previous`, in their expiry order, that fall in one of this engine's pools. */
  private adoptOffers(previous: DhcpEngine): void {
    const q = previous.offerQueue;
    for (let i = previous.offerHead; i < q.length; i += 2) {
      const ip = q[i]!;
      const at = q[i + 1]!;
      const o = previous.offers.get(ip);
      if (!o || o.expiresAt !== at) continue; // superseded entry
      const p = this.poolOf(ip);
      if (!p) continue;
      this.offers.set(ip, { clientKey: o.clientKey, expiresAt: at });
      this.offerOf.set(o.clientKey, ip);
      this.offerQueue.push(ip, at);
      p.pool.alloc.markUsed(p.i);
    }
  }

  /**
   * An operator frees an address (`bootwire leases release`): a bound lease becomes released now (its
   * address goes back to the pool, behind the never-used ones, and its client can still renew it while
   * nobody else took it); a DECLINE quarantine is lifted (the row goes). The change is in the store,
   * to be committed like any other.
   */
  releaseLease(address: string, now: number): { ok: true; lease: Lease } | { ok: false; reason: string } {
    const lease = this.store.get(address);
    if (!lease) return { ok: false, reason: `no lease for ${address}` };
    const change = releaseChange(lease, now);
    if (!change.ok) return change;
    const ip = ipToInt(address);
    if (this.offers.has(ip)) this.withdrawOffer(ip);
    if (change.row === 'delete') {
      this.prune(lease);
      return { ok: true, lease: { ...lease, state: 'released', expiresAt: now } };
    }
    this.put(change.row);
    return { ok: true, lease: change.row };
  }

  /**
   * Per subnet: the lease rows by state (`bound`, `expired`, `released`, `declined`), addresses on
   * offer, and the pool's size and use (bound or offered pool addresses over the usable ones). One
   * pass over the leases held in memory, no copies: for scrapes, not for the request path.
   */
  leaseSummary(now: number): SubnetLeaseSummary[] {
    const out = new Map<CompiledSubnet, SubnetLeaseSummary>();
    for (const [s, p] of this.pools) {
      out.set(s, {
        subnet: s.cidr.text,
        poolSize: p.alloc.usable,
        inUse: 0,
        offered: 0,
        states: { bound: 0, expired: 0, released: 0, declined: 0 },
      });
    }
    const visit = (l: Readonly<Lease>) => {
      const ip = ipToInt(l.address);
      const subnet = this.subnetOf(ip);
      const sum = subnet && out.get(subnet);
      if (!sum) return;
      const state = l.state === 'bound' && l.expiresAt <= now ? 'expired' : l.state;
      sum.states[state]++;
      if (state === 'bound' && this.poolOf(ip)) sum.inUse++;
    };
    if (this.store.forEach) this.store.forEach(visit);
    else for (const l of this.store.all()) visit(l);
    for (const [ip, o] of this.offers) {
      if (o.expiresAt <= now) continue;
      const p = this.poolOf(ip);
      const sum = p && out.get(p.subnet);
      if (!sum) continue;
      sum.offered++;
      const row = this.store.get(intToIp(ip));
      if (!row || row.state !== 'bound' || row.expiresAt <= now) sum.inUse++; // not counted as bound already
    }
    return [...out.values()];
  }

  /** Finds the subnet a request belongs to (RFC 2131 4.3.1; RFC 3527 link selection first). */
  subnetFor(req: ClientRequest): CompiledSubnet | undefined {
    if (req.linkSelection) return this.subnetOf(ipToInt(req.linkSelection));
    if (req.giaddr !== '0.0.0.0') return this.subnetOf(ipToInt(req.giaddr));
    if (req.ciaddr !== '0.0.0.0') return this.subnetOf(ipToInt(req.ciaddr));
    // A directly attached client: the subnet the server has an address in, or the only one.
    return (
      this.cfg.subnets.find((s) => s.localAddress !== undefined) ??
      (this.cfg.subnets.length === 1 ? this.cfg.subnets[0] : undefined)
    );
  }

  private subnetOf(ip: number): CompiledSubnet | undefined {
    return this.cfg.subnets.find((s) => inCidr(s.cidr, ip));
  }

  classFor(req: ClientRequest): CompiledClass | undefined {
    return this.cfg.classes.find(
      (c) =>
        matches(c.vendorClass, req.vendorClass) &&
        (c.userClass === undefined || req.userClasses.some((u) => matches(c.userClass, u))) &&
        (c.macPrefix === undefined || req.mac.startsWith(c.macPrefix)) &&
        matches(c.clientId, req.clientId) &&
        matches(c.circuitId, req.circuitId),
    );
  }

  handle(req: ClientRequest, now: number): Decision {
    const key = req.clientId ? `id:${req.clientId}` : `mac:${req.mac}`;
    this.expire(now);
    switch (req.messageType) {
      case MessageType.DISCOVER:
        return this.discover(req, key, now);
      case MessageType.REQUEST:
        return this.request(req, key, now);
      case MessageType.DECLINE:
        return this.decline(req, key, now);
      case MessageType.RELEASE:
        return this.release(req, key, now);
      case MessageType.INFORM:
        return this.inform(req);
      default:
        return { kind: 'ignore', reason: `message type ${req.messageType} is not for a server` };
    }
  }

  /** Option 54 for a reply in `subnet`: configured, else the server's address there, else where the reply leaves. */
  serverIdFor(subnet: CompiledSubnet | undefined, req: ClientRequest): string | undefined {
    const id =
      this.cfg.serverId ??
      (subnet?.localAddress !== undefined
        ? intToIp(subnet.localAddress)
        : (this.cfg.listenAddress ?? req.localAddress));
    return id === '0.0.0.0' ? undefined : id;
  }

  /** Does option 54 of a REQUEST name this server (any of its addresses)? */
  private isOurs(serverId: string, subnet: CompiledSubnet | undefined, req: ClientRequest): boolean {
    return (
      this.cfg.ownAddresses.has(ipToInt(serverId)) ||
      serverId === req.localAddress ||
      serverId === this.serverIdFor(subnet, req)
    );
  }

  /** Ends offers and quarantines whose time is up (both queues are in expiry order). */
  private expire(now: number): void {
    const q = this.offerQueue;
    while (this.offerHead < q.length && q[this.offerHead + 1]! <= now) {
      const ip = q[this.offerHead]!;
      const at = q[this.offerHead + 1]!;
      this.offerHead += 2;
      if (this.offers.get(ip)?.expiresAt === at) this.withdrawOffer(ip);
    }
    if (this.offerHead > 2048 && this.offerHead * 2 > q.length) {
      this.offerQueue = q.slice(this.offerHead);
      this.offerHead = 0;
    }
    const d = this.declineQueue;
    while (this.declineHead < d.length && d[this.declineHead + 1]! <= now) {
      const ip = d[this.declineHead]!;
      const at = d[this.declineHead + 1]!;
      this.declineHead += 2;
      const row = this.store.get(intToIp(ip));
      if (row && row.state === 'declined' && row.expiresAt === at) this.prune(row);
    }
    if (this.declineHead > 2048 && this.declineHead * 2 > d.length) {
      this.declineQueue = d.slice(this.declineHead);
      this.declineHead = 0;
    }
  }

  /** The pool and index of an address, when it is in a pool. */
  private poolOf(ip: number): { subnet: CompiledSubnet; pool: PoolState; i: number } | undefined {
    const subnet = this.subnetOf(ip);
    const pool = subnet && this.pools.get(subnet);
    if (!subnet || !pool) return undefined;
    const i = pool.alloc.indexOf(ip);
    return i < 0 || pool.alloc.isExcluded(i) ? undefined : { subnet, pool, i };
  }

  /** Tells the allocator about a lease row (new or changed). */
  private track(l: Lease, isNew = true): void {
    const p = this.poolOf(ipToInt(l.address));
    if (!p) return;
    if (isNew) p.pool.rows++;
    p.pool.alloc.markUsed(p.i);
    p.pool.alloc.pushExpiry(l.expiresAt, p.i);
    // Renewals leave stale heap entries behind: start again from the rows when they pile up.
    if (p.pool.alloc.heapSize > 2 * p.pool.rows + 1024) {
      const entries: [number, number][] = [];
      for (const r of this.store.all()) {
        const q = this.poolOf(ipToInt(r.address));
        if (q && q.subnet === p.subnet) entries.push([r.expiresAt, q.i]);
      }
      p.pool.alloc.rebuildHeap(entries);
    }
  }

  private put(l: Lease): void {
    const isNew = this.store.get(l.address) === undefined;
    this.store.put(l);
    this.track(l, isNew);
  }

  private quarantined(l: Lease): void {
    this.declineQueue.push(ipToInt(l.address), l.expiresAt);
    this.declinedBy.set(l.clientKey, (this.declinedBy.get(l.clientKey) ?? 0) + 1);
    const p = this.poolOf(ipToInt(l.address));
    if (p) p.pool.declined++;
  }

  /** A quarantine that is over: the row goes, the address is free again. */
  private prune(row: Lease): void {
    this.store.delete(row.address);
    const n = (this.declinedBy.get(row.clientKey) ?? 1) - 1;
    if (n > 0) this.declinedBy.set(row.clientKey, n);
    else this.declinedBy.delete(row.clientKey);
    const ip = ipToInt(row.address);
    const p = this.poolOf(ip);
    if (!p) return;
    p.pool.declined--;
    p.pool.rows--;
    if (!this.offers.has(ip)) p.pool.alloc.markFree(p.i);
  }

  /** Is `ip` usable by this client now? */
  private available(subnet: CompiledSubnet, ip: number, key: string, mac: string, now: number): boolean {
    const owner = subnet.reservedAddresses.get(ip);
    if (owner !== undefined) {
      if (owner !== mac) return false;
    } else if (!subnet.pool.some(([a, b]) => ip >= a && ip <= b)) return false;
    if (ip === subnet.cidr.network || ip === subnet.cidr.broadcast || ip === subnet.localAddress) return false;
    const offer = this.offers.get(ip);
    if (offer && offer.clientKey !== key && offer.expiresAt > now) return false;
    const lease = this.store.get(intToIp(ip));
    if (!lease) return true;
    if (lease.state === 'declined') return lease.expiresAt <= now;
    return lease.clientKey === key || lease.expiresAt <= now || lease.state === 'released';
  }

  private choose(subnet: CompiledSubnet, req: ClientRequest, key: string, now: number): number | undefined {
    const reserved = subnet.reservations.get(req.mac);
    if (reserved !== undefined) return reserved;
    // The client's own lease (even released or expired) keeps the client on its address.
    const own = this.store.byClient(key, subnet.cidr.text);
    if (own && own.state !== 'declined' && this.available(subnet, ipToInt(own.address), key, req.mac, now))
      return ipToInt(own.address);
    const offered = this.offerOf.get(key);
    if (offered !== undefined && this.available(subnet, offered, key, req.mac, now)) return offered;
    if (req.requestedAddress) {
      const r = ipToInt(req.requestedAddress);
      if (inCidr(subnet.cidr, r) && this.available(subnet, r, key, req.mac, now)) return r;
    }
    // A never-used address, else the one whose lease ran out first (released and expired leases
    // are taken only when nothing never-used is left, so clients tend to keep their addresses).
    const { alloc } = this.pools.get(subnet)!;
    const i = alloc.nextFree();
    if (i >= 0) return alloc.ipAt(i);
    const j = alloc.popExpired(now, (idx, expiresAt) => {
      const ip = alloc.ipAt(idx);
      const row = this.store.get(intToIp(ip));
      // Stale (the lease changed since), or offered to someone: re-queued when that offer ends.
      return row !== undefined && row.expiresAt === expiresAt && this.available(subnet, ip, key, req.mac, now);
    });
    return j >= 0 ? alloc.ipAt(j) : undefined;
  }

  private discover(req: ClientRequest, key: string, now: number): Decision {
    const subnet = this.subnetFor(req);
    if (!subnet) return { kind: 'ignore', reason: 'no subnet for this client' };
    const sid = this.serverIdFor(subnet, req);
    if (sid === undefined)
      return { kind: 'ignore', reason: 'no server identifier (option 54) for this reply: set dhcp.serverId' };
    const ip = this.choose(subnet, req, key, now);
    const pool = this.pools.get(subnet)!;
    if (ip === undefined) {
      const reason = `pool of ${subnet.cidr.text} exhausted`;
      if (pool.exhausted) return { kind: 'ignore', reason };
      pool.exhausted = true;
      return {
        kind: 'ignore',
        reason,
        notice:
          `pool of ${subnet.cidr.text} exhausted: all ${pool.alloc.size.toLocaleString('en-US')} addresses ` +
          'leased, offered or quarantined; DISCOVERs from it go unanswered until one is free (said once until then)',
      };
    }
    pool.exhausted = false;
    this.offer(ip, key, now);
    return this.reply(MessageType.OFFER, req, subnet, intToIp(ip), true, sid);
  }

  private offer(ip: number, key: string, now: number): void {
    const previous = this.offerOf.get(key);
    if (previous !== undefined && previous !== ip) this.withdrawOffer(previous);
    const expiresAt = now + this.cfg.offerMs;
    this.offers.set(ip, { clientKey: key, expiresAt });
    this.offerOf.set(key, ip);
    this.offerQueue.push(ip, expiresAt);
    const p = this.poolOf(ip);
    if (p) p.pool.alloc.markUsed(p.i);
  }

  /** The offer ends without a lease: the address goes back to where it came from. */
  private withdrawOffer(ip: number): void {
    const o = this.offers.get(ip);
    if (!o) return;
    this.offers.delete(ip);
    if (this.offerOf.get(o.clientKey) === ip) this.offerOf.delete(o.clientKey);
    const p = this.poolOf(ip);
    if (!p) return;
    const row = this.store.get(intToIp(ip));
    if (row) p.pool.alloc.pushExpiry(row.expiresAt, p.i);
    else p.pool.alloc.markFree(p.i);
  }

  /** The offer became a lease. */
  private takeOffer(ip: number): void {
    const o = this.offers.get(ip);
    if (!o) return;
    this.offers.delete(ip);
    if (this.offerOf.get(o.clientKey) === ip) this.offerOf.delete(o.clientKey);
  }

  /**
   * REQUEST (RFC 2131 4.3.2). SELECTING names a server; INIT-REBOOT names an address; RENEWING and
   * REBINDING carry ciaddr. A client this server has no record of (no offer, no lease, no
   * reservation) gets silence, or a NAK on an `authoritative` subnet; an address wrong for the
   * subnet gets a NAK; an address that is not the client's gets a NAK.
   */
  private request(req: ClientRequest, key: string, now: number): Decision {
    const subnet = this.subnetFor(req);
    if (req.serverId !== undefined && !this.isOurs(req.serverId, subnet, req)) {
      // SELECTING another server: our offer is withdrawn.
      const offered = this.offerOf.get(key);
      if (offered !== undefined) this.withdrawOffer(offered);
      return { kind: 'ignore', reason: 'client chose another server' };
    }
    const wanted = req.requestedAddress ?? (req.ciaddr !== '0.0.0.0' ? req.ciaddr : undefined);
    if (!wanted) return { kind: 'ignore', reason: 'REQUEST names no address' };
    if (!subnet) return { kind: 'ignore', reason: 'no subnet for this client' };
    const sid = this.serverIdFor(subnet, req);
    if (sid === undefined)
      return { kind: 'ignore', reason: 'no server identifier (option 54) for this reply: set dhcp.serverId' };
    const ip = ipToInt(wanted);
    if (!inCidr(subnet.cidr, ip)) return this.nak(req, subnet, sid, `${wanted} is not on ${subnet.cidr.text}`);
    const reserved = subnet.reservations.get(req.mac);
    const own = this.store.byClient(key, subnet.cidr.text);
    const record = own && own.state !== 'declined' ? ipToInt(own.address) : undefined;
    const offered = this.offerOf.get(key);
    if (reserved === undefined && record === undefined && offered === undefined) {
      if (subnet.authoritative) return this.nak(req, subnet, sid, `no record of this client on ${subnet.cidr.text}`);
      return { kind: 'ignore', reason: 'no record of this client (RFC 2131 4.3.2: silence)' };
    }
    if (reserved !== undefined && reserved !== ip)
      return this.nak(req, subnet, sid, `${req.mac} is reserved ${intToIp(reserved)}`);
    if (ip !== reserved && ip !== record && ip !== offered)
      return this.nak(req, subnet, sid, `${wanted} is not this client's address`);
    if (!this.available(subnet, ip, key, req.mac, now))
      return this.nak(req, subnet, sid, `${wanted} is not available to this client`);
    this.takeOffer(ip);
    if (offered !== undefined && offered !== ip) this.withdrawOffer(offered);
    const lease: Lease = {
      address: wanted,
      clientKey: key,
      mac: req.mac,
      subnet: subnet.cidr.text,
      state: 'bound',
      expiresAt: now + subnet.leaseSeconds * 1000,
      ...(req.hostname ? { hostname: req.hostname } : {}),
    };
    this.put(lease); // committed before the ACK leaves
    return this.reply(MessageType.ACK, req, subnet, wanted, true, sid);
  }

  /**
   * DECLINE: only from the client the address was offered or leased to, only for a pool address, and
   * at most MAX_DECLINED_PER_CLIENT per client and one in DECLINED_POOL_SHARE of the pool at once.
   */
  private decline(req: ClientRequest, key: string, now: number): Decision {
    if (!req.requestedAddress) return { kind: 'ignore', reason: 'DECLINE without address' };
    const ip = ipToInt(req.requestedAddress);
    const p = this.poolOf(ip);
    if (!p) return { kind: 'ignore', reason: `DECLINE for ${req.requestedAddress}, not a pool address` };
    const offer = this.offers.get(ip);
    const lease = this.store.get(req.requestedAddress);
    const offeredToClient = offer !== undefined && offer.clientKey === key;
    const leasedToClient =
      lease !== undefined && lease.clientKey === key && lease.state === 'bound' && lease.expiresAt > now;
    if (!offeredToClient && !leasedToClient)
      return { kind: 'ignore', reason: `DECLINE for ${req.requestedAddress}, not offered or leased to this client` };
    if ((this.declinedBy.get(key) ?? 0) >= MAX_DECLINED_PER_CLIENT)
      return {
        kind: 'ignore',
        reason: `DECLINE not stored: this client already has ${MAX_DECLINED_PER_CLIENT} addresses quarantined`,
      };
    if (p.pool.declined >= Math.max(1, Math.floor(p.pool.alloc.size / DECLINED_POOL_SHARE)))
      return { kind: 'ignore', reason: `DECLINE not stored: the quarantine of ${p.subnet.cidr.text} is full` };
    this.takeOffer(ip);
    const row: Lease = {
      address: req.requestedAddress,
      clientKey: key,
      mac: req.mac,
      subnet: p.subnet.cidr.text,
      state: 'declined',
      expiresAt: now + this.cfg.declineMs,
    };
    this.put(row);
    this.quarantined(row);
    return { kind: 'ignore', reason: `${req.requestedAddress} declined: quarantined` };
  }

  private release(req: ClientRequest, key: string, now: number): Decision {
    const lease = this.store.get(req.ciaddr);
    if (!lease || lease.clientKey !== key || lease.state !== 'bound')
      return { kind: 'ignore', reason: 'RELEASE of no lease of this client' };
    this.put({ ...lease, state: 'released', expiresAt: now });
    return { kind: 'ignore', reason: `${req.ciaddr} released` };
  }

  private inform(req: ClientRequest): Decision {
    const subnet = this.subnetFor(req);
    if (!subnet) return { kind: 'ignore', reason: 'no subnet for this client' };
    const sid = this.serverIdFor(subnet, req);
    if (sid === undefined)
      return { kind: 'ignore', reason: 'no server identifier (option 54) for this reply: set dhcp.serverId' };
    return this.reply(MessageType.ACK, req, subnet, '0.0.0.0', false, sid);
  }

  private sidBytes(sid: string): Buffer {
    let b = this.idBytes.get(sid);
    if (!b) {
      b = ipBytes(sid);
      if (this.idBytes.size < 256) this.idBytes.set(sid, b);
    }
    return b;
  }

  private nak(req: ClientRequest, subnet: CompiledSubnet, sid: string, message: string): Decision {
    const options: [number, Buffer][] = [
      [53, TYPE_BYTE[MessageType.NAK]!],
      [54, this.sidBytes(sid)],
      [56, Buffer.from(message)],
    ];
    if (req.relayAgent) options.push([82, req.relayAgent]);
    // A NAK is broadcast (or sent to the relay, asking it to broadcast): the client may have no address.
    const destination: Destination =
      req.giaddr !== '0.0.0.0' ? { kind: 'relay', address: req.giaddr } : { kind: 'broadcast', subnet };
    return {
      kind: 'reply',
      type: MessageType.NAK,
      yiaddr: '0.0.0.0',
      ciaddr: '0.0.0.0',
      options,
      required: [53, 54],
      destination,
      subnet,
    };
  }

  /** What a subnet (and a class) offers, merged once per pair and reused for every reply. */
  private offerFor(subnet: CompiledSubnet, klass: CompiledClass | undefined): ReplyTemplate {
    let byClass = this.templates.get(subnet);
    if (!byClass) this.templates.set(subnet, (byClass = new Map<CompiledClass | null, ReplyTemplate>()));
    let t = byClass.get(klass ?? null);
    if (t) return t;
    const available = new Map(subnet.options);
    if (!available.has(1)) available.set(1, u32(subnet.cidr.mask));
    const always = new Set(subnet.alwaysSend);
    if (klass) {
      for (const [c, v] of klass.options) available.set(c, v);
      for (const c of klass.alwaysSend) always.add(c);
    }
    t = {
      available,
      always: [...always].filter((c) => available.has(c)),
      leaseTime: u32(subnet.leaseSeconds),
      renewal: u32(Math.floor(subnet.leaseSeconds / 2)),
      rebinding: u32(Math.floor((subnet.leaseSeconds * 7) / 8)),
    };
    byClass.set(klass ?? null, t);
    return t;
  }

  private reply(
    type: number,
    req: ClientRequest,
    subnet: CompiledSubnet,
    yiaddr: string,
    withLease: boolean,
    sid: string,
  ): Decision {
    const klass = this.classFor(req);
    const t = this.offerFor(subnet, klass);
    // Option values are shared, read-only Buffers (the encoder copies them into the packet).
    const options: [number, Buffer][] = [
      [53, TYPE_BYTE[type]!],
      [54, this.sidBytes(sid)],
    ];
    if (withLease) {
      options.push([51, t.leaseTime]);
      if (req.requestedOptions.includes(58)) options.push([58, t.renewal]);
      if (req.requestedOptions.includes(59)) options.push([59, t.rebinding]);
    }
    const required = options.map(([c]) => c);
    const sent = (code: number) => {
      for (let i = 0; i < options.length; i++) if (options[i]![0] === code) return true;
      return false;
    };
    for (const code of req.requestedOptions) {
      const v = t.available.get(code);
      if (v !== undefined && !sent(code)) options.push([code, v]);
    }
    // The subnet mask goes to everyone who gets an address, asked for or not.
    if (withLease && !sent(1)) options.push([1, t.available.get(1)!]);
    for (const code of t.always) if (!sent(code)) options.push([code, t.available.get(code)!]);
    if (req.relayAgent) {
      options.push([82, req.relayAgent]); // RFC 3046: echoed, last
      required.push(82);
    }
    let destination: Destination;
    if (req.giaddr !== '0.0.0.0') destination = { kind: 'relay', address: req.giaddr };
    else if (req.ciaddr !== '0.0.0.0') destination = { kind: 'unicast', address: req.ciaddr };
    else destination = { kind: 'broadcast', subnet };
    const d: Decision = {
      kind: 'reply',
      type,
      yiaddr,
      ciaddr: type === MessageType.ACK ? req.ciaddr : '0.0.0.0',
      options,
      required,
      destination,
      subnet,
    };
    if (klass) d.className = klass.name;
    return d;
  }
}

interface ReplyTemplate {
  available: Map<number, Buffer>;
  /** Always-send codes that have a value. */
  always: number[];
  leaseTime: Buffer;
  renewal: Buffer;
  rebinding: Buffer;
}

/** Option 53's value for each message type, shared by every reply. */
const TYPE_BYTE: Buffer[] = Array.from({ length: 9 }, (_, t) => Buffer.from([t]));
