/**
 * DHCP replay, the pure part: the recorded exchanges (each client message and the server's replies to
 * it), a server configuration that answers like the recorded one (subnets, pools and options from its
 * replies), the client messages rebuilt for a relay-style replay, and the check of each reply.
 */
import { isIPv4 } from 'node:net';
import type { UdpDatagram } from '@bootwire/capture';
import { buildDhcp, decodeDhcp, type DhcpMessage, encodeDhcp, MessageType, messageTypeName } from '@bootwire/dhcp';
import { encodeRelayAgent } from '@bootwire/dhcp';
import { parseTlv } from '@bootwire/dhcp';
import { dhcpSchema, type DhcpConfig } from '../config/schema.js';
import { formatIPv4, inCidr, intToIp, ipToInt, parseCidr, type Cidr } from '@bootwire/core';

/** A message type as replay reports print it: RFC 2131's (1..8) by name, any other as `type N`. */
export const typeName = (t: number | undefined): string =>
  t === undefined
    ? 'no type'
    : t >= MessageType.DISCOVER && t <= MessageType.INFORM
      ? messageTypeName(t)!
      : `type ${t}`;

export interface RecordedDhcp {
  readonly frame: number;
  readonly src: string;
  readonly dst: string;
  readonly message: DhcpMessage;
  readonly type: number | undefined;
}

export interface DhcpExchange {
  /** 1-based, in capture order. */
  readonly id: number;
  /** The client message (its first copy). */
  readonly request: RecordedDhcp;
  /** Copies seen: retransmissions, and the relayed copy when the capture saw both sides of a relay. */
  copies: number;
  /** The server's replies to it, in capture order. */
  readonly replies: RecordedDhcp[];
}

const clientKey = (m: DhcpMessage) => `${m.xid}|${m.chaddr.toString('hex', 0, Math.min(m.hlen, 16))}`;

/**
 * DHCP messages on ports 67/68, grouped into exchanges: a client message and the replies with its xid
 * and chaddr that follow it. A client message repeated (same client, xid and type) before another one
 * of that client is a copy of the same exchange.
 */
export function dhcpExchanges(datagrams: Iterable<UdpDatagram>): { exchanges: DhcpExchange[]; warnings: string[] } {
  const exchanges: DhcpExchange[] = [];
  const warnings: string[] = [];
  const latest = new Map<string, DhcpExchange>();
  for (const d of datagrams) {
    if (d.srcPort !== 67 && d.srcPort !== 68 && d.dstPort !== 67 && d.dstPort !== 68) continue;
    if (d.srcPort === 547 || d.dstPort === 547) continue;
    const r = decodeDhcp(d.payload, { requireCookie: true });
    if (!r.ok) {
      warnings.push(`frame ${d.frame}: not replayed as DHCP: ${r.error.message}`);
      continue;
    }
    const m = r.message;
    const rec: RecordedDhcp = {
      frame: d.frame,
      src: `${d.src}:${d.srcPort}`,
      dst: `${d.dst}:${d.dstPort}`,
      message: m,
      type: m.options.messageType(),
    };
    const key = clientKey(m);
    if (m.op === 1) {
      const prev = latest.get(key);
      if (prev && prev.request.type === rec.type) {
        prev.copies++;
        continue;
      }
      const x: DhcpExchange = { id: exchanges.length + 1, request: rec, copies: 1, replies: [] };
      exchanges.push(x);
      latest.set(key, x);
    } else if (m.op === 2) {
      const x = latest.get(key);
      if (x) x.replies.push(rec);
    }
  }
  return { exchanges, warnings };
}

// ------------------------------------------------------------------------------ configuration

/** Options the server sets itself, or that describe this lease or this client rather than the network. */
const NOT_CONFIG = new Set([0, 50, 51, 52, 53, 54, 55, 57, 58, 59, 61, 81, 82, 255]);

/** The server configuration, as bootwire.json's `dhcp` section, minus where it listens and stores leases. */
export type ReplayDhcpConfig = Omit<DhcpConfig, 'listen' | 'leases' | 'relayPort' | 'clientPort'>;

