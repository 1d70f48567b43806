/**
 * The DHCP and TFTP messages of a capture, in capture order: what `bootwire decode` prints.
 *
 * DHCP is recognised by port (67 or 68 at either end), TFTP by conversation (tftp-conversations.ts),
 * which comes first, as in Wireshark. A datagram that cannot be decoded is still a message, with an
 * `error` field and whatever could be read, never dropped silently.
 */
import { decodeDhcp } from '@bootwire/dhcp';
import { OPCODE_NAMES, Opcode, type TftpPacket } from '@bootwire/tftp';
import { type DhcpJson, dhcpJson } from './dhcp-json.js';
import { endpoint, looseRequest, type TftpItem, TftpTracker, type TftpTrackOptions } from './tftp-conversations.js';
import type { UdpDatagram } from './types.js';

export type TftpOpcodeName = 'RRQ' | 'WRQ' | 'DATA' | 'ACK' | 'ERROR' | 'OACK';

/** The `tftp` object: fields by opcode; a malformed packet has what could be read of it. */
export interface TftpJson {
  opcode?: TftpOpcodeName;
  filename?: string;
  mode?: string;
  /** Option name (as sent) to value, in wire order; a repeated name keeps its first value. */
  options?: Record<string, string>;
  /** The 16-bit block number on the wire. */
  block?: number;
  /** DATA payload bytes. */
  length?: number;
  code?: number;
  message?: string;
}

interface MessageBase {
  frame: number;
  /** Seconds since the epoch, to the capture's resolution. */
  time: number;
  src: string;
  dst: string;
  /** The capture cut the datagram (snaplen): decoded as far as it goes. */
  truncated?: true;
  /** Why the datagram did not decode ("kind: message"). */
  error?: string;
}

export interface DhcpCaptureMessage extends MessageBase {
  proto: 'dhcp';
  /** Absent when the datagram is not a BOOTP message (`error` says why). */
  dhcp?: DhcpJson;
}

export interface TftpCaptureMessage extends MessageBase {
  proto: 'tftp';
  tftp: TftpJson;
  /** Conversation id (1-based), absent for a port-69 datagram outside any conversation. */
  conversation?: number;
}

export type CaptureMessage = DhcpCaptureMessage | TftpCaptureMessage;

export const DHCP_PORTS: ReadonlySet<number> = new Set([67, 68]);

/** The messages of a datagram stream (from udpDatagrams()), in order. */
export function* captureMessages(
  datagrams: Iterable<UdpDatagram>,
  options: TftpTrackOptions = {},
): Generator<CaptureMessage> {
  const tftp = new TftpTracker(options);
  for (const d of datagrams) {
    const item = tftp.push(d);
    if (item) yield tftpMessage(item);
    else if (DHCP_PORTS.has(d.srcPort) || DHCP_PORTS.has(d.dstPort)) yield dhcpMessage(d);
  }
}

/**
 * Nanoseconds to a float whose shortest printed form is the exact decimal at microsecond resolution
 * (1732161600.123456), nanoseconds when the capture has them.
 */
export function seconds(ns: bigint): number {
  // Microseconds fit a double exactly (2^53 µs is 285 years), and us / 1e6 is the double nearest to the
  // decimal, which prints back as that decimal. Nanoseconds do not fit: go through the decimal text.
  const us = ns / 1000n;
  if (us * 1000n === ns) return Number(us) / 1e6;
  const a = ns < 0n ? -ns : ns;
  return Number(`${ns < 0n ? '-' : ''}${a / 1_000_000_000n}.${(a % 1_000_000_000n).toString().padStart(9, '0')}`);
}

// Messages are built as one literal each (no spread): this runs once per packet.
function dhcpMessage(d: UdpDatagram): DhcpCaptureMessage {
  const r = decodeDhcp(d.payload);
  const m: DhcpCaptureMessage = {
    frame: d.frame,
    time: seconds(d.timeNs),
    src: endpoint(d.src, d.srcPort),
    dst: endpoint(d.dst, d.dstPort),
    proto: 'dhcp',
  };
  if (r.ok) m.dhcp = dhcpJson(r.message, r.warnings);
  else m.error = `${r.error.kind}: ${r.error.message}`;
  if (d.truncated) m.truncated = true;
  return m;
}

function tftpMessage(item: TftpItem): TftpCaptureMessage {
  const d = item.datagram;
  const m: TftpCaptureMessage = {
    frame: d.frame,
    time: seconds(d.timeNs),
    src: endpoint(d.src, d.srcPort),
    dst: endpoint(d.dst, d.dstPort),
    proto: 'tftp',
    tftp: item.packet.ok ? tftpJson(item.packet.packet) : partialTftp(d.payload),
  };
  if (!item.packet.ok) m.error = `${item.packet.error.kind}: ${item.packet.error.message}`;
  if (item.conversation) m.conversation = item.conversation.id;
  if (d.truncated) m.truncated = true;
  return m;
}

function optionsObject(options: readonly { name: string; value: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of options) if (!Object.hasOwn(out, o.name)) out[o.name] = o.value;
  return out;
}

