/**
 * UDP datagrams out of capture records: link layer (link.ts), IPv4/IPv6 with fragment reassembly
 * (reassembly.ts), GRE and IP-in-IP tunnels, UDP.
 *
 * Only UDP is kept; TCP, ICMP and the rest are passed over without a word. Lengths are believed in this
 * order: the IP length fields bound the packet (Ethernet padding and FCS after it are ignored), and the
 * UDP length bounds the payload. A length that contradicts the bytes around it is a warning and the
 * packet is skipped, except where the capture itself cut the frame (snaplen): then the datagram is
 * returned as far as it was captured, marked `truncated`, as tshark shows it.
 */
import { formatIPv4, formatIPv6 } from './address.js';
import { decodeLink, ethernet, EtherType, type LinkResult } from './link.js';
import { type FragmentLimits, Reassembler } from './reassembly.js';
import type { CaptureRecord, UdpDatagram, UdpScan } from './types.js';

export interface UdpOptions {
  /** Bounds on IP fragment reassembly. */
  readonly fragments?: FragmentLimits;
  /** Warnings listed at most; past it they are counted in one last line. Default 10,000. */
  readonly maxWarnings?: number;
}

export const DEFAULT_MAX_WARNINGS = 10_000;

const Proto = {
  IPIP: 4,
  UDP: 17,
  IPV6: 41,
  GRE: 47,
  HOPOPTS: 0,
  ROUTING: 43,
  FRAGMENT: 44,
  AH: 51,
  DSTOPTS: 60,
  MOBILITY: 135,
} as const;
/** Protocols that are UDP or can carry it here. */
const CARRIERS = new Set<number>([Proto.UDP, Proto.GRE, Proto.IPIP, Proto.IPV6]);
const MAX_TUNNELS = 4;
const MAX_EXTENSION_HEADERS = 16;

/** What is known of the record while its layers are peeled. */
interface Context {
  readonly frame: number;
  readonly time: number;
  readonly timeNs: bigint;
  readonly vlan: number[] | undefined;
  /** The capture cut this record (snaplen): lengths past the captured bytes are expected, not errors. */
  readonly cut: boolean;
}

/** The IP header the datagram's addresses come from. */
interface Addresses {
  readonly ipVersion: 4 | 6;
  readonly header: Buffer;
}

/** Every UDP datagram in the records, in the order they complete, and warnings about what was skipped. */
export function udpDatagrams(records: Iterable<CaptureRecord>, options: UdpOptions = {}): UdpScan {
  const scan = new UdpScanner(options);
  for (const r of records) scan.record(r);
  return scan.finish();
}

class UdpScanner {
  private readonly datagrams: UdpDatagram[] = [];
  private readonly warnings: string[] = [];
  private readonly frags: Reassembler;
  private readonly unsupported = new Map<number, number>(); // link type -> records
  private protectedFrames = 0;
  private readonly maxWarnings: number;
  private unlisted = 0;

  constructor(options: UdpOptions) {
    this.maxWarnings = options.maxWarnings ?? DEFAULT_MAX_WARNINGS;
    this.frags = new Reassembler(options.fragments ?? {}, (m) => this.note(m));
  }

  /** A capture of nothing but bad packets would otherwise hold a string per record. */
  private note(message: string): void {
    if (this.warnings.length < this.maxWarnings) this.warnings.push(message);
    else this.unlisted++;
  }

  record(r: CaptureRecord): void {
    if (this.frags.size > 0) this.frags.expire(r.timeNs);
    const link = decodeLink(r.linktype, r.data);
    const ctx: Context = {
      frame: r.frame,
      time: r.time,
      timeNs: r.timeNs,
      vlan: undefined,
      cut: r.origLen > r.data.length,
    };
    if ('skip' in link) {
      if (link.skip === 'linktype') this.unsupported.set(r.linktype, (this.unsupported.get(r.linktype) ?? 0) + 1);
      else if (link.skip === 'protected') this.protectedFrames++;
      else if (link.skip === 'bad') this.warn(ctx, link.warning);
      return;
    }
    this.network(link, ctx, 0);
  }