export interface CaptureConfig {
  readonly config: ReplayDhcpConfig;
  /** Per subnet (same order as config.subnets): the codes a reply can carry when the client asks. */
  readonly has: ReadonlyMap<string, ReadonlySet<number>>;
  readonly notes: string[];
}

function prefixOf(mask: Buffer | undefined): number | undefined {
  if (!mask || mask.length !== 4) return undefined;
  const n = mask.readUInt32BE(0);
  let p = 0;
  while (p < 32 && n & (0x80000000 >>> p)) p++;
  // Contiguous ones only; /0 is no subnet to configure.
  return p > 0 && n === (0xffffffff << (32 - p)) >>> 0 ? p : undefined;
}

interface SubnetBuild {
  cidr: Cidr;
  addresses: number[];
  macs: Map<string, Set<number>>;
  leaseSeconds?: number;
  options: Map<number, Buffer>;
}

/**
 * A configuration that answers like the server in the capture: one subnet per network its replies
 * gave addresses in (the mask from option 1, else /24), the pool spanning the addresses it gave, each
 * client that got one address reserved that address (so a replay offers the same ones), and the
 * options it sent (first value wins). Undefined when the capture has no reply that gives an address.
 */
export function configFromReplies(exchanges: readonly DhcpExchange[]): CaptureConfig | undefined {
  const notes: string[] = [];
  const subnets = new Map<string, SubnetBuild>();
  const serverIds = new Map<string, number>();
  let guessed = false;
  for (const x of exchanges) {
    for (const r of x.replies) {
      if (r.type !== 2 && r.type !== 5) continue;
      const m = r.message;
      const sid = m.options.serverId();
      if (sid) serverIds.set(sid, (serverIds.get(sid) ?? 0) + 1);
      // An address given, or for an INFORM's ACK the client's own.
      const addr = m.yiaddr !== '0.0.0.0' ? m.yiaddr : x.request.message.ciaddr;
      if (addr === '0.0.0.0') continue;
      let prefix = prefixOf(m.options.raw(1));
      if (prefix === undefined) {
        prefix = 24;
        guessed = true;
      }
      const cidr = parseCidr(`${addr}/${prefix}`);
      let s = subnets.get(cidr.text);
      if (!s) {
        // A reply with another mask for an address already covered belongs to the first subnet.
        const existing = [...subnets.values()].find(
          (o) => inCidr(o.cidr, ipToInt(addr)) || inCidr(cidr, o.cidr.network),
        );
        s = existing ?? { cidr, addresses: [], macs: new Map(), options: new Map() };
        subnets.set(s.cidr.text, s);
      }
      if (m.yiaddr !== '0.0.0.0') {
        const a = ipToInt(m.yiaddr);
        if (a !== s.cidr.network && a !== s.cidr.broadcast) {
          s.addresses.push(a);
          let set = s.macs.get(m.mac);
          if (!set) s.macs.set(m.mac, (set = new Set()));
          set.add(a);
        }
        const lease = m.options.leaseTime();
        if (lease !== undefined) s.leaseSeconds ??= lease;
      }
      for (const [code, value] of m.options.rawEntries()) {
        if (NOT_CONFIG.has(code)) continue;
        const had = s.options.get(code);
        if (!had) s.options.set(code, Buffer.from(value));
        else if (!had.equals(value))
          note(notes, `option ${code} differs between replies: the first value is configured`);
      }
    }
  }
  const usable = [...new Set(subnets.values())].filter((s) => s.addresses.length > 0 || s.options.size > 0);
  if (usable.length === 0) return undefined;
  if (guessed) notes.push('a reply without option 1: its subnet taken as /24');
  let serverId: string | undefined;
  let best = 0;
  for (const [id, n] of serverIds) if (n > best) [serverId, best] = [id, n];
  if (serverIds.size > 1) notes.push(`replies from ${serverIds.size} servers: server id ${serverId} configured`);
  const has = new Map<string, Set<number>>();
  const config: ReplayDhcpConfig = {
    ...(serverId && isIPv4(serverId) ? { serverId } : {}),
    offerSeconds: 30,
    declineSeconds: 3600,
    classes: [],
    subnets: usable.map((s) => {
      const sorted = [...s.addresses].sort((a, b) => a - b);
      // With no address given here (INFORM only) the pool is one address that nobody asked for.
      const first = sorted[0] ?? s.cidr.broadcast - 1;
      const last = sorted[sorted.length - 1] ?? first;
      const options: Record<string, string> = {};
      for (const [code, value] of s.options) options[String(code)] = `0x${value.toString('hex')}`;
      const reservations: { mac: string; address: string }[] = [];
      for (const [mac, set] of s.macs) {
        if (set.size === 1 && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac))
          reservations.push({ mac, address: intToIp([...set][0]!) });
      }
      has.set(s.cidr.text, new Set([1, ...s.options.keys()]));
      return {
        subnet: s.cidr.text,
        pool: `${intToIp(first)}-${intToIp(last)}`,
        leaseSeconds: Math.min(Math.max(s.leaseSeconds ?? 3600, 60), 0x7fffffff),
        options,
        alwaysSend: [],
        reservations,
      };
    }),
  };
  return { config, has, notes };
}

