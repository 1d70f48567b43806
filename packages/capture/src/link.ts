/**
 * Link layers down to IP: Ethernet (802.1Q/802.1ad tags, 802.3 LLC/SNAP, PPPoE sessions), Linux cooked
 * SLL and SLL2, BSD loopback (NULL and LOOP), raw IP, 802.11 data frames, radiotap.
 *
 * The IP data returned runs to the end of the captured bytes: trailing Ethernet padding or an FCS is cut
 * off later by the IP length fields.
 */
import { LinkType } from './types.js';

export const EtherType = {
  IPV4: 0x0800,
  IPV6: 0x86dd,
  VLAN: 0x8100, // 802.1Q
  QINQ: 0x88a8, // 802.1ad service tag
  QINQ_OLD: 0x9100, // pre-standard QinQ
  QINQ_OLD2: 0x9200,
  PPPOE_SESSION: 0x8864,
  TEB: 0x6558, // transparent Ethernet bridging (GRE)
  ERSPAN: 0x88be, // ERSPAN type I/II (GRE)
} as const;

export interface Network {
  readonly ipVersion: 4 | 6;
  /** From the IP header to the end of the captured bytes (a view). */
  readonly data: Buffer;
  /** VLAN IDs, outermost first; undefined when untagged. */
  readonly vlan: number[] | undefined;
}

/** Why a frame carries no IP: `other` (ARP, management frames...) is silent, the rest are counted or warned. */
export type Skip =
  | { readonly skip: 'other' }
  | { readonly skip: 'linktype' }
  | { readonly skip: 'protected' }
  | { readonly skip: 'bad'; readonly warning: string };

export type LinkResult = Network | Skip;

const OTHER: Skip = { skip: 'other' };
const bad = (warning: string): Skip => ({ skip: 'bad', warning });

const MAX_TAGS = 8; // VLAN tags on one frame; more is a loop in a corrupt frame, not a network

/** Where the IP packet in a captured frame starts, for the link types listed in LinkType. */
export function decodeLink(linktype: number, data: Buffer): LinkResult {
  switch (linktype) {
    case LinkType.ETHERNET:
      return ethernet(data, 0, undefined);
    case LinkType.LINUX_SLL:
      if (data.length < 16) return bad(`Linux cooked header needs 16 bytes, frame has ${data.length}`);
      return fromEtherType(data.readUInt16BE(14), data, 16, undefined);
    case LinkType.LINUX_SLL2:
      if (data.length < 20) return bad(`Linux cooked v2 header needs 20 bytes, frame has ${data.length}`);
      return fromEtherType(data.readUInt16BE(0), data, 20, undefined);
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (data.length < 4) return bad(`loopback header needs 4 bytes, frame has ${data.length}`);
      // NULL holds the family in the capturing host's byte order: a family never needs the upper 16
      // bits, so a value there means the other order (libpcap's test). LOOP is always big-endian.
      let family = linktype === LinkType.LOOP ? data.readUInt32BE(0) : data.readUInt32LE(0);
      if (family & 0xffff0000) family = data.readUInt32BE(0);
      if (family === 2) return ip(4, data, 4, undefined);
      // AF_INET6 on Net/OpenBSD, FreeBSD, macOS
      if (family === 24 || family === 28 || family === 30) return ip(6, data, 4, undefined);
      return OTHER;
    }
    case LinkType.RAW:
    case LinkType.RAW_DLT12:
    case LinkType.RAW_DLT14: {
      const v = (data[0] ?? 0) >> 4;
      return v === 4 || v === 6 ? ip(v, data, 0, undefined) : OTHER;
    }
    case LinkType.IPV4:
      return ip(4, data, 0, undefined);
    case LinkType.IPV6:
      return ip(6, data, 0, undefined);
    case LinkType.IEEE802_11:
      return ieee80211(data, 0);
    case LinkType.IEEE802_11_RADIOTAP: {
      if (data.length < 8) return bad(`radiotap header needs 8 bytes, frame has ${data.length}`);
      const len = data.readUInt16LE(2); // radiotap is little-endian whatever the capture
      if (data[0] !== 0 || len < 8 || len > data.length)
        return bad(`radiotap header of length ${len} in a ${data.length}-byte frame`);
      return ieee80211(data, len);
    }
    default:
      return { skip: 'linktype' };
  }
}