  finish(): UdpScan {
    this.frags.finish();
    if (this.unlisted > 0)
      this.warnings.push(
        `${this.unlisted} more warning${this.unlisted > 1 ? 's' : ''} not listed (past the first ${this.maxWarnings})`,
      );
    for (const [linktype, n] of this.unsupported)
      this.warnings.push(`${n} record${n > 1 ? 's' : ''} of link type ${linktype} skipped: link type not supported`);
    if (this.protectedFrames) this.warnings.push(`${this.protectedFrames} protected (encrypted) 802.11 frames skipped`);
    const f = this.frags.stats;
    if (f.reassembled + f.dropped === 0) return { datagrams: this.datagrams, warnings: this.warnings };
    return { datagrams: this.datagrams, warnings: this.warnings, fragments: { ...f } };
  }

  private warn(ctx: Context, message: string): void {
    this.note(`frame ${ctx.frame}: ${message}`);
  }

  private network(link: LinkResult, ctx: Context, depth: number): void {
    if ('skip' in link) {
      if (link.skip === 'bad') this.warn(ctx, link.warning);
      return;
    }
    const inner = link.vlan === ctx.vlan ? ctx : { ...ctx, vlan: link.vlan };
    if (link.ipVersion === 4) this.ipv4(link.data, inner, depth);
    else this.ipv6(link.data, inner, depth);
  }

  private ipv4(buf: Buffer, ctx: Context, depth: number): void {
    if (buf.length < 20)
      return this.warn(
        ctx,
        ctx.cut ? 'IPv4 header cut by the capture' : `IPv4 header needs 20 bytes, ${buf.length} left`,
      );
    const b0 = buf[0] ?? 0;
    if (b0 >> 4 !== 4) return this.warn(ctx, `IP version ${b0 >> 4} where IPv4 was expected`);
    const proto = buf[9] ?? 0;
    if (!CARRIERS.has(proto)) return;
    const ihl = (b0 & 0x0f) * 4;
    const total = buf.readUInt16BE(2);
    if (ihl < 20) return this.warn(ctx, `IPv4 header length ${ihl}`);
    if (total < ihl)
      return this.warn(
        ctx,
        `IPv4 total length ${total} is less than its header length ${ihl}` +
          `${total === 0 ? ' (segmentation offload?)' : ''}`,
      );
    const cut = total > buf.length;
    if (cut && !ctx.cut)
      return this.warn(ctx, `IPv4 total length ${total} exceeds the ${buf.length} bytes in the frame`);
    if (buf.length < ihl) return this.warn(ctx, 'IPv4 header cut by the capture');
    const payload = buf.subarray(ihl, Math.min(total, buf.length));
    const addr: Addresses = { ipVersion: 4, header: buf };
    const flags = buf.readUInt16BE(6);
    const more = (flags & 0x2000) !== 0;
    const offset = (flags & 0x1fff) * 8;
    if (!more && offset === 0) return this.upper(proto, payload, total - ihl, cut, addr, ctx, depth, undefined);
    if (cut) {
      // Wireshark does not reassemble a fragment it lacks bytes of, and reads a first fragment as far as it goes.
      if (offset !== 0) return this.warn(ctx, `IPv4 fragment at ${offset} cut by the capture: dropped`);
      this.warn(ctx, 'IPv4 first fragment cut by the capture: read as far as captured, not reassembled');
      return this.upper(proto, payload, Infinity, true, addr, ctx, depth, undefined);
    }
    const id = buf.readUInt16BE(4);
    const done = this.frags.add({
      key: `4:${buf.readUInt32BE(12)}:${buf.readUInt32BE(16)}:${id}:${proto}`,
      label: () => `IPv4 ${formatIPv4(buf, 12)} > ${formatIPv4(buf, 16)} id 0x${id.toString(16).padStart(4, '0')}`,
      ipVersion: 4,
      offset,
      data: payload,
      more,
      frame: ctx.frame,
      timeNs: ctx.timeNs,
      next: proto,
    });
    if (done) this.upper(proto, done.data, done.data.length, false, addr, ctx, depth, done.fragments);
  }

