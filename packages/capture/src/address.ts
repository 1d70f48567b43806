/** IP addresses as text, from bytes (IPv4's is @bootwire/core's, re-exported here as before). */
import { formatIPv4 } from '@bootwire/core';

export { formatIPv4 };

/**
 * RFC 5952 text: lower-case hex, no leading zeros, the longest run of two or more zero groups (the first
 * of equal runs) as `::`, and IPv4-mapped addresses as ::ffff:a.b.c.d.
 */
export function formatIPv6(b: Uint8Array, at: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((b[at + 2 * i] ?? 0) << 8) | (b[at + 2 * i + 1] ?? 0));
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIPv4(b, at + 12)}`;
  }
  let bestAt = -1;
  let bestLen = 1; // a single zero group is not shortened
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (x: number[]) => x.map((n) => n.toString(16)).join(':');
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}
