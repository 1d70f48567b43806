/**
 * DHCP messages (RFC 2131, 2132, 3396): decode and lossless re-encode. Building new packets
 * (buildDhcp) is in build.ts, on the header writer and the field layout exported here.
 *
 * decodeDhcp() never throws and never reads outside the datagram. It reads the fixed BOOTP header and
 * walks the option areas once, recording a layout (pad runs, option instances, End, trailing bytes)
 * as offsets into the datagram; option values are views created when asked for, and an option split
 * over several instances (RFC 3396) is concatenated only when its value is asked for.
 *
 * Without the magic cookie the packet is plain BOOTP (RFC 951): it still decodes, with no options, a
 * 'no-cookie' warning, and the vend area kept as trailing bytes. `requireCookie` turns that into a
 * 'no-cookie' error for callers that only want DHCP.
 *
 * encodeDhcp() writes the header from the message's fields (so a relay can change hops or giaddr)
 * and the option areas from the decoded layout: an unchanged message re-encodes byte for byte, pads,
 * split instances, bytes after End and a missing End included.
 *
 */
import { type DhcpDecodeError, type DhcpDecodeErrorKind, type DhcpIssue, type DhcpIssueKind } from './errors.js';
import {
  type DecodedOption,
  decodeOption,
  lookupOption,
  messageTypeName,
  type OptionEntry,
  type OptionKey,
  type OptionValue,
} from './registry.js';
import { decodeRelayAgent, type RelayAgentInfo } from './relay-agent.js';
import { parseUserClass } from './structured.js';
import { colonHex, decodeText, ipAt, writeIPv4 } from './types.js';

export const BOOTP_HEADER_LENGTH = 236;
export const MAGIC_COOKIE = 0x63825363;
/** Where options start: header plus cookie. */
export const OPTIONS_OFFSET = 240;
/** RFC 951/1542: BOOTP packets are at least 300 bytes; some relays and clients drop shorter ones. */
export const BOOTP_MIN_LENGTH = 300;
/** RFC 2131: every client accepts a 576-byte IP datagram. */
export const DEFAULT_MAX_MESSAGE_SIZE = 576;
/** IPv4 (without options) and UDP headers: option 57 counts the whole datagram. */
export const IP_UDP_OVERHEAD = 28;

export const BootOp = { REQUEST: 1, REPLY: 2 } as const;

/** Where the `sname` and `file` fields lie in the header ([start, end)); options may overflow into them. */
export const SNAME = [44, 108] as const;
export const FILE = [108, 236] as const;

export type OptionArea = 'options' | 'file' | 'sname';
const AREAS: readonly OptionArea[] = ['options', 'file', 'sname'];
export const A_OPTIONS = 0;
export const A_FILE = 1;
export const A_SNAME = 2;

// Layout item kinds in the flat layout array: [kind, start, end, area] per item.
const K_PAD = 0;
const K_OPTION = 1; // start is the code byte; the value is start+2..end
const K_END = 2;
const K_TRAILING = 3;
const KIND_NAMES = ['pad', 'option', 'end', 'trailing'] as const;

export interface OptionInstance {
  readonly code: number;
  /** View of this instance's bytes. */
  readonly value: Buffer;
  readonly area: OptionArea;
  /** Offset of the code byte in the datagram. */
  readonly offset: number;
}

export type DhcpLayoutItem =
  | {
      readonly kind: 'pad' | 'end' | 'trailing';
      readonly area: OptionArea;
      readonly offset: number;
      readonly length: number;
    }
  | {
      readonly kind: 'option';
      readonly area: OptionArea;
      readonly offset: number;
      readonly length: number;
      readonly code: number;
    };

// ---------------------------------------------------------------------------------------- options

/**
 * The options of a decoded message, by code or name (as lookupOption reads them). `get` gives an
 * option's typed value (`get(242)` is an `AvayaList`, `get('router')` a `string[]`), `decode` the same
 * with its display text and warnings, or the raw bytes and why when they do not fit the option's type;
 * `raw` gives the bytes, a view of the datagram, concatenated when the option is split over several
 * instances (RFC 3396: options field, then `file`, then `sname`). Reading is lazy: nothing is decoded
 * until asked for.
 */
export class DhcpOptions {
  readonly #buf: Buffer;
  readonly #items: readonly number[];
  readonly #overload: 1 | 2 | 3 | undefined;
  #joined: Map<number, Buffer> | undefined;