  private ipv6(buf: Buffer, ctx: Context, depth: number): void {
    if (buf.length < 40)
      return this.warn(
        ctx,
        ctx.cut ? 'IPv6 header cut by the capture' : `IPv6 header needs 40 bytes, ${buf.length} left`,
      );
    const b0 = buf[0] ?? 0;
    if (b0 >> 4 !== 6) return this.warn(ctx, `IP version ${b0 >> 4} where IPv6 was expected`);
    const plen = buf.readUInt16BE(4);
    let next = buf[6] ?? 0;
    if (plen === 0) {
      if (next === Proto.HOPOPTS || next === Proto.UDP)
        this.warn(ctx, 'IPv6 payload length 0 (a jumbogram?): not read');
      return;
    }
    const cut = 40 + plen > buf.length;
    if (cut && !ctx.cut)
      return this.warn(ctx, `IPv6 payload length ${plen} exceeds the ${buf.length - 40} bytes in the frame`);
    const addr: Addresses = { ipVersion: 6, header: buf };
    let data = buf.subarray(40, Math.min(40 + plen, buf.length));
    let declared = plen; // what the headers say `data` holds; Infinity past a cut first fragment
    let truncated = cut;
    let fragments: number[] | undefined;
    let at = 0;
    const short = (what: string) =>
      this.warn(ctx, truncated ? `IPv6 ${what} cut by the capture` : `IPv6 ${what} runs past the payload`);
    for (let n = 0; n < MAX_EXTENSION_HEADERS; n++) {
      switch (next) {
        case Proto.HOPOPTS:
        case Proto.ROUTING:
        case Proto.DSTOPTS:
        case Proto.MOBILITY:
        case Proto.AH: {
          if (data.length - at < 2) return short('extension header');
          const len = next === Proto.AH ? ((data[at + 1] ?? 0) + 2) * 4 : ((data[at + 1] ?? 0) + 1) * 8;
          next = data[at] ?? 0;
          at += len;
          if (at > data.length) return short('extension header');
          continue;
        }
        case Proto.FRAGMENT: {
          if (data.length - at < 8) return short('fragment header');
          const fnext = data[at] ?? 0;
          const field = data.readUInt16BE(at + 2);
          const offset = field & 0xfff8; // 13 bits of 8-byte units, already in place
          const more = (field & 1) !== 0;
          const id = data.readUInt32BE(at + 4);
          at += 8;
          next = fnext;
          if (!more && offset === 0) continue; // an atomic fragment (RFC 6946): the whole packet
          if (truncated) {
            if (offset !== 0) return this.warn(ctx, `IPv6 fragment at ${offset} cut by the capture: dropped`);
            this.warn(ctx, 'IPv6 first fragment cut by the capture: read as far as captured, not reassembled');
            declared = Infinity;
            continue;
          }
          const done = this.frags.add({
            key: `6:${buf.toString('latin1', 8, 40)}:${id}`,
            label: () => `IPv6 ${formatIPv6(buf, 8)} > ${formatIPv6(buf, 24)} id 0x${id.toString(16).padStart(8, '0')}`,
            ipVersion: 6,
            offset,
            data: data.subarray(at),
            more,
            frame: ctx.frame,
            timeNs: ctx.timeNs,
            next: fnext,
          });
          if (!done) return;
          data = done.data;
          declared = data.length;
          truncated = false;
          fragments = done.fragments;
          next = done.next;
          at = 0;
          continue;
        }
        default:
          if (!CARRIERS.has(next)) return;
          return this.upper(next, data.subarray(at), declared - at, truncated, addr, ctx, depth, fragments);
      }
    }
    this.warn(ctx, `more than ${MAX_EXTENSION_HEADERS} IPv6 extension headers`);
  }