function note(notes: string[], s: string): void {
  if (!notes.includes(s)) notes.push(s);
}

/** Validates the configuration as `serve --config` would; an error message when it does not pass. */
export function checkConfig(
  c: ReplayDhcpConfig,
  listen: string,
  relayPort: number,
): { ok: true; config: DhcpConfig } | { ok: false; error: string } {
  const r = dhcpSchema.safeParse({ ...c, listen, leases: ':memory:', relayPort, clientPort: relayPort });
  if (r.success) return { ok: true, config: r.data };
  return { ok: false, error: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
}

// ------------------------------------------------------------------------------ replayed messages

export interface RebuildSpec {
  readonly xid: number;
  readonly giaddr: string;
  /** An address in the client's subnet, sent as RFC 3527 link selection (option 82 sub-option 5). */
  readonly link?: string;
  /** Recorded address -> the address the replayed server gave instead (option 50 and ciaddr follow it). */
  readonly addressMap?: ReadonlyMap<string, string>;
  /** The server id to name in option 54 instead of the recorded one (the replayed server's). */
  readonly serverId?: string;
}

/**
 * The recorded client message as a relay would forward it now: a fresh xid, giaddr the replay's relay
 * address, option 82 (the recorded one, if any) carrying a link selection, the client's addresses
 * mapped to the ones the replayed server gave, and the server it chose (54) named as the replayed one.
 */
export function rebuildRequest(m: DhcpMessage, s: RebuildSpec): Buffer {
  const map = (a: string) => s.addressMap?.get(a) ?? a;
  const options: [number, Buffer][] = [];
  let relay: Buffer | undefined;
  for (const [code, value] of m.options.rawEntries()) {
    if (code === 52) continue; // overload is decided anew
    if (code === 82) relay = value;
    else if (code === 50 && value.length === 4) options.push([50, ipBuf(map(formatIPv4(value, 0)))]);
    else if (code === 54 && s.serverId) options.push([54, ipBuf(s.serverId)]);
    else options.push([code, value]);
  }
  if (s.link) {
    const subs = relay ? parseTlv(relay, false).items.filter((x) => x.code !== 5) : [];
    relay = encodeRelayAgent([...subs, { code: 5, value: ipBuf(s.link) }]);
  }
  if (relay) options.push([82, relay]); // RFC 3046: the relay appends it last
  const size = m.options.rawEntries().reduce((n, [, v]) => n + 2 + v.length, 0) + 300;
  return buildDhcp({
    op: 1,
    htype: m.htype,
    hlen: m.hlen,
    hops: Math.max(1, m.hops),
    xid: s.xid,
    secs: m.secs,
    flags: m.flags,
    ciaddr: map(m.ciaddr),
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: s.giaddr,
    chaddr: m.chaddr,
    sname: m.sname,
    file: m.file,
    options,
    maxSize: Math.max(576, 28 + 240 + size),
    allowOverload: false,
  }).bytes;
}

const ipBuf = (ip: string) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ipToInt(ip), 0);
  return b;
};

