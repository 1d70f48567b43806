/**
 * Building new DHCP packets (RFC 2131, 3396): buildDhcp() makes a packet from header fields and option
 * entries (encodeOption makes an entry from an option's typed value), fitting the client's maximum
 * message size (option 57) with RFC 3396 splitting, then option 52 overload into `file` and `sname`,
 * then dropping options from the end of the list. The header is written as message.ts writes a
 * decoded one.
 */
import { DhcpOptionError } from './errors.js';
import {
  A_FILE,
  A_OPTIONS,
  A_SNAME,
  BOOTP_HEADER_LENGTH,
  BOOTP_MIN_LENGTH,
  BootOp,
  DEFAULT_MAX_MESSAGE_SIZE,
  FILE,
  type HeaderFields,
  IP_UDP_OVERHEAD,
  MAGIC_COOKIE,
  OPTIONS_OFFSET,
  SNAME,
  writeHeader,
} from './message.js';
import { lookupOption } from './registry.js';
import { parseMac } from './types.js';

export interface DhcpBuildSpec {
  /** Default: 1 (BOOTREQUEST) when option 53 is a client message, else 2 (BOOTREPLY). */
  readonly op?: number;
  readonly htype?: number;
  readonly hlen?: number;
  readonly hops?: number;
  readonly xid?: number;
  readonly secs?: number;
  readonly flags?: number;
  readonly ciaddr?: string;
  readonly yiaddr?: string;
  readonly siaddr?: string;
  readonly giaddr?: string;
  /** Bytes or a MAC string (`00:1b:4f:aa:bb:cc`, `001b.4faa.bbcc`, ...). */
  readonly chaddr?: Buffer | string;
  readonly sname?: Buffer | string;
  readonly file?: Buffer | string;
  /**
   * In wire order (a server passes them in the client's option-55 order): `[code, bytes]`, as
   * encodeOption makes them from typed values. Values over 255 bytes are split (RFC 3396).
   */
  readonly options?: ReadonlyArray<readonly [code: number, value: Buffer]>;
  /** The client's option 57: the whole IP datagram. Default 576; values below 576 count as 576. */
  readonly maxSize?: number;
  /** Continue in `file`, then `sname` (option 52) when they are empty. Default true. */
  readonly allowOverload?: boolean;
  /** Codes never dropped, in addition to 53, 54, 51 and 1. */
  readonly required?: readonly number[];
}

export interface DhcpBuildResult {
  readonly bytes: Buffer;
  /** Codes left out to fit the size, in list order. */
  readonly dropped: number[];
  readonly overloaded: 0 | 1 | 2 | 3;
}

/** Message types a client (or a leasequery requestor) sends, in BOOTREQUESTs. */
const CLIENT_TYPES: ReadonlySet<number> = new Set([1, 3, 4, 7, 8, 10, 14, 16]);
const ALWAYS_REQUIRED = [53, 54, 51, 1];
const END = Buffer.from([255]);

interface Piece {
  readonly code: number;
  readonly value: Buffer;
}

/**
 * Places the options in order into areas of the given capacities. An option of up to 255 bytes is
 * never split (clients without RFC 3396 would misread it): when it does not fit in what is left of an
 * area it goes whole to the next one. A longer option needs RFC 3396 anyway, so its instances fill
 * each area's remaining room. Undefined when the options do not all fit.
 */
function place(
  list: ReadonlyArray<readonly [number, Buffer]>,
  caps: readonly [number, ...number[]],
): Piece[][] | undefined {
  const areas: Piece[][] = caps.map(() => []);
  let a = 0;
  let area: Piece[] = areas[0] ?? [];
  let room = caps[0];
  /** Moves on to the next area; false when there is none. */
  const next = (): boolean => {
    const cap = caps[++a];
    const following = areas[a];
    if (cap === undefined || following === undefined) return false;
    room = cap;
    area = following;
    return true;
  };
  for (const [code, value] of list) {
    if (value.length <= 255) {
      while (2 + value.length > room) if (!next()) return undefined;
      area.push({ code, value });
      room -= 2 + value.length;
      continue;
    }
    for (let at = 0; at < value.length;) {
      if (room < 3) {
        if (!next()) return undefined;
        continue;
      }
      const n = Math.min(255, value.length - at, room - 2);
      area.push({ code, value: value.subarray(at, at + n) });
      room -= 2 + n;
      at += n;
    }
  }
  return areas;
}

