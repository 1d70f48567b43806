/**
 * From the validated `dhcp` config to what the engine runs on: option values encoded once with the
 * codec registry, pools as number ranges, classes with their matchers, the server's own addresses.
 * Every problem is a ConfigError naming the field.
 */
import os from 'node:os';
import { DhcpConfigError as ConfigError } from '../codec/errors.js';
import {
  type DhcpConfig,
  type FilledClass as ClassConfig,
  type FilledSubnet as SubnetConfig,
  type Matcher,
  withDefaults,
} from './config.js';
import { type Cidr, inCidr, intToIp, ipToInt, parseCidr, parseHostPort, re2 } from '@bootwire/core';
import { lookupOption } from '../codec/registry.js';
import type { CompiledClass, CompiledSubnet, EngineConfig, TextMatch } from './engine.js';

type OptionInput = string | number | boolean | (string | number)[] | Record<string, string | number>;

function optionCode(key: string, where: string): number {
  const def = lookupOption(key);
  if (def) return def.code;
  if (/^\d+$/.test(key)) throw new ConfigError(`${where}: option code ${Number(key)} is not in 1..254`);
  throw new ConfigError(`${where}: unknown option name ${JSON.stringify(key)} (use its code)`);
}

/** Options as `[code, bytes]`, in the order written. */
export function compileOptions(options: Record<string, OptionInput>, where: string): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const [key, value] of Object.entries(options)) {
    const field = `${where}.${key}`;
    const code = optionCode(key, field);
    if ([0, 53, 54, 55, 255].includes(code))
      throw new ConfigError(`${field}: option ${code} is set by the server itself`);
    let bytes: Buffer;
    try {
      // Codes the registry does not type take text, 0x... hex or byte values (its bytes codec).
      bytes = lookupOption(code)!.codec.fromConfig(value);
    } catch (e) {
      throw new ConfigError(`${field}: ${(e as Error).message}`);
    }
    out.set(code, bytes);
  }
  return out;
}

function codesOf(list: (string | number)[], where: string): Set<number> {
  return new Set(list.map((c, i) => optionCode(String(c), `${where}[${i}]`)));
}

function compileMatcher(m: Matcher | undefined, where: string): TextMatch | undefined {
  if (m === undefined) return undefined;
  if (typeof m === 'string') return { exact: m };
  if ('regex' in m) {
    // RE2 (re2js), never RegExp: a backtracking engine takes exponential time on patterns like
    // (a+)+$ with a hostile option 60, and blocks every protocol of the process meanwhile.
    try {
      return { regex: re2().compile(m.regex) };
    } catch (e) {
      throw new ConfigError(
        `${where}.regex: not a regular expression bootwire can match in linear time (RE2 syntax): ` +
          `${(e as Error).message}`,
      );
    }
  }
  return m;
}

/**
 * Sanity bounds: no subnet wider than a /8, no pool of more than 2^20 addresses (a /12 is already far
 * past any broadcast domain; the pool's allocator keeps a byte per address). A typo like 0.0.0.0/0
 * would otherwise hand out the whole Internet. (Loopback subnets stay allowed: sites simulated on
 * 127.0.0.0/8 run relay-style.)
 */
export const MIN_SUBNET_PREFIX = 8;
export const MAX_POOL_ADDRESSES = 1 << 20;

/** Address blocks that are never a DHCP subnet (RFC 6890): "this network", multicast and reserved. */
const NOT_ASSIGNABLE: [string, string][] = [
  ['0.0.0.0/8', '"this network"'],
  ['224.0.0.0/3', 'multicast and reserved'],
];

function checkSubnetSize(cidr: Cidr, where: string): void {
  if (cidr.prefix < MIN_SUBNET_PREFIX) {
    throw new ConfigError(
      `${where}.subnet: ${cidr.text} is too large to serve (` +
        `${(2 ** (32 - cidr.prefix)).toLocaleString('en-US')} addresses); bootwire takes subnets of /` +
        `${MIN_SUBNET_PREFIX} or smaller`,
    );
  }
  for (const [block, what] of NOT_ASSIGNABLE) {
    const b = parseCidr(block);
    if (inCidr(b, cidr.network) || inCidr(cidr, b.network))
      throw new ConfigError(
        `${where}.subnet: ${cidr.text} overlaps ${block} (${what}), which is never given out by DHCP`,
      );
  }
}

/** The machine's IPv4 addresses, to find the subnets it is directly attached to. */
export function localAddresses(): number[] {
  const out: number[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4') out.push(ipToInt(a.address));
  }
  return out;
}

