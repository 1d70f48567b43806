/**
 * One storm: a fleet of simulated phones booting at once against bootwire or another server, measured,
 * on loopback; with `compare`, against each peer too (src/storm/compare.ts); with `site`, in network
 * namespaces (src/storm/site-storm.ts).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import type { Redirect } from '../boot/redirect.js';
import type { FileProtocol } from '../phones/models.js';
import { writeExampleRoot } from '../phones/init-root.js';
import { buildFleet, type MixEntry } from './fleet.js';
import { compareOnLoopback } from './compare.js';
import { selfCpuSeconds } from './proc.js';
import { createProgress } from './progress.js';
import { type StormRun, summarize } from './result.js';
import { loopbackConfig, type PeerName, type RunningServer, startBootwire } from './servers.js';
import { simulate } from './simulator.js';
import { type SiteStormOptions, siteStorm } from './site-storm.js';
import { freeUdpPort, type HostPort, intToIp, ipToInt } from '@bootwire/core';

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

/** Phone i's own loopback address (127.1.0.0 on; Linux routes all of 127/8 to lo), apart from the relays' 127.0.x. */
const PHONE_LOOPBACK_BASE = ipToInt('127.1.0.0');
export const phoneLoopbackAddress = (i: number) => intToIp(PHONE_LOOPBACK_BASE + i);

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
export const relayCount = (phones: number, workers: number) =>
  Math.min(MAX_RELAYS, Math.max(workers, Math.ceil(phones / PHONES_PER_RELAY)));

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
    if (o.compare.length > 0) return await compareOnLoopback(o, root, dir);
    return [await single(o, root, dir)];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function single(o: StormOptions, root: string, dir: string): Promise<StormRun> {
  const fleet = buildFleet(o.phones, o.mix, o.seed);
  const workers = Math.max(1, o.workers);
  let server: RunningServer | undefined;
  let dhcpTarget: HostPort | undefined;
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
    const config = await loopbackConfig({
      root,
      dir,
      http: true,
      ftp: true,
      backupDir,
      ...(o.dhcp === 'builtin' ? { relayPort: relayPort! } : {}),
      ...(o.serverWorkers !== undefined ? { workers: o.serverWorkers } : {}),
    });
    server = await startBootwire({ config, dir });
    if (o.dhcp === 'builtin') dhcpTarget = server.dhcp!;
    // The site's DHCP names 10.77.0.1 on the standard ports; here the servers are on loopback.
    redirects.push(
      { protocol: 'tftp', host: '10.77.0.1', to: server.tftp! },
      { protocol: 'http', host: '10.77.0.1', to: server.http! },
      { protocol: 'ftp', host: '10.77.0.1', to: server.ftp! },
    );
    if (o.dhcp === 'none') {
      const first = o.protocols?.[0] ?? 'http';
      const ep = first === 'tftp' ? server.tftp! : first === 'ftp' ? server.ftp! : server.http!;
      serverUrl = `${first}://${ep.host}:${ep.port}/`;
      // A file the provisioning names on this host with another protocol (the 1200's [FW] PROTOCOL)
      // is on its standard port there: the same server.
      for (const [protocol, to] of [
        ['tftp', server.tftp!],
        ['http', server.http!],
        ['ftp', server.ftp!],
      ] as const)
        redirects.push({ protocol, host: ep.host, port: { tftp: 69, http: 80, ftp: 21 }[protocol], to });
    }
  } else {
    serverUrl = o.server;
    label = o.server;
  }
  // Phones on loopback each send from an address of their own, as on a voice subnet: a server's
  // per-address limits then see a thousand phones, not one host.
  const onLoopback = o.server === 'builtin' || /^[a-z]+:\/\/(127\.|localhost[:/])/.test(o.server);
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
        ? {
            dhcp: {
              kind: 'relay' as const,
              server: dhcpTarget,
              linkSelection: '10.77.0.1',
              timeoutMs: 2000,
              retries: 6,
              relays: Array.from({ length: relayCount(fleet.length, workers) }, (_, k) => ({
                address: relayAddress(k),
                port: relayPort!,
              })),
            },
          }
        : {}),
      ...(serverUrl !== undefined && o.dhcp === 'none' ? { serverUrl } : {}),
      redirects,
      ...(onLoopback ? { localAddresses: fleet.map((p) => phoneLoopbackAddress(p.index)) } : {}),
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
    ...(usage && serverCpu0 !== undefined
      ? { serverCpuSeconds: usage.cpuSeconds - serverCpu0, serverPeakRssBytes: usage.peakRssBytes }
      : {}),
  });
}

export const defaultWorkers = () => Math.max(1, Math.min(4, availableParallelism()));
