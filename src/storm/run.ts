/**
 * One storm: a fleet of simulated phones booting at once against bootwire or another server, measured.
 * With `compare`, the same fleet boots against bootwire and each named peer in turn, each server alone
 * in a network namespace of its own (the peers listen on port 69 and drop privileges: root only).
 */
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import type { Redirect } from '../boot/redirect.js';
import type { FileProtocol } from '../phones/models.js';
import { writeExampleRoot } from '../phones/init-root.js';
import { buildFleet, type MixEntry } from './fleet.js';
import { CpuGroup, selfCpuSeconds } from './proc.js';
import { createProgress } from './progress.js';
import { type StormRun, summarize } from './result.js';
import { CLI, loopbackConfig, type PeerName, type RunningServer, startBootwire, startPeer } from './servers.js';
import { simulate } from './simulator.js';
import { type SiteStormOptions, siteStorm } from './site-storm.js';

export interface StormOptions {
  phones: number;
  mix: MixEntry[];
  /** Flags as typed, to pass on to the child storms of a comparison. */
  mixText: string;
  imageSize?: number;
  loss: number;
  duplicate: number;
  reorder: number;
  staggerMs: number;
  /** 'builtin' or a file server URL (tftp://…, http://…). */
  server: string;
  /** 'builtin', 'none' or HOST:PORT. */
  dhcp: string;
  protocols?: FileProtocol[];
  blksize?: number;
  windowsize?: number;
  compare: PeerName[];
  rounds: number;
  /** Simulator threads. */
  workers: number;
  serverWorkers?: number;
  /** An existing provisioning root instead of a generated one. */
  root?: string;
  progress: boolean;
  seed: number;
  /** Relay port of an external DHCP server (67 for standard ones). */
  relayPort?: number;
  /** Boot in a site of network namespaces (voice subnets, relay, shaped uplink) instead of on loopback. */
  site?: SiteStormOptions;
}

