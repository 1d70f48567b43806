/**
 * A provisioning site in network namespaces: what the storm and the tests run on when loopback would
 * hide the network (losses, queues, routing). Root only.
 *
 *   server ns                router ns                                    phones ns, one per voice subnet
 *   up0 10.79.0.1/24 ─tbf──> up1 10.79.0.254/24   dhcrelay   v0 10.78.0.1/24 <──> ph 10.78.0.2/24 + phones
 *                                                            v1 10.78.1.1/24 <──> ph 10.78.1.2/24 + phones
 *
 * The server has no address on the voice subnets: their DHCP reaches it only through ISC dhcrelay in
 * the router (giaddr 10.78.k.1), and everything else is routed. The server's uplink (its side of the
 * veth) is shaped with tbf: a rate and a queue of so many milliseconds, as a switch port's buffer
 * would be; with netem, where the kernel has it, also delay and loss. Each phone has its own address
 * in its subnet (10.78.k.10 on), added beforehand so that a simulated phone can send from the address
 * its lease gives it.
 *
 * Every namespace is deleted by `destroy()`, and when the process exits.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { addNamespace, deleteNamespace, ip, netnsPrefix, removeStaleNamespaces } from './netns.js';
import { stopChild } from './proc.js';

export const SERVER_ADDRESS = '10.79.0.1';
export const ROUTER_UPLINK_ADDRESS = '10.79.0.254';
/** Phones per voice subnet at most: 10.78.k.10 .. 10.78.k.249. */
export const MAX_PHONES_PER_SUBNET = 240;
const FIRST_PHONE_HOST = 10;

export interface UplinkShape {
  /** The uplink's rate, in Mbit/s. */
  rateMbit: number;
  /** Its queue, as the time it takes to drain at that rate (tbf's latency): a switch port's buffer. */
  queueMs: number;
  /** tbf's bucket, in KiB (default 64). */
  burstKb?: number;
  /** One-way delay and loss (netem; refused where the kernel has no netem). */
  delayMs?: number;
  lossPercent?: number;
}

export interface SiteOptions {
  /** Voice subnets behind the router (10.78.0.0/24, 10.78.1.0/24, ...). */
  voiceSubnets: number;
  /** Addresses set aside for phones in each voice subnet. */
  phonesPerSubnet: number;
  /** How the server's uplink is shaped; absent: as fast as the machine goes. */
  uplink?: UplinkShape;
}

export interface Namespace {
  name: string;
  /** `ip netns exec NAME`: put before a command to run it inside. */
  prefix: string[];
}

export interface VoiceSubnet extends Namespace {
  index: number;
  cidr: string;
  gateway: string;
  /** The phones' own addresses, in order. */
  phones: string[];
}

export interface UplinkCounters {
  packets: number;
  dropped: number;
  overlimits: number;
}

const live = new Set<Site>();
process.on('exit', () => {
  for (const s of live) s.destroy();
});

