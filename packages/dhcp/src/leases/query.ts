/**
 * Which leases an operator asked for (`bootwire leases --mac --ip --subnet --expired`), as a pure
 * filter: the running server's control socket and the CLI reading the file itself answer alike.
 */
import { isIPv4 } from 'node:net';
import { type Cidr, inCidr, ipToInt, parseCidr } from '@bootwire/core/internal/ipv4.js';
import type { Lease } from './store.js';

export interface LeaseQuery {
  /** aa:bb:cc:dd:ee:ff, any case; also matches `aabbccddeeff` and `aa-bb-…`. */
  mac?: string;
  ip?: string;
  /** A CIDR (10.77.0.0/24): leases whose address is inside it. */
  subnet?: string;
  /** Only leases that ran out or were released; without it, only those in force (bound or quarantined). */
  expired?: boolean;
}

/** Thrown for a query that cannot match anything as written (a bad MAC, address or subnet). */
export class LeaseQueryError extends Error {
  override name = 'LeaseQueryError';
}

/** `00:04:0D:AA:BB:01`, `00-04-0d-aa-bb-01`, `00040daabb01` → `00:04:0d:aa:bb:01`. */
export function normalizeMac(mac: string): string {
  const hex = mac.toLowerCase().replace(/[:\-.]/g, '');
  if (!/^[0-9a-f]{12}$/.test(hex)) throw new LeaseQueryError(`not a MAC address: ${JSON.stringify(mac)}`);
  return hex.replace(/(..)(?!$)/g, '$1:');
}

/** A lease is in force while bound and unexpired, or while its DECLINE quarantine runs. */
export function inForce(l: Lease, now: number): boolean {
  return (l.state === 'bound' || l.state === 'declined') && l.expiresAt > now;
}

/** Checks a query's fields and returns a predicate over leases. */
export function leaseFilter(q: LeaseQuery, now: number): (l: Lease) => boolean {
  const mac = q.mac !== undefined ? normalizeMac(q.mac) : undefined;
  let ip: number | undefined;
  if (q.ip !== undefined) {
    if (!isIPv4(q.ip)) throw new LeaseQueryError(`not an IPv4 address: ${JSON.stringify(q.ip)}`);
    ip = ipToInt(q.ip);
  }
  let cidr: Cidr | undefined;
  if (q.subnet !== undefined) {
    const [net, len, extra] = q.subnet.split('/');
    if (
      extra !== undefined ||
      net === undefined ||
      !isIPv4(net) ||
      (len !== undefined && !(/^\d{1,2}$/.test(len) && Number(len) <= 32))
    ) {
      throw new LeaseQueryError(`not a subnet like 10.77.0.0/24: ${JSON.stringify(q.subnet)}`);
    }
    cidr = parseCidr(`${net}/${len ?? 32}`);
  }
  return (l) => {
    if (mac !== undefined && l.mac.toLowerCase() !== mac) return false;
    if (ip !== undefined && ipToInt(l.address) !== ip) return false;
    if (cidr !== undefined && !inCidr(cidr, ipToInt(l.address))) return false;
    return q.expired ? !inForce(l, now) : inForce(l, now);
  };
}

/** The matching leases, by address. */
export function selectLeases(leases: Iterable<Lease>, q: LeaseQuery, now: number): Lease[] {
  const keep = leaseFilter(q, now);
  const out: Lease[] = [];
  for (const l of leases) if (keep(l)) out.push(l);
  return out.sort((a, b) => ipToInt(a.address) - ipToInt(b.address));
}

/**
 * What releasing `lease` does to its row at `now` (`bootwire leases release`): a bound lease becomes
 * released now; a DECLINE quarantine is lifted (the row goes); a released one stays as it is.
 */
export function releaseChange(
  lease: Lease,
  now: number,
): { ok: true; row: Lease | 'delete' } | { ok: false; reason: string } {
  if (lease.state === 'declined') return { ok: true, row: 'delete' };
  if (lease.state === 'released') return { ok: false, reason: `${lease.address} is already released` };
  return { ok: true, row: { ...lease, state: 'released', expiresAt: Math.min(lease.expiresAt, now) } };
}
