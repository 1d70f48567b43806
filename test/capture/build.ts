/**
 * Builders for hand-made captures: pcap and pcapng files, and the packets inside them (Ethernet, VLAN
 * tags, Linux cooked headers, loopback, 802.11, IPv4/IPv6 with fragments, GRE, UDP). Written from the
 * specifications, independently of src/capture; tshark checks several of them in the tests.
 */
import { parseIPv4 } from '../../packages/core/src/ipv4.js';
export type Endian = 'little' | 'big';

function u16(v: number, e: Endian = 'big'): Buffer {
  const b = Buffer.alloc(2);
  if (e === 'little') b.writeUInt16LE(v & 0xffff);
  else b.writeUInt16BE(v & 0xffff);
  return b;
}
function u32(v: number, e: Endian = 'big'): Buffer {
  const b = Buffer.alloc(4);
  if (e === 'little') b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}
const pad4 = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);

// ------------------------------------------------------------------------------------------ pcap

export interface PcapRecordSpec {
  sec: number;
  /** Microseconds, or nanoseconds in a nanosecond file. */
  frac: number;
  data: Buffer;
  origLen?: number;
}

export function pcapFile(
  opts: { linktype: number; endian?: Endian; nanos?: boolean; snaplen?: number; version?: [number, number] },
  records: PcapRecordSpec[],
): Buffer {
  const e = opts.endian ?? 'little';
  const [major, minor] = opts.version ?? [2, 4];
  const header = Buffer.concat([
    u32(opts.nanos ? 0xa1b23c4d : 0xa1b2c3d4, e),
    u16(major, e),
    u16(minor, e),
    u32(0, e),
    u32(0, e),
    u32(opts.snaplen ?? 262144, e),
    u32(opts.linktype, e),
  ]);
  const parts: Buffer[] = [header];
  for (const r of records) {
    parts.push(u32(r.sec, e), u32(r.frac, e), u32(r.data.length, e), u32(r.origLen ?? r.data.length, e), r.data);
  }
  return Buffer.concat(parts);
}

// ------------------------------------------------------------------------------------------ pcapng

export interface Option {
  code: number;
  value: Buffer;
}

function options(opts: Option[], e: Endian): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const parts = opts.map((o) => Buffer.concat([u16(o.code, e), u16(o.value.length, e), pad4(o.value)]));
  return Buffer.concat([...parts, u32(0, e)]); // opt_endofopt
}

/** Any block: type, length, body (padded), length. */
export function block(type: number, body: Buffer, e: Endian): Buffer {
  const b = pad4(body);
  const len = 12 + b.length;
  return Buffer.concat([u32(type, e), u32(len, e), b, u32(len, e)]);
}

export function shb(e: Endian, opts: Option[] = [], version: [number, number] = [1, 0]): Buffer {
  const sectionLength = Buffer.alloc(8, 0xff); // -1: not given
  return block(
    0x0a0d0d0a,
    Buffer.concat([u32(0x1a2b3c4d, e), u16(version[0], e), u16(version[1], e), sectionLength, options(opts, e)]),
    e,
  );
}

export function idb(
  e: Endian,
  linktype: number,
  o: { tsresol?: number; tsoffset?: bigint; snaplen?: number; name?: string } = {},
): Buffer {
  const opts: Option[] = [];
  if (o.name !== undefined) opts.push({ code: 2, value: Buffer.from(o.name) });
  if (o.tsresol !== undefined) opts.push({ code: 9, value: Buffer.from([o.tsresol]) });
  if (o.tsoffset !== undefined) {
    const v = Buffer.alloc(8);
    if (e === 'little') v.writeBigInt64LE(o.tsoffset);
    else v.writeBigInt64BE(o.tsoffset);
    opts.push({ code: 14, value: v });
  }
  return block(1, Buffer.concat([u16(linktype, e), u16(0, e), u32(o.snaplen ?? 0, e), options(opts, e)]), e);
}

/** Enhanced Packet Block; `ts` in the interface's units. */
export function epb(
  e: Endian,
  ifid: number,
  ts: bigint,
  data: Buffer,
  origLen = data.length,
  opts: Option[] = [],
): Buffer {
  return block(
    6,
    Buffer.concat([
      u32(ifid, e),
      u32(Number(ts >> 32n), e),
      u32(Number(ts & 0xffffffffn), e),
      u32(data.length, e),
      u32(origLen, e),
      pad4(data),
      options(opts, e),
    ]),
    e,
  );
}

export function spb(e: Endian, data: Buffer, origLen = data.length): Buffer {
  return block(3, Buffer.concat([u32(origLen, e), pad4(data)]), e);
}

export function opb(e: Endian, ifid: number, ts: bigint, data: Buffer, origLen = data.length): Buffer {
  return block(
    2,
    Buffer.concat([
      u16(ifid, e),
      u16(0, e),
      u32(Number(ts >> 32n), e),
      u32(Number(ts & 0xffffffffn), e),
      u32(data.length, e),
      u32(origLen, e),
      pad4(data),
    ]),
    e,
  );
}

// ------------------------------------------------------------------------------------------ packets

export const MAC_A = Buffer.from('020000000001', 'hex');
export const MAC_B = Buffer.from('020000000002', 'hex');

export function ipv4Bytes(a: string): Buffer {
  const b = parseIPv4(a);
  if (!b) throw new Error(`not an IPv4 address: ${a}`);
  return b;
}

export function ipv6Bytes(a: string): Buffer {
  const [head = '', tail] = a.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return Buffer.concat(all.map((g) => u16(g)));
}

export function udpHeader(srcPort: number, dstPort: number, payload: Buffer, length = payload.length + 8): Buffer {
  return Buffer.concat([u16(srcPort), u16(dstPort), u16(length), u16(0), payload]);
}