  /** Made by decodeDhcp; `items` is the flat layout ([kind, start, end, area] per item). */
  constructor(buf: Buffer, items: readonly number[], overload: 1 | 2 | 3 | undefined) {
    this.#buf = buf;
    this.#items = items;
    this.#overload = overload;
  }

  /**
   * The option's typed value (its registry codec's; bytes for a code without an entry); undefined when
   * absent, or when its bytes do not fit the type (decode() says why and keeps them).
   */
  get<K extends OptionKey>(key: K): OptionValue<K> | undefined {
    const d = this.decode(key);
    return d?.ok ? d.value : undefined;
  }

  /** The option's bytes: a view for one instance, the RFC 3396 concatenation for several. */
  raw(key: OptionKey): Buffer | undefined {
    const code = codeOf(key);
    const b = this.#buf;
    const it = this.#items;
    let first: Buffer | undefined;
    let count = 0;
    for (let i = 0; i < it.length; i += 4) {
      if (it[i] !== K_OPTION || b[it[i + 1]!] !== code) continue;
      if (count++ === 0) first = b.subarray(it[i + 1]! + 2, it[i + 2]);
    }
    if (count < 2) return first;
    let joined = this.#joined?.get(code);
    if (!joined) {
      joined = Buffer.concat(this.instances(code).map((x) => x.value));
      (this.#joined ??= new Map()).set(code, joined);
    }
    return joined;
  }

  has(key: OptionKey): boolean {
    const code = codeOf(key);
    const it = this.#items;
    for (let i = 0; i < it.length; i += 4) if (it[i] === K_OPTION && this.#buf[it[i + 1]!] === code) return true;
    return false;
  }

  /** Distinct codes in the order they first appear (options field, then file, then sname). */
  codes(): number[] {
    const out: number[] = [];
    const it = this.#items;
    for (let i = 0; i < it.length; i += 4) {
      if (it[i] !== K_OPTION) continue;
      const c = this.#buf[it[i + 1]!]!;
      if (!out.includes(c)) out.push(c);
    }
    return out;
  }

  /** Every instance in RFC 3396 order, optionally only those of one code. */
  instances(code?: number): OptionInstance[] {
    const out: OptionInstance[] = [];
    const b = this.#buf;
    const it = this.#items;
    for (let i = 0; i < it.length; i += 4) {
      if (it[i] !== K_OPTION) continue;
      const start = it[i + 1]!;
      const c = b[start]!;
      if (code !== undefined && c !== code) continue;
      out.push({ code: c, value: b.subarray(start + 2, it[i + 2]), area: AREAS[it[i + 3]!]!, offset: start });
    }
    return out;
  }

  /** `[code, bytes]` per distinct code, values concatenated: ready for buildDhcp. */
  rawEntries(): OptionEntry[] {
    return this.codes().map((c) => [c, this.raw(c)!]);
  }

  /** What was on the wire, item by item, covering each option area completely. */
  layout(): DhcpLayoutItem[] {
    const out: DhcpLayoutItem[] = [];
    const it = this.#items;
    for (let i = 0; i < it.length; i += 4) {
      const kind = KIND_NAMES[it[i]!]!;
      const offset = it[i + 1]!;
      const base = { area: AREAS[it[i + 3]!]!, offset, length: it[i + 2]! - offset };
      out.push(kind === 'option' ? { kind, ...base, code: this.#buf[offset]! } : { kind, ...base });
    }
    return out;
  }

  /**
   * The option through its registry codec: `{ ok: true, value, text, warnings }` with the typed value,
   * or `{ ok: false, value: <the bytes>, text, warnings }` when they do not fit the type; undefined when
   * absent. Option 43 is read as option 60 says (PXE). Never throws.
   */
  decode<K extends OptionKey>(key: K): DecodedOption<OptionValue<K>> | undefined {
    const code = codeOf(key);
    const v = this.raw(code);
    if (v === undefined) return undefined;
    const vendorClass = code === 43 ? this.vendorClass() : undefined;
    return decodeOption(code, v, vendorClass === undefined ? {} : { vendorClass }) as DecodedOption<OptionValue<K>>;
  }

  // The helpers below read what the server looks at in every request straight from the bytes, with
  // no codec dispatch, display text or allocation of a decoded value.

  /** Option 53. */
  messageType(): number | undefined {
    const v = this.raw(53);
    return v && v.length >= 1 ? v[0] : undefined;
  }

  /** Option 55, the codes in the client's order. */
  requestedOptions(): number[] {
    const v = this.raw(55);
    return v ? [...v] : [];
  }

  /** Option 57 (the largest IP datagram the client accepts). */
  maxMessageSize(): number | undefined {
    const v = this.raw(57);
    return v && v.length === 2 ? v.readUInt16BE(0) : undefined;
  }

  /** Option 60 as text, trailing NULs trimmed (phones NUL-terminate or NUL-pad it). */
  vendorClass(): string | undefined {
    const v = this.raw(60);
    return v ? decodeText(v) : undefined;
  }

  /** Option 77: RFC 3004 items, or the whole value as one class when it is a plain string. */
  userClasses(): string[] {
    const v = this.raw(77);
    return v ? parseUserClass(v).classes : [];
  }

  /** Option 61's bytes (`get(61)` is the typed ClientId). */
  clientId(): Buffer | undefined {
    return this.raw(61);
  }

  /** Option 50. */
  requestedAddress(): string | undefined {
    return this.#ip(50);
  }

  /** Option 54. */
  serverId(): string | undefined {
    return this.#ip(54);
  }

  /** Option 51, seconds. */
  leaseTime(): number | undefined {
    const v = this.raw(51);
    return v && v.length === 4 ? v.readUInt32BE(0) : undefined;
  }

  /** Option 12. */
  hostname(): string | undefined {
    const v = this.raw(12);
    return v ? decodeText(v) : undefined;
  }

  /** Option 82, sub-options in order. */
  relayAgent(): RelayAgentInfo | undefined {
    const v = this.raw(82);
    return v ? decodeRelayAgent(v) : undefined;
  }

  /** The option-52 value the decoder honoured (a malformed one is ignored and reported). */
  overload(): 1 | 2 | 3 | undefined {
    return this.#overload;
  }

  #ip(code: number): string | undefined {
    const v = this.raw(code);
    return v && v.length === 4 ? ipAt(v, 0) : undefined;
  }

  /** Copies every layout item to the same offset of `out` (a buffer as long as the source). */
  static writeLayout(options: DhcpOptions, out: Buffer): void {
    const it = options.#items;
    for (let i = 0; i < it.length; i += 4) options.#buf.copy(out, it[i + 1], it[i + 1], it[i + 2]);
  }

  /** Length of the datagram the options were decoded from. */
  static sourceLength(options: DhcpOptions): number {
    return options.#buf.length;
  }
}

/** The code of a key; -1 (matches nothing) for one that names no option. */
function codeOf(key: OptionKey): number {
  if (typeof key === 'number') return key;
  return lookupOption(key)?.code ?? -1;
}

// ---------------------------------------------------------------------------------------- message

export interface DhcpMessage {
  readonly op: number;
  readonly htype: number;
  readonly hlen: number;
  readonly hops: number;
  /** Transaction id, unsigned 32-bit. */
  readonly xid: number;
  readonly secs: number;
  readonly flags: number;
  readonly ciaddr: string;
  readonly yiaddr: string;
  readonly siaddr: string;
  readonly giaddr: string;
  /** The 16-byte field (a view). */
  readonly chaddr: Buffer;
  /** The 64-byte field (a view); holds options when overloaded. */
  readonly sname: Buffer;
  /** The 128-byte field (a view); holds options when overloaded. */
  readonly file: Buffer;
  /** chaddr[0..hlen): colon hex for Ethernet (htype 1, hlen 6), plain hex otherwise. */
  readonly mac: string;
  readonly hasCookie: boolean;
  readonly options: DhcpOptions;
}

export interface DhcpDecodeOptions {
  /** Fail with 'no-cookie' instead of decoding plain BOOTP. */
  readonly requireCookie?: boolean;
}

export type DhcpDecodeResult =
  | { readonly ok: true; readonly message: DhcpMessage; readonly warnings: string[]; readonly issues: DhcpIssue[] }
  | { readonly ok: false; readonly error: DhcpDecodeError };

const fail = (kind: DhcpDecodeErrorKind, message: string, offset: number): DhcpDecodeResult => ({
  ok: false,
  error: { kind, message, offset },
});

/** Walks one option area into the layout, reporting overruns, a missing End and junk after End. */
function scanArea(buf: Buffer, start: number, end: number, area: number, items: number[], issues: DhcpIssue[]): void {
  const where = AREAS[area] === 'options' ? 'options field' : `${AREAS[area]} field (overloaded)`;
  let at = start;
  while (at < end) {
    const code = buf[at]!;
    if (code === 0) {
      let e = at + 1;
      while (e < end && buf[e] === 0) e++;
      items.push(K_PAD, at, e, area);
      at = e;
      continue;
    }
    if (code === 255) {
      items.push(K_END, at, at + 1, area);
      if (at + 1 < end) {
        items.push(K_TRAILING, at + 1, end, area);
        for (let i = at + 1; i < end; i++) {
          if (buf[i] !== 0) {
            issues.push({
              kind: 'bytes-after-end',
              message: `non-zero bytes after End in the ${where} at ${i}`,
              offset: i,
            });
            break;
          }
        }
      }
      return;
    }
    const len = at + 1 < end ? buf[at + 1]! : -1;
    if (len < 0 || at + 2 + len > end) {
      const message =
        len < 0
          ? `option ${code} at ${at} has no length byte before the end of the ${where}`
          : `option ${code} at ${at} claims ${len} bytes, ${end - at - 2} remain in the ${where}`;
      issues.push({ kind: 'option-overrun', message, offset: at });
      items.push(K_TRAILING, at, end, area);
      return;
    }
    items.push(K_OPTION, at, at + 2 + len, area);
    at += 2 + len;
  }
  issues.push({ kind: 'missing-end', message: `the ${where} has no End option`, offset: end });
}

/** Decodes one UDP payload (port 67/68) as a BOOTP/DHCP message. */
export function decodeDhcp(buf: Buffer, opts: DhcpDecodeOptions = {}): DhcpDecodeResult {
  if (buf.length < BOOTP_HEADER_LENGTH) {
    return fail(
      'truncated',
      `${buf.length} bytes is shorter than the ${BOOTP_HEADER_LENGTH}-byte BOOTP header`,
      buf.length,
    );
  }
  const issues: DhcpIssue[] = [];
  const issue = (kind: DhcpIssueKind, message: string, offset: number) => issues.push({ kind, message, offset });
  const op = buf[0]!;
  const htype = buf[1]!;
  const hlen = buf[2]!;
  if (op !== 1 && op !== 2) issue('bad-op', `op ${op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)`, 0);
  if (hlen > 16) issue('bad-hlen', `hlen ${hlen} is longer than the 16-byte chaddr`, 2);

  const hasCookie = buf.length >= OPTIONS_OFFSET && buf.readUInt32BE(BOOTP_HEADER_LENGTH) === MAGIC_COOKIE;
  const items: number[] = [];
  let overload: 1 | 2 | 3 | undefined;
  if (!hasCookie) {
    if (opts.requireCookie)
      return fail('no-cookie', 'no DHCP magic cookie (99.130.83.99) at offset 236', BOOTP_HEADER_LENGTH);
    issue('no-cookie', 'no magic cookie: plain BOOTP, the vend area is kept raw', BOOTP_HEADER_LENGTH);
    if (buf.length > BOOTP_HEADER_LENGTH) items.push(K_TRAILING, BOOTP_HEADER_LENGTH, buf.length, A_OPTIONS);
  } else {
    scanArea(buf, OPTIONS_OFFSET, buf.length, A_OPTIONS, items, issues);
    // Option 52 is honoured only from the options field, as one byte 1..3 (RFC 2131 §4.1).
    let n52 = 0;
    let v52 = -1;
    let at52 = 0;
    for (let i = 0; i < items.length; i += 4) {
      if (items[i] !== K_OPTION || buf[items[i + 1]!] !== 52) continue;
      if (n52++ === 0) at52 = items[i + 1]!;
      v52 = items[i + 2]! - items[i + 1]! === 3 ? buf[items[i + 1]! + 2]! : -1;
    }
    if (n52 === 1 && v52 >= 1 && v52 <= 3) overload = v52 as 1 | 2 | 3;
    else if (n52 > 0) {
      issue(
        'bad-overload',
        n52 > 1 ? `option 52 appears ${n52} times: ignored` : `option 52 at ${at52} is not one byte 1..3: ignored`,
        at52,
      );
    }
    const before = items.length;
    if (overload === 1 || overload === 3) scanArea(buf, FILE[0], FILE[1], A_FILE, items, issues);
    if (overload === 2 || overload === 3) scanArea(buf, SNAME[0], SNAME[1], A_SNAME, items, issues);
    for (let i = before; i < items.length; i += 4) {
      if (items[i] === K_OPTION && buf[items[i + 1]!] === 52) {
        issue(
          'bad-overload',
          `option 52 inside the ${AREAS[items[i + 3]!]} field at ${items[i + 1]} is ignored`,
          items[i + 1]!,
        );
      }
    }
  }

  const chaddr = buf.subarray(28, 44);
  const message: DhcpMessage = {
    op,
    htype,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipAt(buf, 12),
    yiaddr: ipAt(buf, 16),
    siaddr: ipAt(buf, 20),
    giaddr: ipAt(buf, 24),
    chaddr,
    sname: buf.subarray(SNAME[0], SNAME[1]),
    file: buf.subarray(FILE[0], FILE[1]),
    mac: htype === 1 && hlen === 6 ? colonHex(chaddr.subarray(0, 6)) : chaddr.toString('hex', 0, Math.min(hlen, 16)),
    hasCookie,
    options: new DhcpOptions(buf, items, overload),
  };
  return { ok: true, message, warnings: issues.map((i) => i.message), issues };
}

// ----------------------------------------------------------------------------------------- encode

function writeField(out: Buffer, at: number, size: number, value: Buffer | string | undefined, what: string): void {
  if (value === undefined) return;
  const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  // A string must leave room for its NUL; a Buffer may fill the field.
  if (b.length > size - (typeof value === 'string' ? 1 : 0))
    throw new RangeError(`${what} of ${b.length} bytes does not fit its ${size}-byte field`);
  b.copy(out, at);
}

/** The fixed BOOTP header, as written (a decoded message is one; build.ts makes one from a spec). */
export interface HeaderFields {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  chaddr: Buffer;
  sname?: Buffer | string;
  file?: Buffer | string;
}

function writeAddress(out: Buffer, at: number, ip: string, what: string): void {
  if (typeof ip !== 'string' || !writeIPv4(out, at, ip))
    throw new RangeError(`${what}: not an IPv4 address: ${JSON.stringify(ip)}`);
}

export function writeHeader(out: Buffer, h: HeaderFields): void {
  out.writeUInt8(h.op, 0);
  out.writeUInt8(h.htype, 1);
  out.writeUInt8(h.hlen, 2);
  out.writeUInt8(h.hops, 3);
  out.writeUInt32BE(h.xid >>> 0, 4);
  out.writeUInt16BE(h.secs, 8);
  out.writeUInt16BE(h.flags, 10);
  writeAddress(out, 12, h.ciaddr, 'ciaddr');
  writeAddress(out, 16, h.yiaddr, 'yiaddr');
  writeAddress(out, 20, h.siaddr, 'siaddr');
  writeAddress(out, 24, h.giaddr, 'giaddr');
  writeField(out, 28, 16, h.chaddr, 'chaddr');
  writeField(out, SNAME[0], 64, h.sname, 'sname');
  writeField(out, FILE[0], 128, h.file, 'file');
}

/**
 * A decoded message back to bytes: header from the fields, option areas from the decoded layout (which
 * wins over `file`/`sname` where those carried options). Throws RangeError only for header fields a
 * caller set out of range.
 */
export function encodeDhcp(message: DhcpMessage): Buffer {
  const out = Buffer.alloc(Math.max(BOOTP_HEADER_LENGTH, DhcpOptions.sourceLength(message.options)));
  writeHeader(out, message);
  if (message.hasCookie && out.length >= OPTIONS_OFFSET) out.writeUInt32BE(MAGIC_COOKIE, BOOTP_HEADER_LENGTH);
  DhcpOptions.writeLayout(message.options, out);
  return out;
}

// --------------------------------------------------------------------------------------- describe

/** One line for logs: `DISCOVER xid=0x1234abcd mac=00:1b:4f:aa:bb:cc options=53,61,57,55,60,12`. */
export function describeDhcp(m: DhcpMessage): string {
  const t = m.options.messageType();
  const kind = t === undefined ? (m.hasCookie ? 'DHCP' : 'BOOTP') : (messageTypeName(t) ?? `type-${t}`);
  const parts = [`${kind} xid=0x${m.xid.toString(16).padStart(8, '0')} mac=${m.mac}`];
  for (const f of ['ciaddr', 'yiaddr', 'siaddr', 'giaddr'] as const) if (m[f] !== '0.0.0.0') parts.push(`${f}=${m[f]}`);
  const codes = m.options.codes();
  if (codes.length) parts.push(`options=${codes.join(',')}`);
  const vc = m.options.vendorClass();
  if (vc !== undefined) parts.push(`vendor=${JSON.stringify(vc)}`);
  return parts.join(' ');
}
