/**
 * The DHCP server's decisions (RFC 2131 section 4.3): which subnet, which address, which options,
 * OFFER / ACK / NAK / silence, and where the reply goes. No sockets and no clock of its own: requests
 * come in already decoded, `now` is passed in, and leases live behind the synchronous LeaseStore.
 */
import type { Lease, LeaseStore } from '../leases/store.js';
import { type Cidr, inCidr, intToIp, ipToInt } from '../../util/ipv4.js';

export const MessageType = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;

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
}

export type TextMatch = { exact: string } | { prefix: string } | { regex: RegExp };

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
  offerMs: number;
  declineMs: number;
}

export type Destination = { kind: 'relay'; address: string } | { kind: 'unicast'; address: string } | { kind: 'broadcast'; subnet: CompiledSubnet | undefined };

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
  | { kind: 'ignore'; reason: string };

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

export class DhcpEngine {
  /** Addresses offered and not yet requested: address → client and expiry. In memory only. */
  private readonly offers = new Map<number, { clientKey: string; expiresAt: number }>();
  private readonly offerOf = new Map<string, number>();
  private readonly cursor = new Map<CompiledSubnet, number>();
  private readonly templates = new Map<CompiledSubnet, Map<CompiledClass | null, ReplyTemplate>>();

  constructor(
    private readonly cfg: EngineConfig,
    readonly store: LeaseStore,
  ) {}