  /** The IP payload: UDP, or a tunnel to peel. `declared` is its length by the IP headers. */
  private upper(
    proto: number,
    data: Buffer,
    declared: number,
    cut: boolean,
    addr: Addresses,
    ctx: Context,
    depth: number,
    fragments: number[] | undefined,
  ): void {
    switch (proto) {
      case Proto.UDP:
        return this.udp(data, declared, cut, addr, ctx, fragments);
      case Proto.GRE:
      case Proto.IPIP:
      case Proto.IPV6: {
        if (depth >= MAX_TUNNELS) return this.warn(ctx, `more than ${MAX_TUNNELS} nested tunnels`);
        // The inner packet's frame is the one that completed the outer datagram.
        if (proto === Proto.IPIP) return this.ipv4(data, ctx, depth + 1);
        if (proto === Proto.IPV6) return this.ipv6(data, ctx, depth + 1);
        return this.gre(data, ctx, depth + 1);
      }
    }
  }

  /** GRE version 0 (RFC 2784/2890): IPv4, IPv6, bridged Ethernet, ERSPAN type I/II. */
  private gre(data: Buffer, ctx: Context, depth: number): void {
    if (data.length < 4) return this.warn(ctx, 'GRE header cut short');
    const flags = data.readUInt16BE(0);
    if ((flags & 0x7) !== 0 || flags & 0x4000) return; // enhanced GRE (PPTP), source routing
    const seq = (flags & 0x1000) !== 0;
    const hl = 4 + (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (seq ? 4 : 0);
    if (data.length < hl) return this.warn(ctx, 'GRE header cut short');
    switch (data.readUInt16BE(2)) {
      case EtherType.IPV4:
        return this.ipv4(data.subarray(hl), ctx, depth);
      case EtherType.IPV6:
        return this.ipv6(data.subarray(hl), ctx, depth);
      case EtherType.TEB:
        return this.network(ethernet(data, hl, ctx.vlan), ctx, depth);
      case EtherType.ERSPAN: // type II has an 8-byte ERSPAN header and sets the sequence bit; type I has neither
        return this.network(ethernet(data, hl + (seq ? 8 : 0), ctx.vlan), ctx, depth);
    }
  }

  private udp(
    data: Buffer,
    declared: number,
    cut: boolean,
    addr: Addresses,
    ctx: Context,
    fragments: number[] | undefined,
  ): void {
    if (data.length < 8)
      return this.warn(
        ctx,
        cut ? 'UDP header cut by the capture' : `UDP header needs 8 bytes, the IP payload has ${data.length}`,
      );
    const len = data.readUInt16BE(4);
    if (len < 8) return this.warn(ctx, `UDP length ${len} is less than its 8-byte header`);
    if (len > declared) return this.warn(ctx, `UDP length ${len} exceeds the ${declared}-byte IP payload: skipped`);
    const truncated = len > data.length;
    if (truncated) this.warn(ctx, `UDP datagram cut by the capture: ${data.length - 8} of ${len - 8} payload bytes`);
    const h = addr.header;
    const v4 = addr.ipVersion === 4;
    this.datagrams.push({
      frame: ctx.frame,
      time: ctx.time,
      timeNs: ctx.timeNs,
      src: v4 ? formatIPv4(h, 12) : formatIPv6(h, 8),
      dst: v4 ? formatIPv4(h, 16) : formatIPv6(h, 24),
      srcPort: data.readUInt16BE(0),
      dstPort: data.readUInt16BE(2),
      payload: data.subarray(8, len),
      ipVersion: addr.ipVersion,
      ...(ctx.vlan ? { vlan: ctx.vlan } : {}),
      ...(fragments ? { fragments } : {}),
      ...(truncated ? { truncated: true as const } : {}),
    });
  }
}