export function tftpJson(p: TftpPacket): TftpJson {
  switch (p.opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ:
      return {
        opcode: p.opcode === Opcode.RRQ ? 'RRQ' : 'WRQ',
        filename: p.filename,
        mode: p.mode,
        options: optionsObject(p.options),
      };
    case Opcode.DATA:
      return { opcode: 'DATA', block: p.block, length: p.payload.length };
    case Opcode.ACK:
      return { opcode: 'ACK', block: p.block };
    case Opcode.ERROR:
      return { opcode: 'ERROR', code: p.code, message: p.message };
    case Opcode.OACK:
      return { opcode: 'OACK', options: optionsObject(p.options) };
  }
}

/** What can be read of a packet decodeTftp() refused: the opcode, and the fixed fields that are there. */
function partialTftp(b: Buffer): TftpJson {
  if (b.length < 2) return {};
  const op = b.readUInt16BE(0);
  const name = OPCODE_NAMES[op] as TftpOpcodeName | undefined;
  if (!name) return {};
  const out: TftpJson = { opcode: name };
  if ((op === Opcode.DATA || op === Opcode.ACK || op === Opcode.ERROR) && b.length >= 4) {
    if (op === Opcode.ERROR) out.code = b.readUInt16BE(2);
    else out.block = b.readUInt16BE(2);
    if (op === Opcode.DATA) out.length = b.length - 4;
  }
  if (op === Opcode.RRQ || op === Opcode.WRQ) {
    const loose = looseRequest(b);
    if (loose) return tftpJson(loose);
    const end = b.indexOf(0, 2);
    if (end > 2) out.filename = b.toString('utf8', 2, end);
  }
  return out;
}

// -------------------------------------------------------------------------------------------- human

/** One readable line: frame, UTC time, src → dst, protocol and summary. */
export function describeMessage(m: CaptureMessage): string {
  const head = `${String(m.frame).padStart(6)}  ${isoTime(m.time)}  ${m.src} → ${m.dst}  `;
  const tail = (m.truncated ? ' [cut by the capture]' : '') + (m.error ? ` [malformed: ${m.error}]` : '');
  if (m.proto === 'dhcp') return head + (m.dhcp ? `DHCP ${describeDhcpJson(m.dhcp)}` : 'DHCP') + tail;
  return head + `TFTP ${describeTftpJson(m.tftp)}` + (m.conversation ? ` (#${m.conversation})` : '') + tail;
}

let isoSecond = NaN;
let isoPrefix = '';

/** UTC with the digits of `time` as printed (seconds() makes them exact). */
function isoTime(t: number): string {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(String(t));
  if (!m || Number(m[1]) > 8.64e12) return String(t);
  const sec = Number(m[1]);
  // Consecutive packets mostly share their second: format the date once per second.
  if (sec !== isoSecond) [isoSecond, isoPrefix] = [sec, new Date(sec * 1000).toISOString().slice(0, 19)];
  return `${isoPrefix}.${(m[2] ?? '').padEnd(6, '0')}Z`;
}

/** describeDhcp's line, rebuilt from the JSON so the human and JSON outputs cannot disagree. */
function describeDhcpJson(j: DhcpJson): string {
  const type = j.options.find((o) => o.code === 53)?.value;
  const kind =
    typeof type === 'string'
      ? type
      : type !== undefined
        ? `type-${JSON.stringify(type)}`
        : j.bootp
          ? j.op === 1
            ? 'BOOTREQUEST'
            : 'BOOTREPLY'
          : 'DHCP';
  const parts = [`${kind} xid=${j.xid} chaddr=${j.chaddr}`];
  for (const f of ['ciaddr', 'yiaddr', 'siaddr', 'giaddr'] as const) if (j[f] !== '0.0.0.0') parts.push(`${f}=${j[f]}`);
  if (j.file) parts.push(`file=${JSON.stringify(j.file)}`);
  if (j.options.length) parts.push(`options=${j.options.map((o) => o.code).join(',')}`);
  for (const code of [60, 66, 67]) {
    const o = j.options.find((x) => x.code === code);
    if (o && typeof o.value === 'string') parts.push(`${o.name}=${JSON.stringify(o.value)}`);
  }
  return parts.join(' ');
}

function describeTftpJson(t: TftpJson): string {
  const opts = (o: Record<string, string> | undefined) =>
    o
      ? Object.entries(o)
          .map(([k, v]) => ` ${k}=${v}`)
          .join('')
      : '';
  switch (t.opcode) {
    case 'RRQ':
    case 'WRQ':
      return `${t.opcode} ${JSON.stringify(t.filename ?? '')} ${t.mode ?? ''}${opts(t.options)}`;
    case 'DATA':
      return `DATA block=${t.block ?? '?'} length=${t.length ?? '?'}`;
    case 'ACK':
      return `ACK block=${t.block ?? '?'}`;
    case 'ERROR':
      return `ERROR code=${t.code ?? '?'} ${JSON.stringify(t.message ?? '')}`;
    case 'OACK':
      return `OACK${opts(t.options)}`;
    default:
      return '?';
  }
}