  /** Finds the subnet a request belongs to (RFC 2131 4.3.1; RFC 3527 link selection first). */
  subnetFor(req: ClientRequest): CompiledSubnet | undefined {
    const pick = (ip: string) => {
      const n = ipToInt(ip);
      return this.cfg.subnets.find((s) => inCidr(s.cidr, n));
    };
    if (req.linkSelection) return pick(req.linkSelection);
    if (req.giaddr !== '0.0.0.0') return pick(req.giaddr);
    if (req.ciaddr !== '0.0.0.0') return pick(req.ciaddr);
    // A directly attached client: the subnet the server has an address in, or the only one.
    return this.cfg.subnets.find((s) => s.localAddress !== undefined) ?? (this.cfg.subnets.length === 1 ? this.cfg.subnets[0] : undefined);
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

  private serverIdOf(subnet: CompiledSubnet): string | undefined {
    return this.cfg.serverId ?? (subnet.localAddress !== undefined ? intToIp(subnet.localAddress) : this.cfg.listenAddress);
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
    if (own && own.state !== 'declined' && this.available(subnet, ipToInt(own.address), key, req.mac, now)) return ipToInt(own.address);
    const offered = this.offerOf.get(key);
    if (offered !== undefined && this.available(subnet, offered, key, req.mac, now)) return offered;
    if (req.requestedAddress) {
      const r = ipToInt(req.requestedAddress);
      if (inCidr(subnet.cidr, r) && this.available(subnet, r, key, req.mac, now)) return r;
    }
    // Free addresses, scanning on from where the last search stopped; released and expired leases
    // are taken only when nothing never-used is left, so clients tend to keep their addresses.
    const size = subnet.pool.reduce((n, [a, b]) => n + b - a + 1, 0);
    const start = this.cursor.get(subnet) ?? 0;
    let fallback: number | undefined;
    for (let i = 0; i < size; i++) {
      const ip = nth(subnet.pool, (start + i) % size);
      if (!this.available(subnet, ip, key, req.mac, now)) continue;
      if (this.store.get(intToIp(ip))) {
        fallback ??= ip;
        continue;
      }
      this.cursor.set(subnet, (start + i + 1) % size);
      return ip;
    }
    return fallback;
  }

  private discover(req: ClientRequest, key: string, now: number): Decision {
    const subnet = this.subnetFor(req);
    if (!subnet) return { kind: 'ignore', reason: 'no subnet for this client' };
    const ip = this.choose(subnet, req, key, now);
    if (ip === undefined) return { kind: 'ignore', reason: `pool of ${subnet.cidr.text} exhausted` };
    this.offer(ip, key, now);
    return this.reply(MessageType.OFFER, req, subnet, intToIp(ip), true);
  }

  private offer(ip: number, key: string, now: number): void {
    if (this.offers.size > 4096 && this.offers.size % 1024 === 0) {
      for (const [a, o] of this.offers) if (o.expiresAt <= now) this.dropOffer(a);
    }
    const previous = this.offerOf.get(key);
    if (previous !== undefined && previous !== ip) this.offers.delete(previous);
    this.offers.set(ip, { clientKey: key, expiresAt: now + this.cfg.offerMs });
    this.offerOf.set(key, ip);
  }

  private dropOffer(ip: number): void {
    const o = this.offers.get(ip);
    if (!o) return;
    this.offers.delete(ip);
    if (this.offerOf.get(o.clientKey) === ip) this.offerOf.delete(o.clientKey);
  }

  private request(req: ClientRequest, key: string, now: number): Decision {
    const subnet = this.subnetFor(req);
    if (req.serverId !== undefined) {
      // SELECTING: the client names the server it chose.
      if (!subnet || req.serverId !== this.serverIdOf(subnet)) {
        const offered = this.offerOf.get(key);
        if (offered !== undefined) this.dropOffer(offered);
        return { kind: 'ignore', reason: 'client chose another server' };
      }
    }
    const wanted = req.requestedAddress ?? (req.ciaddr !== '0.0.0.0' ? req.ciaddr : undefined);
    if (!wanted) return { kind: 'ignore', reason: 'REQUEST names no address' };
    if (!subnet) return this.nak(req, undefined, 'no subnet for this client');
    const ip = ipToInt(wanted);
    if (!inCidr(subnet.cidr, ip)) return this.nak(req, subnet, `${wanted} is not on ${subnet.cidr.text}`);
    const reserved = subnet.reservations.get(req.mac);
    if (reserved !== undefined && reserved !== ip) return this.nak(req, subnet, `${req.mac} is reserved ${intToIp(reserved)}`);
    if (!this.available(subnet, ip, key, req.mac, now)) return this.nak(req, subnet, `${wanted} is not available to this client`);
    this.dropOffer(ip);
    const lease: Lease = {
      address: wanted,
      clientKey: key,
      mac: req.mac,
      subnet: subnet.cidr.text,
      state: 'bound',
      expiresAt: now + subnet.leaseSeconds * 1000,
      ...(req.hostname ? { hostname: req.hostname } : {}),
    };
    this.store.put(lease); // committed before the ACK leaves
    return this.reply(MessageType.ACK, req, subnet, wanted, true);
  }

  private decline(req: ClientRequest, key: string, now: number): Decision {
    const subnet = this.subnetFor(req);
    if (!req.requestedAddress || !subnet) return { kind: 'ignore', reason: 'DECLINE without address' };
    const lease = this.store.get(req.requestedAddress);
    if (lease && lease.clientKey !== key) return { kind: 'ignore', reason: 'DECLINE for an address of another client' };
    this.dropOffer(ipToInt(req.requestedAddress));
    this.store.put({ address: req.requestedAddress, clientKey: key, mac: req.mac, subnet: subnet.cidr.text, state: 'declined', expiresAt: now + this.cfg.declineMs });
    return { kind: 'ignore', reason: `${req.requestedAddress} declined: quarantined` };
  }

  private release(req: ClientRequest, key: string, now: number): Decision {
    const lease = this.store.get(req.ciaddr);
    if (!lease || lease.clientKey !== key || lease.state !== 'bound') return { kind: 'ignore', reason: 'RELEASE of no lease of this client' };
    this.store.put({ ...lease, state: 'released', expiresAt: now });
    return { kind: 'ignore', reason: `${req.ciaddr} released` };
  }

  private inform(req: ClientRequest): Decision {
    const subnet = this.subnetFor(req);
    if (!subnet) return { kind: 'ignore', reason: 'no subnet for this client' };
    return this.reply(MessageType.ACK, req, subnet, '0.0.0.0', false);
  }

  private nak(req: ClientRequest, subnet: CompiledSubnet | undefined, message: string): Decision {
    const options: [number, Buffer][] = [[53, Buffer.from([MessageType.NAK])]];
    const sid = subnet ? this.serverIdOf(subnet) : this.cfg.serverId;
    if (sid) options.push([54, ipBytes(sid)]);
    options.push([56, Buffer.from(message)]);
    if (req.relayAgent) options.push([82, req.relayAgent]);
    // A NAK is broadcast (or sent to the relay, asking it to broadcast): the client may have no address.
    const destination: Destination = req.giaddr !== '0.0.0.0' ? { kind: 'relay', address: req.giaddr } : { kind: 'broadcast', subnet };
    return { kind: 'reply', type: MessageType.NAK, yiaddr: '0.0.0.0', ciaddr: '0.0.0.0', options, required: [53, 54], destination, ...(subnet ? { subnet } : {}) };
  }

  /** What a subnet (and a class) offers, merged once per pair and reused for every reply. */
  private offerFor(subnet: CompiledSubnet, klass: CompiledClass | undefined): ReplyTemplate {
    let byClass = this.templates.get(subnet);
    if (!byClass) this.templates.set(subnet, (byClass = new Map()));
    let t = byClass.get(klass ?? null);
    if (t) return t;
    const available = new Map(subnet.options);
    if (!available.has(1)) available.set(1, u32(subnet.cidr.mask));
    const always = new Set(subnet.alwaysSend);
    if (klass) {
      for (const [c, v] of klass.options) available.set(c, v);
      for (const c of klass.alwaysSend) always.add(c);
    }
    const sid = this.serverIdOf(subnet);
    t = {
      available,
      always: [...always].filter((c) => available.has(c)),
      serverId: sid === undefined ? undefined : ipBytes(sid),
      leaseTime: u32(subnet.leaseSeconds),
      renewal: u32(Math.floor(subnet.leaseSeconds / 2)),
      rebinding: u32(Math.floor((subnet.leaseSeconds * 7) / 8)),
    };
    byClass.set(klass ?? null, t);
    return t;
  }

  private reply(type: number, req: ClientRequest, subnet: CompiledSubnet, yiaddr: string, withLease: boolean): Decision {
    const klass = this.classFor(req);
    const t = this.offerFor(subnet, klass);
    // Option values are shared, read-only Buffers (the encoder copies them into the packet).
    const options: [number, Buffer][] = [[53, TYPE_BYTE[type]!]];
    if (t.serverId) options.push([54, t.serverId]);
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
  serverId: Buffer | undefined;
  leaseTime: Buffer;
  renewal: Buffer;
  rebinding: Buffer;
}

/** Option 53's value for each message type, shared by every reply. */
const TYPE_BYTE: Buffer[] = Array.from({ length: 9 }, (_, t) => Buffer.from([t]));

/** The i-th address across inclusive ranges. */
function nth(pool: [number, number][], i: number): number {
  for (const [a, b] of pool) {
    const n = b - a + 1;
    if (i < n) return a + i;
    i -= n;
  }
  throw new RangeError('pool index out of range');
}
