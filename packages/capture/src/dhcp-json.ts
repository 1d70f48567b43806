/**
 * A decoded DHCP message as plain JSON data, the `dhcp` object of `bootwire decode --json`.
 *
 * Options come once per code in wire order (options field, then `file`, then `sname`, as RFC 3396
 * reads them), each with its registry name, its typed value and `raw`: the value bytes in lowercase hex
 * after RFC 3396 concatenation, without code and length.
 */
import {
  type DecodedOption,
  type DhcpMessage,
  decodeText,
  hexText,
  messageTypeName,
  type Option43,
} from '@bootwire/dhcp';
import { isPrintable } from '@bootwire/dhcp';

/** What JSON.stringify writes faithfully. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface DhcpOptionJson {
  code: number;
  name: string;
  value: Json;
  raw: string;
  /** The codec's complaints (a value of the wrong shape keeps its bytes as value). */
  warnings?: string[];
}

export interface DhcpJson {
  op: number;
  xid: string;
  secs: number;
  flags: number;
  hops: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  chaddr: string;
  sname: string;
  file: string;
  options: DhcpOptionJson[];
  /** Only when htype/hlen are not Ethernet's (1/6). */
  htype?: number;
  hlen?: number;
  /** Only for plain BOOTP (no magic cookie). */
  bootp?: true;
  /** What the decoder noticed: no End, option overrun, bytes after End, bad overload... */
  warnings?: string[];
}

export function dhcpJson(m: DhcpMessage, warnings: readonly string[] = []): DhcpJson {
  const overload = m.options.overload() ?? 0;
  const out: DhcpJson = {
    op: m.op,
    xid: `0x${m.xid.toString(16).padStart(8, '0')}`,
    secs: m.secs,
    flags: m.flags,
    hops: m.hops,
    ciaddr: m.ciaddr,
    yiaddr: m.yiaddr,
    siaddr: m.siaddr,
    giaddr: m.giaddr,
    chaddr: m.mac,
    // An overloaded field holds options, not a name.
    sname: overload & 2 ? '' : cString(m.sname),
    file: overload & 1 ? '' : cString(m.file),
    options: m.options.codes().map((code) => optionJson(m, code)),
  };
  if (m.htype !== 1 || m.hlen !== 6) Object.assign(out, { htype: m.htype, hlen: m.hlen });
  if (!m.hasCookie) out.bootp = true;
  if (warnings.length > 0) out.warnings = [...warnings];
  return out;
}

function optionJson(m: DhcpMessage, code: number): DhcpOptionJson {
  const raw = m.options.raw(code)!;
  let d: DecodedOption;
  let value: Json;
  if (code === 53) {
    // A message type reads better by name; an unnamed type keeps its number.
    const t = m.options.decode(53)!;
    [d, value] = [t, t.ok ? (messageTypeName(t.value) ?? t.value) : toJson(t.value)];
  } else if (code === 43) {
    const t = m.options.decode(43)!;
    [d, value] = [t, t.ok ? option43Json(t.value) : toJson(t.value)];
  } else {
    d = m.options.decode(code)!;
    value = toJson(d.value);
  }
  const o: DhcpOptionJson = { code, name: d.name, value, raw: raw.toString('hex') };
  if (d.warnings.length > 0) o.warnings = d.warnings;
  return o;
}

/** Option 43 by its sub-options' display text (their bytes are in `raw`); an opaque value as its text. */
function option43Json(v: Option43): Json {
  if (v.form === 'raw') return toJson(v.raw);
  return {
    form: v.form,
    subOptions: v.subOptions.map((o): Json =>
      o.name ? { code: o.code, name: o.name, text: o.text } : { code: o.code, text: o.text },
    ),
  };
}

/** A BOOTP string field: up to its first NUL, UTF-8 when valid, else Latin-1. */
function cString(field: Buffer): string {
  const nul = field.indexOf(0);
  return decodeText(nul < 0 ? field : field.subarray(0, nul));
}

/**
 * A codec's typed value as JSON. Bytes become printable text when they are, else `0x` hex; a nested
 * `raw` copy of the bytes is left out (the option's `raw` has them).
 */
export function toJson(v: unknown): Json {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array)
    return v.length > 0 && isPrintable(v)
      ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1')
      : hexText(v);
  if (Array.isArray(v)) return v.map(toJson);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toJson(x)]));
  if (typeof v === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) {
      if (
        x === undefined ||
        (k === 'raw' && x instanceof Uint8Array) ||
        (k === 'warnings' && Array.isArray(x) && x.length === 0)
      )
        continue;
      out[k] = toJson(x);
    }
    return out;
  }
  // A symbol or a function: never in a codec's value, named rather than printed.
  return typeof v === 'symbol' ? v.toString() : `[${typeof v}]`;
}