function checksum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export interface Ipv4Spec {
  src: string;
  dst: string;
  proto: number;
  payload: Buffer;
  id?: number;
  /** Fragment offset in bytes (a multiple of 8). */
  offset?: number;
  more?: boolean;
  totalLength?: number;
  options?: Buffer;
}

export function ipv4(s: Ipv4Spec): Buffer {
  const opts = s.options ?? Buffer.alloc(0);
  const ihl = 20 + opts.length;
  const h = Buffer.concat([
    Buffer.from([0x40 | (ihl / 4), 0]),
    u16(s.totalLength ?? ihl + s.payload.length),
    u16(s.id ?? 0x1234),
    u16(((s.more ? 0x2000 : 0) | ((s.offset ?? 0) / 8)) & 0xffff),
    Buffer.from([64, s.proto]),
    u16(0),
    ipv4Bytes(s.src),
    ipv4Bytes(s.dst),
    opts,
  ]);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, s.payload]);
}

export function ipv4Udp(
  src: string,
  dst: string,
  srcPort: number,
  dstPort: number,
  payload: Buffer,
  id?: number,
): Buffer {
  return ipv4({
    src,
    dst,
    proto: 17,
    payload: udpHeader(srcPort, dstPort, payload),
    ...(id === undefined ? {} : { id }),
  });
}

/** Splits an IPv4 datagram's payload into fragments of at most `chunk` bytes (a multiple of 8). */
export function ipv4Fragments(s: Omit<Ipv4Spec, 'offset' | 'more'>, chunk: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < s.payload.length; off += chunk) {
    const part = s.payload.subarray(off, off + chunk);
    out.push(ipv4({ ...s, payload: part, offset: off, more: off + chunk < s.payload.length }));
  }
  return out;
}

/** IPv6 with `next` as the first next header; `ext` are ready-made extension headers placed first. */
export function ipv6(src: string, dst: string, next: number, payload: Buffer, payloadLength = payload.length): Buffer {
  return Buffer.concat([
    Buffer.from([0x60, 0, 0, 0]),
    u16(payloadLength),
    Buffer.from([next, 64]),
    ipv6Bytes(src),
    ipv6Bytes(dst),
    payload,
  ]);
}

/** An options-type extension header (hop-by-hop, destination options): next, length, PadN to 8 bytes. */
export function ipv6OptionsHeader(next: number): Buffer {
  return Buffer.from([next, 0, 1, 4, 0, 0, 0, 0]);
}

export function ipv6FragmentHeader(next: number, offset: number, more: boolean, id: number): Buffer {
  return Buffer.concat([Buffer.from([next, 0]), u16(offset | (more ? 1 : 0)), u32(id)]);
}

export function ethernet(type: number, payload: Buffer, tags: { tpid: number; vid: number }[] = []): Buffer {
  const t = tags.map((x) => Buffer.concat([u16(x.tpid), u16(x.vid)]));
  return Buffer.concat([MAC_B, MAC_A, ...t, u16(type), payload]);
}

export function sll(protocol: number, payload: Buffer): Buffer {
  // packet type 0 (to us), ARPHRD_ETHER, 6-byte address padded to 8
  return Buffer.concat([u16(0), u16(1), u16(6), MAC_A, Buffer.alloc(2), u16(protocol), payload]);
}

export function sll2(protocol: number, payload: Buffer): Buffer {
  // protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address (8)
  return Buffer.concat([u16(protocol), u16(0), u32(2), u16(1), Buffer.from([0, 6]), MAC_A, Buffer.alloc(2), payload]);
}

export function nullHeader(family: number, e: Endian, payload: Buffer): Buffer {
  return Buffer.concat([u32(family, e), payload]);
}

/** An 802.11 data frame (ToDS) carrying LLC/SNAP + `ethertype`. */
export function wifiData(
  ethertype: number,
  payload: Buffer,
  o: { qos?: boolean; protected?: boolean; fourAddress?: boolean; order?: boolean } = {},
): Buffer {
  const subtype = o.qos ? 0x8 : 0;
  const fc0 = (subtype << 4) | 0x08;
  let flags = o.fourAddress ? 0x03 : 0x01;
  if (o.protected) flags |= 0x40;
  if (o.order) flags |= 0x80;
  const parts = [Buffer.from([fc0, flags]), u16(0), MAC_B, MAC_A, MAC_B, u16(0x10)];
  if (o.fourAddress) parts.push(MAC_A);
  if (o.qos) parts.push(Buffer.from([0, 0]));
  if (o.qos && o.order) parts.push(Buffer.alloc(4));
  parts.push(Buffer.from([0xaa, 0xaa, 0x03, 0, 0, 0]), u16(ethertype), payload);
  return Buffer.concat(parts);
}

/** A minimal radiotap header (only the Flags field present) before `frame`. */
export function radiotap(frame: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h[0] = 0;
  h.writeUInt16LE(9, 2);
  h.writeUInt32LE(0x2, 4); // present: Flags
  h[8] = 0;
  return Buffer.concat([h, frame]);
}

export function gre(protocol: number, payload: Buffer, o: { key?: number; seq?: number } = {}): Buffer {
  let flags = 0;
  const extra: Buffer[] = [];
  if (o.key !== undefined) {
    flags |= 0x2000;
    extra.push(u32(o.key));
  }
  if (o.seq !== undefined) {
    flags |= 0x1000;
    extra.push(u32(o.seq));
  }
  return Buffer.concat([u16(flags), u16(protocol), ...extra, payload]);
}

export function pppoeSession(pppProtocol: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x11, 0x00]), u16(0x0001), u16(payload.length + 2), u16(pppProtocol), payload]);
}