function ip(version: 4 | 6, data: Buffer, at: number, vlan: number[] | undefined): Network {
  return { ipVersion: version, data: data.subarray(at), vlan };
}

/** An Ethernet II or 802.3 frame starting at `at` (GRE can carry one inside another packet). */
export function ethernet(data: Buffer, at: number, vlan: number[] | undefined): LinkResult {
  if (data.length - at < 14) return bad(`Ethernet header needs 14 bytes, frame has ${data.length - at}`);
  const type = data.readUInt16BE(at + 12);
  if (type >= 0x0600) return fromEtherType(type, data, at + 14, vlan);
  if (type > 1500) return OTHER; // neither a length nor a type
  return llc(data, at + 14, vlan); // 802.3: a length, then LLC
}

/** LLC with SNAP (AA AA 03, then a 3-byte OUI and the EtherType); other LLC carries no IP we read. */
function llc(data: Buffer, at: number, vlan: number[] | undefined): LinkResult {
  if (data.length - at < 8 || data[at] !== 0xaa || data[at + 1] !== 0xaa || data[at + 2] !== 0x03) return OTHER;
  return fromEtherType(data.readUInt16BE(at + 6), data, at + 8, vlan);
}

export function fromEtherType(type: number, data: Buffer, at: number, vlan: number[] | undefined): LinkResult {
  let tags = 0;
  while (
    type === EtherType.VLAN ||
    type === EtherType.QINQ ||
    type === EtherType.QINQ_OLD ||
    type === EtherType.QINQ_OLD2
  ) {
    if (data.length - at < 4) return bad('VLAN tag cut short');
    if (++tags > MAX_TAGS) return bad(`more than ${MAX_TAGS} VLAN tags`);
    (vlan = vlan ? [...vlan] : []).push(data.readUInt16BE(at) & 0x0fff);
    type = data.readUInt16BE(at + 2);
    at += 4;
  }
  switch (type) {
    case EtherType.IPV4:
      return ip(4, data, at, vlan);
    case EtherType.IPV6:
      return ip(6, data, at, vlan);
    case EtherType.PPPOE_SESSION: {
      // version/type, code (0 in session data), session ID, length, then the PPP protocol number
      if (data.length - at < 8) return bad('PPPoE header cut short');
      if (data[at + 1] !== 0) return OTHER;
      const proto = data.readUInt16BE(at + 6);
      if (proto === 0x0021) return ip(4, data, at + 8, vlan);
      if (proto === 0x0057) return ip(6, data, at + 8, vlan);
      return OTHER; // LCP, IPCP...
    }
    default:
      return OTHER;
  }
}

/**
 * An 802.11 frame: data frames only (type 2), not null-function ones; the header is 24 bytes, 30 with a
 * fourth address (ToDS and FromDS), +2 of QoS control, +4 of HT control when QoS and the Order bit are
 * set; then LLC/SNAP. Protected frames are counted and skipped; A-MSDU aggregates are skipped.
 */
function ieee80211(data: Buffer, at: number): LinkResult {
  if (data.length - at < 2) return bad(`802.11 frame of ${data.length - at} bytes`);
  const fc0 = data[at] ?? 0;
  const flags = data[at + 1] ?? 0;
  if ((fc0 & 0x0c) !== 0x08) return OTHER; // management or control
  const subtype = fc0 >> 4;
  if (subtype & 0x04) return OTHER; // null function: no body
  if (flags & 0x40) return { skip: 'protected' };
  if (data.length - at < 24) return bad(`802.11 data frame of ${data.length - at} bytes`);
  let hdr = 24;
  if ((flags & 0x03) === 0x03) hdr += 6;
  if (subtype & 0x08) {
    if (data.length - at < hdr + 2) return bad('802.11 QoS header cut short');
    if ((data[at + hdr] ?? 0) & 0x80) return OTHER; // A-MSDU
    hdr += 2;
    if (flags & 0x80) hdr += 4;
  }
  return llc(data, at + hdr, undefined);
}