/** A UDP port free on the first relay address (the others are loopback addresses nobody else uses). */
async function freeUdpPort(host: string): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, host, () => resolve());
  });
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Relay socket k: its own loopback address, one port for all (the server's relayPort). */
export const relayAddress = (k: number) => `127.0.${10 + Math.floor(k / 254)}.${(k % 254) + 1}`;

/**
 * Phones per relay socket. All phones ask at once: one socket for 500 phones overflowed its receive
 * buffer (hundreds of OFFERs dropped, DHCP retried after 2 s and 4 s, the simulator measuring itself).
 * 50 replies fit a default buffer with room to spare.
 */
const PHONES_PER_RELAY = 50;
/** bootwire's DHCP server gives up to 256 relays a connected socket of their own. */
const MAX_RELAYS = 256;
export const relayCount = (phones: number, workers: number) => Math.min(MAX_RELAYS, Math.max(workers, Math.ceil(phones / PHONES_PER_RELAY)));

async function prepareRoot(o: StormOptions, dir: string): Promise<string> {
  if (o.root) return path.resolve(o.root);
  const root = path.join(dir, 'root');
  await writeExampleRoot(root, o.imageSize !== undefined ? { imageSize: o.imageSize } : {});
  return root;
}

/** Runs the storm (or the comparison) and returns one run per server. */
export async function runStorm(o: StormOptions): Promise<StormRun[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bootwire-storm-'));
  try {
    const root = await prepareRoot(o, dir);
    if (o.site) return await siteStorm(o, o.site, root, dir);
    if (o.compare.length > 0) return await compare(o, root, dir);
    return [await single(o, root, dir)];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function single(o: StormOptions, root: string, dir: string): Promise<StormRun> {
  const fleet = buildFleet(o.phones, o.mix, o.seed);
  const workers = Math.max(1, o.workers);
  let server: RunningServer | undefined;
  let dhcpTarget: { host: string; port: number } | undefined;
  let relayPort = o.relayPort;
  const redirects: Redirect[] = [];
  let serverUrl: string | undefined;
  let label = o.server;
  if (o.dhcp !== 'none' && o.dhcp !== 'builtin') {
    const m = /^(.+):([0-9]+)$/.exec(o.dhcp)!;
    dhcpTarget = { host: m[1]!, port: Number(m[2]) };
    relayPort ??= 67;
  }
  if (o.dhcp === 'builtin') relayPort = await freeUdpPort(relayAddress(0));
  if (o.server === 'builtin') {
    // Backups (BRURI) of a root whose settings ask for them: the 1600 and 96xx phones restore and back up.
    const backupDir = path.join(dir, 'backup');
    await mkdir(backupDir, { recursive: true });
    const config = await loopbackConfig({ root, dir, http: true, ftp: true, backupDir, ...(o.dhcp === 'builtin' ? { relayPort: relayPort! } : {}), ...(o.serverWorkers !== undefined ? { workers: o.serverWorkers } : {}) });
    server = await startBootwire({ config, dir });
    if (o.dhcp === 'builtin') dhcpTarget = server.dhcp!;
    // The site's DHCP names 10.77.0.1 on the standard ports; here the servers are on loopback.
    redirects.push({ protocol: 'tftp', host: '10.77.0.1', to: server.tftp! }, { protocol: 'http', host: '10.77.0.1', to: server.http! }, { protocol: 'ftp', host: '10.77.0.1', to: server.ftp! });
    if (o.dhcp === 'none') {
      const first = o.protocols?.[0] ?? 'http';
      const ep = first === 'tftp' ? server.tftp! : first === 'ftp' ? server.ftp! : server.http!;
      serverUrl = `${first}://${ep.host}:${ep.port}/`;
      // A file the provisioning names on this host with another protocol (the 1200's [FW] PROTOCOL)
      // is on its standard port there: the same server.
      for (const [protocol, to] of [['tftp', server.tftp!], ['http', server.http!], ['ftp', server.ftp!]] as const) redirects.push({ protocol, host: ep.host, port: { tftp: 69, http: 80, ftp: 21 }[protocol], to });
    }
  } else {
    serverUrl = o.server;
    label = o.server;
  }
  const progress = createProgress(label, fleet.length, o.progress);
  const cpu0 = selfCpuSeconds();
  const serverCpu0 = server?.usage()?.cpuSeconds;
  let result;
  try {
    result = await simulate({
      phones: fleet,
      workers,
      staggerMs: o.staggerMs,
      ...(dhcpTarget
        ? { dhcp: { kind: 'relay' as const, server: dhcpTarget, linkSelection: '10.77.0.1', timeoutMs: 2000, retries: 6, relays: Array.from({ length: relayCount(fleet.length, workers) }, (_, k) => ({ address: relayAddress(k), port: relayPort! })) } }
        : {}),
      ...(serverUrl !== undefined && o.dhcp === 'none' ? { serverUrl } : {}),
      redirects,
      faults: { loss: o.loss, duplicate: o.duplicate, reorder: o.reorder },
      ...(o.protocols ? { protocols: o.protocols } : {}),
      ...(o.blksize ? { tftpBlksize: o.blksize } : {}),
      ...(o.windowsize ? { tftpWindowsize: o.windowsize } : {}),
      seed: o.seed,
      onStage: (c) => progress.update(c),
    });
  } finally {
    progress.stop();
  }
  const usage = server?.usage();
  await server?.stop();
  return summarize(label, result.outcomes, result.wallSeconds, {
    simulatorCpuSeconds: selfCpuSeconds() - cpu0,
    simulatorPeakRssBytes: process.resourceUsage().maxRSS * 1024,
    relayFaults: result.relayFaults,
    ...(usage && serverCpu0 !== undefined ? { serverCpuSeconds: usage.cpuSeconds - serverCpu0, serverPeakRssBytes: usage.peakRssBytes } : {}),
  });
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** Each server alone in a fresh namespace; the fleet is a child storm inside it, pointed at port 69. */
async function compare(o: StormOptions, root: string, dir: string): Promise<StormRun[]> {
  if (process.getuid?.() !== 0) throw new Error('--compare needs root: the peers listen on port 69 and drop privileges, each in a network namespace of its own');
  const names = ['bootwire', ...o.compare];
  const runs = new Map<string, StormRun[]>();
  for (let round = 0; round < o.rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const ns = `bwstorm-${process.pid}-${round}-${name}`;
      ip(['netns', 'add', ns]);
      try {
        ip(['-n', ns, 'link', 'set', 'lo', 'up']);
        // tftpd-hpa resolves its address with AI_ADDRCONFIG, which fails when only loopback has one.
        ip(['-n', ns, 'link', 'add', 'bw0', 'type', 'veth', 'peer', 'name', 'bw1']);
        ip(['-n', ns, 'addr', 'add', '198.18.0.1/32', 'dev', 'bw0']);
        ip(['-n', ns, 'link', 'set', 'bw0', 'up']);
        ip(['-n', ns, 'link', 'set', 'bw1', 'up']);
        const prefix = ['ip', 'netns', 'exec', ns];
        const server =
          name === 'bootwire'
            ? await startBootwire({ config: { root, tftp: { listen: '127.0.0.1:69', ...(o.serverWorkers !== undefined ? { workers: o.serverWorkers } : {}) } }, dir, prefix })
            : await startPeer(name as PeerName, root, prefix);
        // The server's CPU with the children it forks and never waits for (tftpd-hpa): see CpuGroup.
        let group = CpuGroup.open(ns);
        if (group && !group.add(server.pid)) {
          group.remove();
          group = undefined;
        }
        const cpu = () => (group ? group.cpuSeconds() : server.usage()?.cpuSeconds);
        try {
          if (o.progress) process.stderr.write(`storm: ${name} (round ${round + 1}/${o.rounds})\n`);
          const cpu0 = cpu() ?? 0;
          const child = await childStorm(o, prefix, root);
          const cpu1 = cpu();
          const u = server.usage();
          const run: StormRun = {
            ...child,
            server: name,
            ...(cpu1 !== undefined && Number.isFinite(cpu1) ? { serverCpuSeconds: Math.round((cpu1 - cpu0) * 1000) / 1000 } : {}),
            ...(u ? { serverPeakRssBytes: u.peakRssBytes } : {}),
          };
          runs.set(name, [...(runs.get(name) ?? []), run]);
        } finally {
          await server.stop();
          await group?.removeWhenEmpty();
        }
      } finally {
        spawnSync('ip', ['netns', 'del', ns]);
      }
    }
  }
  // The median round by wall time stands for each server.
  return names.map((n) => {
    const r = [...runs.get(n)!].sort((a, b) => a.wallSeconds - b.wallSeconds);
    return r[Math.floor((r.length - 1) / 2)]!;
  });
}

/** `bootwire storm --server tftp://127.0.0.1:69/ --dhcp none --json` inside the namespace. */
async function childStorm(o: StormOptions, prefix: string[], root: string): Promise<StormRun> {
  const args = [
    ...prefix,
    process.execPath,
    CLI,
    'storm',
    '--server',
    'tftp://127.0.0.1:69/',
    '--dhcp',
    'none',
    '--root',
    root,
    '--phones',
    String(o.phones),
    '--mix',
    o.mixText,
    '--protocols',
    (o.protocols ?? ['tftp']).join(','),
    '--loss',
    String(o.loss),
    '--duplicate',
    String(o.duplicate),
    '--reorder',
    String(o.reorder),
    '--stagger',
    String(o.staggerMs),
    '--workers',
    String(o.workers),
    '--seed',
    String(o.seed),
    '--json',
    '--full-json',
    '--no-progress',
    ...(o.blksize ? ['--client-blksize', String(o.blksize)] : []),
    ...(o.windowsize ? ['--client-windowsize', String(o.windowsize)] : []),
  ];
  const child = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const line = out.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as StormRun;
  } catch {
    throw new Error(`the fleet's storm exited with ${code}: ${err.trim() || out.trim()}`);
  }
}

export const defaultWorkers = () => Math.max(1, Math.min(4, availableParallelism()));
