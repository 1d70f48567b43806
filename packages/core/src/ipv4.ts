/** IPv4 addresses as unsigned 32-bit numbers, for pools and subnet tests. */

export function ipToInt(ip: string): number {
  const p = ip.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
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
  return ((ip & c.mask) >>> 0) === c.network;
}

/** An IPv4 client seen through a dual-stack socket (`::ffff:a.b.c.d`) as the IPv4 address it is. */
export function unmapIPv4(a: string | undefined): string {
  return a === undefined ? '' : a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
