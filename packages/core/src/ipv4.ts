/**
 * IPv4 addresses: dotted text as unsigned 32-bit numbers (pools, subnet tests) and as the 4 bytes of a
 * packet (codecs, capture decode). The one place each conversion is written.
 */

/** Dotted text to a number; lenient (no validation: give it checked text, see writeIPv4). */
export function ipToInt(ip: string): number {
  const p = ip.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** The 4 bytes at `at` as dotted text (one string, nothing else allocated: per-packet decode uses it). */
export function formatIPv4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/**
 * Dotted-quad IPv4 to 4 bytes; undefined unless exactly four decimal octets 0..255 without leading zeros
 * (which some parsers read as octal). Hand-rolled: it runs for every address of every reply built.
 */
export function parseIPv4(s: string): Buffer | undefined {
  const out = Buffer.allocUnsafe(4);
  return writeIPv4(out, 0, s) ? out : undefined;
}

/**
 * parseIPv4 into `out` at `at` without allocating (the reply builder writes four addresses per packet).
 * False, with out[at..at+4] in an unspecified state, when `s` is not a dotted quad.
 */
export function writeIPv4(out: Uint8Array, at: number, s: string): boolean {
  let part = 0;
  let n = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return false;
      out[at + part++] = n;
      n = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && n === 0) return false; // leading zero
      n = n * 10 + (c - 0x30);
      if (++digits > 3 || n > 255) return false;
    } else return false;
  }
  return part === 4;
}

export interface Cidr {
  network: number;
  prefix: number;
  mask: number;
  broadcast: number;
  text: string;
}

export function parseCidr(text: string): Cidr {
  const [ip, len] = text.split('/');
  const prefix = Number(len);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (ipToInt(ip!) & mask) >>> 0;
  return { network, prefix, mask, broadcast: (network | ~mask) >>> 0, text: `${intToIp(network)}/${prefix}` };
}

export function inCidr(c: Cidr, ip: number): boolean {
  return (ip & c.mask) >>> 0 === c.network;
}

/** An IPv4 client seen through a dual-stack socket (`::ffff:a.b.c.d`) as the IPv4 address it is. */
export function unmapIPv4(a: string | undefined): string {
  return a === undefined ? '' : a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