function writePieces(out: Buffer, at: number, list: readonly Piece[]): number {
  for (const p of list) {
    out[at] = p.code;
    out[at + 1] = p.value.length;
    p.value.copy(out, at + 2);
    at += 2 + p.value.length;
  }
  return at;
}

function isEmptyField(v: Buffer | string | undefined): boolean {
  if (v === undefined || v.length === 0) return true;
  if (typeof v === 'string') return false;
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) return false;
  return true;
}

function headerOf(
  spec: DhcpBuildSpec,
  chaddr: Buffer,
  options: DhcpBuildSpec['options'] & {},
  overloaded: number,
): HeaderFields {
  let type: number | undefined;
  for (const [code, value] of options) if (code === 53) type = value[0];
  const h: HeaderFields = {
    op: spec.op ?? (type !== undefined && CLIENT_TYPES.has(type) ? BootOp.REQUEST : BootOp.REPLY),
    htype: spec.htype ?? 1,
    hlen: spec.hlen ?? 6,
    hops: spec.hops ?? 0,
    xid: spec.xid ?? 0,
    secs: spec.secs ?? 0,
    flags: spec.flags ?? 0,
    ciaddr: spec.ciaddr ?? '0.0.0.0',
    yiaddr: spec.yiaddr ?? '0.0.0.0',
    siaddr: spec.siaddr ?? '0.0.0.0',
    giaddr: spec.giaddr ?? '0.0.0.0',
    chaddr,
  };
  // Fields that carry overloaded options are written by the options.
  if (!(overloaded & 1) && spec.file !== undefined) h.file = spec.file;
  if (!(overloaded & 2) && spec.sname !== undefined) h.sname = spec.sname;
  return h;
}

/**
 * A new packet. Throws RangeError on a spec no packet can carry: DhcpOptionError (a RangeError) naming
 * the option for an entry that is not `[code 1..254, Buffer]` or is option 52.
 */