// ------------------------------------------------------------------------------ checking replies

export interface ReplyCheck {
  /** The first problem, or undefined when the reply is as expected. */
  readonly difference?: string;
  readonly type?: number;
  readonly yiaddr?: string;
  /** Codes of the options asked for in 55 that the reply carries. */
  readonly asked: number[];
  readonly notes: string[];
}

/**
 * Checks a reply to a replayed message: well formed (decodes, re-encodes byte for byte, op 2, the xid,
 * chaddr and giaddr sent, a server id, a lease time with an address and none for an INFORM, option 82
 * echoed), of the type the recorded server answered with, and carrying each option asked for in 55
 * that the configuration has (`has`).
 */
export function checkReply(
  bytes: Buffer,
  sent: DhcpMessage,
  recordedType: number | undefined,
  has: ReadonlySet<number>,
): ReplyCheck {
  const notes: string[] = [];
  const bad = (difference: string, more: Partial<ReplyCheck> = {}): ReplyCheck => ({
    difference,
    asked: [],
    notes,
    ...more,
  });
  const d = decodeDhcp(bytes, { requireCookie: true });
  if (!d.ok) return bad(`malformed reply: ${d.error.message}`);
  const m = d.message;
  const o = m.options;
  if (!encodeDhcp(m).equals(bytes)) return bad('the reply does not re-encode to its own bytes');
  if (m.op !== 2) return bad(`reply with op ${m.op}`);
  if (m.xid !== sent.xid) return bad(`reply with xid 0x${hex8(m.xid)}, sent 0x${hex8(sent.xid)}`);
  if (!m.chaddr.equals(sent.chaddr)) return bad(`reply for chaddr ${m.mac}, sent ${sent.mac}`);
  if (m.giaddr !== sent.giaddr) return bad(`reply with giaddr ${m.giaddr}, sent ${sent.giaddr}`);
  const type = o.messageType();
  const more = { type, yiaddr: m.yiaddr };
  const sentType = sent.options.messageType();
  const valid = sentType === 1 ? [2] : sentType === 3 ? [5, 6] : sentType === 8 ? [5] : [];
  if (type === undefined || !valid.includes(type))
    return bad(`${typeName(type)} in answer to ${typeName(sentType)}`, more);
  if (recordedType !== undefined && type !== recordedType) {
    const why = o.get(56);
    return bad(
      `${typeName(type)}${why ? ` ${JSON.stringify(why)}` : ''}, the recorded server sent ${typeName(recordedType)}`,
      more,
    );
  }
  if (!o.serverId()) return bad(`${typeName(type)} without a server id (54)`, more);
  const sent82 = sent.options.raw(82);
  if (sent82 && !o.raw(82)?.equals(sent82)) return bad(`${typeName(type)} does not echo option 82`, more);
  if (type === 6) return { type, yiaddr: m.yiaddr, asked: [], notes };
  const inform = sentType === 8;
  if (inform) {
    if (m.yiaddr !== '0.0.0.0') return bad(`ACK to INFORM with yiaddr ${m.yiaddr}`, more);
    if (o.has(51)) return bad('ACK to INFORM with a lease time (51)', more);
  } else {
    if (m.yiaddr === '0.0.0.0') return bad(`${typeName(type)} without an address (yiaddr 0.0.0.0)`, more);
    if (o.leaseTime() === undefined) return bad(`${typeName(type)} without a lease time (51)`, more);
  }
  const asked: number[] = [];
  const requested = sent.options.requestedOptions();
  for (const code of requested) {
    if (o.has(code)) asked.push(code);
    else if (has.has(code) || (!inform && (code === 51 || code === 58 || code === 59))) {
      return bad(`${typeName(type)} lacks option ${code}, asked for in 55 and configured`, { ...more, asked });
    }
  }
  return { type, yiaddr: m.yiaddr, asked, notes };
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