function compileSubnet(s: SubnetConfig, i: number, locals: number[]): CompiledSubnet {
  const where = `dhcp.subnets[${i}]`;
  const cidr = parseCidr(s.subnet);
  checkSubnetSize(cidr, where);
  const pool: [number, number][] = [];
  for (const [j, r] of (Array.isArray(s.pool) ? s.pool : [s.pool]).entries()) {
    const [a, b] = r.split('-').map((x) => ipToInt(x.trim())) as [number, number];
    const field = `${where}.pool${Array.isArray(s.pool) ? `[${j}]` : ''}`;
    if (a > b) throw new ConfigError(`${field}: range ends before it starts`);
    if (!inCidr(cidr, a) || !inCidr(cidr, b)) throw new ConfigError(`${field}: ${r} is not inside ${s.subnet}`);
    const other = pool.findIndex(([c, d]) => a <= d && c <= b);
    if (other >= 0) throw new ConfigError(`${field}: ${r} overlaps ${where}.pool[${other}]`);
    pool.push([a, b]);
    const size = pool.reduce((n, [c, d]) => n + d - c + 1, 0);
    if (size > MAX_POOL_ADDRESSES)
      throw new ConfigError(
        `${field}: the pool holds ${size.toLocaleString('en-US')} addresses; bootwire takes at most ` +
          `${MAX_POOL_ADDRESSES.toLocaleString('en-US')} per subnet`,
      );
  }
  const reservations = new Map<string, number>();
  const reservedAddresses = new Map<number, string>();
  for (const [j, r] of s.reservations.entries()) {
    const a = ipToInt(r.address);
    const mac = r.mac.toLowerCase();
    const field = `${where}.reservations[${j}]`;
    if (!inCidr(cidr, a)) throw new ConfigError(`${field}.address: ${r.address} is not inside ${s.subnet}`);
    if (a === cidr.network || a === cidr.broadcast)
      throw new ConfigError(
        `${field}.address: ${r.address} is the ${a === cidr.network ? 'network' : 'broadcast'} address of ${s.subnet}`,
      );
    // A second entry for the same MAC or address would silently win over the first: refused.
    if (reservations.has(mac))
      throw new ConfigError(`${field}.mac: ${r.mac} is reserved twice (also ${intToIp(reservations.get(mac)!)})`);
    if (reservedAddresses.has(a))
      throw new ConfigError(`${field}.address: ${r.address} is reserved twice (also for ${reservedAddresses.get(a)})`);
    reservations.set(mac, a);
    reservedAddresses.set(a, mac);
  }
  const local = locals.find((a) => inCidr(cidr, a));
  return {
    cidr,
    pool,
    leaseSeconds: s.leaseSeconds,
    options: compileOptions(s.options, `${where}.options`),
    alwaysSend: codesOf(s.alwaysSend, `${where}.alwaysSend`),
    reservations,
    reservedAddresses,
    authoritative: s.authoritative ?? false,
    ...(local !== undefined ? { localAddress: local } : {}),
  };
}

function compileClass(c: ClassConfig, i: number): CompiledClass {
  const where = `dhcp.classes[${i}]`;
  const m = c.match;
  const out: CompiledClass = {
    name: c.name ?? `classes[${i}]`,
    options: compileOptions(c.options, `${where}.options`),
    alwaysSend: codesOf(c.alwaysSend, `${where}.alwaysSend`),
  };
  const vendorClass = compileMatcher(m.vendorClass, `${where}.match.vendorClass`);
  const userClass = compileMatcher(m.userClass, `${where}.match.userClass`);
  const clientId = compileMatcher(m.clientId, `${where}.match.clientId`);
  const circuitId = compileMatcher(m.circuitId, `${where}.match.circuitId`);
  if (vendorClass) out.vendorClass = vendorClass;
  if (userClass) out.userClass = userClass;
  if (clientId) out.clientId = clientId;
  if (circuitId) out.circuitId = circuitId;
  if (m.macPrefix) out.macPrefix = m.macPrefix.toLowerCase();
  return out;
}

/** The specific IPv4 address the server listens on, if it is not the wildcard. */
function listenAddress(listen: string): string | undefined {
  let host: string;
  try {
    ({ host } = parseHostPort(listen, '0.0.0.0', 'dhcp.listen'));
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  return /^[0-9.]+$/.test(host) && host !== '0.0.0.0' ? host : undefined;
}

export function compileDhcpConfig(given: DhcpConfig, locals: number[] = localAddresses()): EngineConfig {
  const cfg = withDefaults(given);
  const subnets = cfg.subnets.map((s, i) => compileSubnet(s, i, locals));
  for (let i = 0; i < subnets.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = subnets[i]!.cidr;
      const b = subnets[j]!.cidr;
      if (inCidr(a, b.network) || inCidr(b, a.network))
        throw new ConfigError(`dhcp.subnets[${i}].subnet: ${a.text} overlaps dhcp.subnets[${j}] ${b.text}`);
    }
  }
  const listen = listenAddress(cfg.listen);
  const own = new Set(locals);
  if (cfg.serverId) own.add(ipToInt(cfg.serverId));
  if (listen) own.add(ipToInt(listen));
  return {
    subnets,
    classes: cfg.classes.map(compileClass),
    ...(cfg.serverId ? { serverId: cfg.serverId } : {}),
    ...(listen ? { listenAddress: listen } : {}),
    ownAddresses: own,
    offerMs: cfg.offerSeconds * 1000,
    declineMs: cfg.declineSeconds * 1000,
  };
}