export function buildDhcp(spec: DhcpBuildSpec): DhcpBuildResult {
  const options = spec.options ?? [];
  for (const [code, value] of options) {
    if (!Number.isInteger(code) || code < 1 || code > 254)
      throw new DhcpOptionError(code, `option-${code}`, 'not a code in 1..254');
    if (code === 52)
      throw new DhcpOptionError(
        52,
        'overload',
        'set by buildDhcp itself when the options need the file or sname field',
      );
    if (!Buffer.isBuffer(value))
      throw new DhcpOptionError(
        code,
        lookupOption(code)?.name ?? `option-${code}`,
        `the value is not a Buffer (encodeOption makes one from a typed value): ${String(value).slice(0, 40)}`,
      );
  }
  let chaddr: Buffer = Buffer.alloc(0);
  if (typeof spec.chaddr === 'string') {
    const mac = parseMac(spec.chaddr);
    if (!mac) throw new RangeError(`chaddr ${JSON.stringify(spec.chaddr)} is not a hardware address`);
    chaddr = mac;
  } else if (spec.chaddr) chaddr = spec.chaddr;

  const asked =
    spec.maxSize !== undefined && Number.isFinite(spec.maxSize) ? Math.floor(spec.maxSize) : DEFAULT_MAX_MESSAGE_SIZE;
  const maxSize = Math.min(Math.max(asked, DEFAULT_MAX_MESSAGE_SIZE), 65535);
  const budget = maxSize - IP_UDP_OVERHEAD;
  const optCap = budget - OPTIONS_OFFSET - 1; // room for End
  let total = 0;
  let allShort = true;
  for (const [, value] of options) {
    total += 2 + value.length;
    if (value.length > 255) allShort = false;
  }
  if (allShort && total <= optCap) {
    // The common case (every reply a server makes to a phone): the options fit the options field as
    // given, so no placing, dropping or overload; written straight into the packet.
    const out = Buffer.alloc(Math.max(BOOTP_MIN_LENGTH, OPTIONS_OFFSET + total + 1));
    writeHeader(out, headerOf(spec, chaddr, options, 0));
    out.writeUInt32BE(MAGIC_COOKIE, BOOTP_HEADER_LENGTH);
    let at = OPTIONS_OFFSET;
    for (const [code, value] of options) {
      out[at] = code;
      out[at + 1] = value.length;
      value.copy(out, at + 2);
      at += 2 + value.length;
    }
    out[at] = 255;
    return { bytes: out, dropped: [], overloaded: 0 };
  }
  const fileFree = spec.allowOverload !== false && isEmptyField(spec.file);
  const snameFree = spec.allowOverload !== false && isEmptyField(spec.sname);
  const required = new Set([...ALWAYS_REQUIRED, ...(spec.required ?? [])]);

  let list = options.slice();
  const dropped: number[] = [];
  let plan: Piece[][] | undefined;
  let areaIds: number[] = [A_OPTIONS];
  for (;;) {
    plan = place(list, [optCap]);
    areaIds = [A_OPTIONS];
    if (!plan && (fileFree || snameFree)) {
      const caps: [number, ...number[]] = [optCap - 3]; // option 52 takes 3 bytes of the options field
      areaIds = [A_OPTIONS];
      if (fileFree) {
        caps.push(FILE[1] - FILE[0] - 1);
        areaIds.push(A_FILE);
      }
      if (snameFree) {
        caps.push(SNAME[1] - SNAME[0] - 1);
        areaIds.push(A_SNAME);
      }
      plan = place(list, caps);
    }
    if (plan) break;
    // Drop the last option that is not required.
    let i = list.length - 1;
    let last = list[i];
    while (last !== undefined && required.has(last[0])) last = list[--i];
    if (last === undefined)
      throw new RangeError(`the required options do not fit in a ${maxSize}-byte datagram even with overload`);
    dropped.unshift(last[0]);
    list = list.filter((_, j) => j !== i);
  }

  let overloaded = 0;
  plan.forEach((area, k) => {
    if (area.length > 0 && areaIds[k] === A_FILE) overloaded |= 1;
    if (area.length > 0 && areaIds[k] === A_SNAME) overloaded |= 2;
  });
  const inOptions = plan[0] ?? [];
  const optionsBytes = inOptions.reduce((n, p) => n + 2 + p.value.length, 0) + (overloaded ? 3 : 0) + 1;
  const out = Buffer.alloc(Math.max(BOOTP_MIN_LENGTH, OPTIONS_OFFSET + optionsBytes));

  writeHeader(out, headerOf(spec, chaddr, options, overloaded));
  out.writeUInt32BE(MAGIC_COOKIE, BOOTP_HEADER_LENGTH);

  let at = OPTIONS_OFFSET;
  if (overloaded) {
    // Option 52 right after a leading message type, where clients look first.
    const lead = inOptions[0]?.code === 53 ? 1 : 0;
    at = writePieces(out, at, inOptions.slice(0, lead));
    at = writePieces(out, at, [{ code: 52, value: Buffer.from([overloaded]) }]);
    at = writePieces(out, at, inOptions.slice(lead));
  } else at = writePieces(out, at, inOptions);
  END.copy(out, at);
  plan.forEach((area, k) => {
    if (k === 0 || area.length === 0) return;
    const start = areaIds[k] === A_FILE ? FILE[0] : SNAME[0];
    END.copy(out, writePieces(out, start, area));
  });
  return { bytes: out, dropped, overloaded: overloaded as 0 | 1 | 2 | 3 };
}
