/**
 * From the validated `dhcp` config to what the engine runs on: option values encoded once with the
 * codec registry, pools as number ranges, classes with their matchers, the server's own addresses.
 * Every problem is a ConfigError naming the field.
 */
import os from 'node:os';
import { ConfigError } from '../../config/load.js';
import type { ClassConfig, DhcpConfig, Matcher, SubnetConfig } from '../../config/schema.js';
import { inCidr, ipToInt, parseCidr } from '../../util/ipv4.js';
import { optionByCode, optionByName, optionDef } from '../codec/registry.js';
import type { CompiledClass, CompiledSubnet, EngineConfig, TextMatch } from './engine.js';

type OptionInput = string | number | boolean | (string | number)[] | Record<string, string | number>;

function optionCode(key: string, where: string): number {
  if (/^\d+$/.test(key)) {
    const code = Number(key);
    if (code < 1 || code > 254) throw new ConfigError(`${where}: option code ${code} is not in 1..254`);
    return code;
  }
  const def = optionByName(key);
  if (!def) throw new ConfigError(`${where}: unknown option name ${JSON.stringify(key)} (use its code)`);
  return def.code;
}

/** Options as `[code, bytes]`, in the order written. */
export function compileOptions(options: Record<string, OptionInput>, where: string): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const [key, value] of Object.entries(options)) {
    const field = `${where}.${key}`;
    const code = optionCode(key, field);
    if ([0, 53, 54, 55, 255].includes(code)) throw new ConfigError(`${field}: option ${code} is set by the server itself`);
    let bytes: Buffer;
    try {
      // Codes the registry does not type take text, or 0x... hex.
      bytes = optionByCode(code) ? optionDef(code).codec.fromConfig(value) : rawFromConfig(value);
    } catch (e) {
      throw new ConfigError(`${field}: ${(e as Error).message}`);
    }
    out.set(code, bytes);
  }
  return out;
}

/** An option the registry does not know: text, or hex written as 0x.... */
function rawFromConfig(value: OptionInput): Buffer {
  if (typeof value === 'string') {
    if (/^0x([0-9a-fA-F]{2})*$/.test(value)) return Buffer.from(value.slice(2), 'hex');
    return Buffer.from(value, 'utf8');
  }
  throw new Error('an option without a known type takes text or hex (0x...)');
}

function codesOf(list: (string | number)[], where: string): Set<number> {
  return new Set(list.map((c, i) => optionCode(String(c), `${where}[${i}]`)));
}

function compileMatcher(m: Matcher | undefined): TextMatch | undefined {
  if (m === undefined) return undefined;
  if (typeof m === 'string') return { exact: m };
  if ('regex' in m) return { regex: new RegExp(m.regex) };
  return m;
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
  const pool: [number, number][] = [];
  for (const [j, r] of (Array.isArray(s.pool) ? s.pool : [s.pool]).entries()) {
    const [a, b] = r.split('-').map((x) => ipToInt(x.trim())) as [number, number];
    const field = `${where}.pool${Array.isArray(s.pool) ? `[${j}]` : ''}`;
    if (a > b) throw new ConfigError(`${field}: range ends before it starts`);
    if (!inCidr(cidr, a) || !inCidr(cidr, b)) throw new ConfigError(`${field}: ${r} is not inside ${s.subnet}`);
    pool.push([a, b]);
  }
  const reservations = new Map<string, number>();
  const reservedAddresses = new Map<number, string>();
  for (const [j, r] of s.reservations.entries()) {
    const a = ipToInt(r.address);
    if (!inCidr(cidr, a)) throw new ConfigError(`${where}.reservations[${j}].address: ${r.address} is not inside ${s.subnet}`);
    reservations.set(r.mac.toLowerCase(), a);
    reservedAddresses.set(a, r.mac.toLowerCase());
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
  const vendorClass = compileMatcher(m.vendorClass);
  const userClass = compileMatcher(m.userClass);
  const clientId = compileMatcher(m.clientId);
  const circuitId = compileMatcher(m.circuitId);
  if (vendorClass) out.vendorClass = vendorClass;
  if (userClass) out.userClass = userClass;
  if (clientId) out.clientId = clientId;
  if (circuitId) out.circuitId = circuitId;
  if (m.macPrefix) out.macPrefix = m.macPrefix.toLowerCase();
  return out;
}

/** The specific IPv4 address the server listens on, if it is not the wildcard. */
function listenAddress(listen: string): string | undefined {
  const host = listen.slice(0, listen.lastIndexOf(':'));
  return /^[0-9.]+$/.test(host) && host !== '0.0.0.0' ? host : undefined;
}

export function compileDhcpConfig(cfg: DhcpConfig, locals: number[] = localAddresses()): EngineConfig {
  const subnets = cfg.subnets.map((s, i) => compileSubnet(s, i, locals));
  for (let i = 0; i < subnets.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = subnets[i]!.cidr;
      const b = subnets[j]!.cidr;
      if (inCidr(a, b.network) || inCidr(b, a.network)) throw new ConfigError(`dhcp.subnets[${i}].subnet: ${a.text} overlaps dhcp.subnets[${j}] ${b.text}`);
    }
  }
  return {
    subnets,
    classes: cfg.classes.map(compileClass),
    ...(cfg.serverId ? { serverId: cfg.serverId } : {}),
    ...(listenAddress(cfg.listen) ? { listenAddress: listenAddress(cfg.listen)! } : {}),
    offerMs: cfg.offerSeconds * 1000,
    declineMs: cfg.declineSeconds * 1000,
  };
}