function tc(ns: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('tc', ['-n', ns, ...args], { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function sysctl(ns: string, setting: string): void {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', setting], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`sysctl ${setting} in ${ns}: ${(r.stderr || '').trim()}`);
}

let netemKnown: boolean | undefined;

/** Whether this kernel has netem (many CI kernels do not): tried once, in a namespace of its own. */
export function hasNetem(): boolean {
  if (netemKnown !== undefined) return netemKnown;
  const ns = `bwnetem-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    ip(['netns', 'add', ns]);
    netemKnown = tc(ns, ['qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']).ok;
  } catch {
    netemKnown = false;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
  return netemKnown;
}

export const isRoot = (): boolean => process.getuid?.() === 0;

export class Site {
  readonly server: Namespace;
  readonly router: Namespace;
  readonly voice: VoiceSubnet[] = [];
  private readonly names: string[] = [];
  private destroyed = false;
  private readonly children = new Set<ChildProcess>();

  private constructor(
    readonly id: string,
    readonly options: SiteOptions,
  ) {
    const ns = (suffix: string): Namespace => {
      const name = `bwsite-${id}-${suffix}`;
      return { name, prefix: netnsPrefix(name) };
    };
    this.server = ns('srv');
    this.router = ns('rtr');
    for (let k = 0; k < options.voiceSubnets; k++) {
      const phones = Array.from({ length: options.phonesPerSubnet }, (_, i) => `10.78.${k}.${FIRST_PHONE_HOST + i}`);
      this.voice.push({ ...ns(`v${k}`), index: k, cidr: `10.78.${k}.0/24`, gateway: `10.78.${k}.1`, phones });
    }
  }

  /** Builds the site; on any failure, removes what it had made and throws. */
  static create(o: SiteOptions): Site {
    if (!isRoot()) throw new Error('a site in network namespaces needs root');
    if (o.voiceSubnets < 1 || o.voiceSubnets > 200)
      throw new Error(`voice subnets: ${o.voiceSubnets} is not in 1..200`);
    if (o.phonesPerSubnet < 1 || o.phonesPerSubnet > MAX_PHONES_PER_SUBNET)
      throw new Error(`phones per subnet: ${o.phonesPerSubnet} is not in 1..${MAX_PHONES_PER_SUBNET}`);
    if ((o.uplink?.delayMs || o.uplink?.lossPercent) && !hasNetem())
      throw new Error('uplink delay and loss need netem, which this kernel does not have');
    removeStaleNamespaces('bwsite');
    const site = new Site(`${process.pid}-${randomBytes(3).toString('hex')}`, o);
    live.add(site);
    try {
      site.build();
    } catch (e) {
      site.destroy();
      throw e;
    }
    return site;
  }

  private build(): void {
    const { server: s, router: r } = this;
    for (const n of [s, r, ...this.voice]) {
      addNamespace(n.name);
      this.names.push(n.name);
    }
    ip(['link', 'add', 'up0', 'netns', s.name, 'type', 'veth', 'peer', 'name', 'up1', 'netns', r.name]);
    ip(['-n', s.name, 'addr', 'add', `${SERVER_ADDRESS}/24`, 'dev', 'up0']);
    ip(['-n', r.name, 'addr', 'add', `${ROUTER_UPLINK_ADDRESS}/24`, 'dev', 'up1']);
    ip(['-n', s.name, 'link', 'set', 'up0', 'up']);
    ip(['-n', r.name, 'link', 'set', 'up1', 'up']);
    ip(['-n', s.name, 'route', 'add', 'default', 'via', ROUTER_UPLINK_ADDRESS]);
    sysctl(r.name, 'net.ipv4.ip_forward=1');
    for (const v of this.voice) {
      const dev = `v${v.index}`;
      ip(['link', 'add', dev, 'netns', r.name, 'type', 'veth', 'peer', 'name', 'ph', 'netns', v.name]);
      ip(['-n', r.name, 'addr', 'add', `${v.gateway}/24`, 'dev', dev]);
      ip(['-n', r.name, 'link', 'set', dev, 'up']);
      // The phones' side: one address of its own, then every phone's, in one batch.
      const lines = [
        `addr add 10.78.${v.index}.2/24 dev ph`,
        ...v.phones.map((a) => `addr add ${a}/24 dev ph`),
        'link set ph up',
        `route add default via ${v.gateway}`,
      ];
      ip(['-n', v.name, '-batch', '-'], `${lines.join('\n')}\n`);
    }
    const u = this.options.uplink;
    if (u) this.shape(u);
  }

  private shape(u: UplinkShape): void {
    const ns = this.server.name;
    const tbf = ['tbf', 'rate', `${u.rateMbit}mbit`, 'burst', `${u.burstKb ?? 64}kb`, 'latency', `${u.queueMs}ms`];
    let r;
    if (u.delayMs || u.lossPercent) {
      const netem = [
        'netem',
        ...(u.delayMs ? ['delay', `${u.delayMs}ms`] : []),
        ...(u.lossPercent ? ['loss', `${u.lossPercent}%`] : []),
      ];
      r = tc(ns, ['qdisc', 'add', 'dev', 'up0', 'root', 'handle', '1:', ...netem]);
      if (r.ok) r = tc(ns, ['qdisc', 'add', 'dev', 'up0', 'parent', '1:1', 'handle', '10:', ...tbf]);
    } else r = tc(ns, ['qdisc', 'add', 'dev', 'up0', 'root', ...tbf]);
    if (!r.ok) throw new Error(`tc on the uplink: ${r.out.trim()}`);
  }

  /** The uplink's qdisc counters (tbf's, or netem's when it is the root): packets sent, dropped. */
  uplinkCounters(): UplinkCounters | undefined {
    const r = tc(this.server.name, ['-s', 'qdisc', 'show', 'dev', 'up0']);
    const m = /Sent \d+ bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)/.exec(r.out);
    return m ? { packets: Number(m[1]), dropped: Number(m[2]), overlimits: Number(m[3]) } : undefined;
  }

  /**
   * ISC dhcrelay in the router: the voice subnets' broadcasts go to `server` with giaddr set to the
   * subnet's gateway; with `agentOption`, option 82 names the interface (circuit id v0, v1, ...).
   */
  async startRelay(
    server = SERVER_ADDRESS,
    agentOption = true,
    bin = 'dhcrelay',
  ): Promise<{ stop(): Promise<void>; output(): string }> {
    const args = [
      '-4',
      '-d',
      '--no-pid',
      ...(agentOption ? ['-a'] : []),
      ...this.voice.flatMap((v) => ['-id', `v${v.index}`]),
      '-iu',
      'up1',
      server,
    ];
    const child = this.spawnIn(this.router, bin, args);
    let out = '';
    const take = (c: Buffer) => (out = (out + c.toString()).slice(-20_000));
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dhcrelay did not start within 10 s: ${out.trim()}`)), 10_000);
      const check = () => {
        if (/Sending on\s+Socket\/fallback/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', check);
      child.stderr!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`dhcrelay exited with ${code}: ${out.trim()}`));
      });
    });
    return { stop: () => this.stop(child), output: () => out };
  }

  /** A long-running program inside one of the site's namespaces, stopped by `destroy()` if not before. */
  spawnIn(n: Namespace, cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
    const child = spawn(n.prefix[0]!, [...n.prefix.slice(1), cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(env ? { env } : {}),
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** SIGTERM, then SIGKILL after 5 s. */
  stop(child: ChildProcess): Promise<void> {
    return stopChild(child, 5000);
  }

  /** Stops what runs in the site and deletes its namespaces (idempotent, synchronous). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const c of this.children) c.kill('SIGKILL');
    for (const n of this.names) deleteNamespace(n);
  }
}
