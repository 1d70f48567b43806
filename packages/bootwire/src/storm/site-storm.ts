/**
 * `bootwire storm --site`: the fleet boots in a site built in network namespaces (src/storm/site.ts):
 * phones in voice subnets behind a router that relays their DHCP (ISC dhcrelay), the file servers
 * behind one uplink shaped with tbf. Each voice subnet's phones run in a process of their own inside
 * their namespace (src/storm/site-phones.ts), all starting at the same instant; the server runs alone
 * in the server's namespace. With `compare`, the same site is built again for each peer: tftpd-hpa,
 * atftpd (with ISC Kea for DHCP) and dnsmasq (TFTP and DHCP). Root only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClassConfig } from '../config/schema.js';
import { findModel } from '../phones/models.js';
import { buildFleet, type FleetPhone } from './fleet.js';
import { procUsage, runJsonChild, serverCpu } from './proc.js';
import { alternateRounds, type FaultTotals, type PhoneOutcome, type StormRun, summarize } from './result.js';
import type { StormOptions } from './run.js';
import { CLI, type PeerName, type RunningServer, startBootwire, startPeer } from './servers.js';
import { bootwireDhcpConfig, dnsmasqDhcpConf, keaConfig, type SiteDhcp, siteDhcp } from './site-dhcp.js';
import type { SitePhonesJob, SitePhonesResult } from './site-phones.js';
import { isRoot, MAX_PHONES_PER_SUBNET, SERVER_ADDRESS, Site, type UplinkShape } from './site.js';

export interface SiteStormOptions {
  /** Voice subnets (default: 2, more when the phones need them). */
  voiceSubnets?: number;
  /** The server's uplink; absent: unshaped. */
  uplink?: UplinkShape;
}

/** `--site` without root: the CLI says so and exits 2. */
export class SiteNeedsRoot extends Error {}

const SITE_PHONES = path.resolve(path.dirname(CLI), '../storm/site-phones.js');
/** Time for every subnet's process to start before the power comes back. */
const START_MARGIN_MS = 2000;

export async function siteStorm(o: StormOptions, s: SiteStormOptions, root: string, dir: string): Promise<StormRun[]> {
  if (!isRoot())
    throw new SiteNeedsRoot('--site builds network namespaces (a router, a relay, a shaped uplink): it needs root');
  // The peers serve only TFTP: compared, every server is asked for TFTP alone.
  const same: StormOptions = o.compare.length > 0 && !o.protocols ? { ...o, protocols: ['tftp'] } : o;
  return alternateRounds(['bootwire', ...o.compare], o.rounds, (name, round) => {
    if (o.progress) process.stderr.write(`storm --site: ${name} (round ${round + 1}/${o.rounds})\n`);
    return siteRun(name, same, s, root, dir);
  });
}

async function rootClasses(root: string): Promise<ClassConfig[]> {
  const file = path.join(root, 'bootwire.json');
  if (!existsSync(file))
    throw new Error(
      `${file} is missing: a site's DHCP takes its per-model classes from the root's bootwire.json ` +
        `(bootwire init writes one)`,
    );
  const doc = JSON.parse(await readFile(file, 'utf8')) as { dhcp?: { classes?: ClassConfig[] } };
  return doc.dhcp?.classes ?? [];
}

interface SiteServer {
  label: string;
  servers: RunningServer[];
}

async function siteRun(
  name: string,
  o: StormOptions,
  s: SiteStormOptions,
  root: string,
  dir: string,
): Promise<StormRun> {
  const fleet = buildFleet(o.phones, o.mix, o.seed);
  const k = s.voiceSubnets ?? Math.max(2, Math.ceil(o.phones / MAX_PHONES_PER_SUBNET));
  const site = Site.create({
    voiceSubnets: k,
    phonesPerSubnet: Math.ceil(o.phones / k),
    ...(s.uplink ? { uplink: s.uplink } : {}),
  });
  const runDir = await mkdtemp(path.join(dir, `${name}-`));
  let server: SiteServer | undefined;
  let relay: Awaited<ReturnType<Site['startRelay']>> | undefined;
  let cpu: ReturnType<typeof serverCpu> | undefined;
  try {
    const dhcpOn = o.dhcp !== 'none';
    const models = [...new Set(fleet.map((p) => p.model))].map((m) => findModel(m)!);
    const dhcp = dhcpOn ? siteDhcp(site, SERVER_ADDRESS, await rootClasses(root), models) : undefined;
    server = await startSiteServer(name, site, o, root, runDir, dhcp);
    // Every process of the server (a peer and its Kea, tftpd-hpa's children) in one CPU group.
    cpu = serverCpu(`${site.server.name}-cpu`, server.servers);
    if (dhcp) relay = await site.startRelay();
    const cpu0 = cpu.cpuSeconds();
    const results = await bootSitePhones(site, o, fleet, runDir, dhcpOn);
    const cpu1 = cpu.cpuSeconds();
    const uplink = site.uplinkCounters();
    const outcomes: PhoneOutcome[] = results.flatMap((r) => r.outcomes).sort((a, b) => a.index - b.index);
    const relayFaults = results.reduce<FaultTotals>(
      (t, r) => ({
        dropped: t.dropped + r.relayFaults.dropped,
        duplicated: t.duplicated + r.relayFaults.duplicated,
        reordered: t.reordered + r.relayFaults.reordered,
      }),
      { dropped: 0, duplicated: 0, reordered: 0 },
    );
    const rss = Math.max(...server.servers.map((x) => x.usage()?.peakRssBytes ?? 0));
    const run = summarize(server.label, outcomes, Math.max(0, ...outcomes.map((x) => x.endSeconds)), {
      simulatorCpuSeconds: results.reduce((t, r) => t + r.cpuSeconds, 0),
      simulatorPeakRssBytes: Math.max(...results.map((r) => r.peakRssBytes)),
      relayFaults,
      ...(Number.isFinite(cpu1 - cpu0) ? { serverCpuSeconds: cpu1 - cpu0 } : {}),
      ...(rss > 0 ? { serverPeakRssBytes: rss } : {}),
    });
    if (uplink) run.uplink = uplink;
    return run;
  } finally {
    await relay?.stop();
    for (const x of server?.servers ?? []) await x.stop();
    await cpu?.close();
    site.destroy();
  }
}

/** The file (and DHCP) server of one run, in the site's server namespace. */
async function startSiteServer(
  name: string,
  site: Site,
  o: StormOptions,
  root: string,
  dir: string,
  dhcp: SiteDhcp | undefined,
): Promise<SiteServer> {
  const prefix = site.server.prefix;
  if (name === 'bootwire') {
    const config: Record<string, unknown> = {
      root,
      tftp: { listen: `${SERVER_ADDRESS}:69`, ...(o.serverWorkers !== undefined ? { workers: o.serverWorkers } : {}) },
      http: { listen: `${SERVER_ADDRESS}:80` },
      ...(dhcp ? { dhcp: bootwireDhcpConfig(dhcp, path.join(dir, 'leases.db')) } : {}),
    };
    return { label: 'bootwire', servers: [await startBootwire({ config, dir, prefix })] };
  }
  const peer = name as PeerName;
  if (peer === 'dnsmasq') {
    let conf: string | undefined;
    if (dhcp) await writeFile((conf = path.join(dir, 'dnsmasq.conf')), dnsmasqDhcpConf(dhcp, dir));
    return { label: 'dnsmasq', servers: [await startPeer('dnsmasq', root, prefix, SERVER_ADDRESS, conf)] };
  }
  const servers = [await startPeer(peer, root, prefix, SERVER_ADDRESS)];
  if (!dhcp) return { label: peer, servers };
  try {
    servers.push(await startKea(site, dhcp, dir));
  } catch (e) {
    await servers[0]!.stop();
    throw e;
  }
  return { label: `${peer}+kea`, servers };
}

/** ISC Kea (kea-dhcp4, memfile) on the server's uplink interface. */
async function startKea(site: Site, dhcp: SiteDhcp, dir: string): Promise<RunningServer> {
  const file = path.join(dir, 'kea-dhcp4.json');
  await writeFile(file, JSON.stringify(keaConfig(dhcp, 'up0', dir), null, 2));
  // Debian's kea-dhcp4 puts its PID file and logger lock in /run/kea (made by its systemd unit).
  const child = site.spawnIn(site.server, 'kea-dhcp4', ['-c', file], {
    ...process.env,
    KEA_PIDFILE_DIR: dir,
    KEA_LOCKFILE_DIR: dir,
  });
  let out = '';
  const take = (c: Buffer) => (out = (out + c.toString()).slice(-4000));
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kea-dhcp4 exited with ${child.exitCode}: ${out.trim()}`);
    const r = spawnSync(site.server.prefix[0]!, [...site.server.prefix.slice(1), 'ss', '-Hulnp', 'sport = :67'], {
      encoding: 'utf8',
      timeout: 5000,
    });
    if ((r.stdout ?? '').includes(`pid=${child.pid},`)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`kea-dhcp4 did not listen on :67 within 20 s: ${out.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name: 'kea', pid: child.pid!, usage: () => procUsage(child.pid!), stop: () => site.stop(child) };
}

/**
 * Boots `fleet` in `site` against whatever serves it there (bootwire, a peer; bench/floods.mjs adds a
 * flood beside it): one process per voice subnet, inside its namespace, all starting at the same instant.
 */
export async function bootSitePhones(
  site: Site,
  o: StormOptions,
  fleet: FleetPhone[],
  dir: string,
  dhcpOn: boolean,
): Promise<SitePhonesResult[]> {
  const k = site.voice.length;
  const startAtEpochMs = Date.now() + START_MARGIN_MS;
  const n = fleet.length;
  const offset = (i: number) => (o.staggerMs > 0 && n > 1 ? Math.round((o.staggerMs * i) / (n - 1)) : 0);
  const first = o.protocols?.[0] ?? 'tftp';
  const serverUrl = `${first}://${SERVER_ADDRESS}${first === 'tftp' ? ':69' : first === 'https' ? ':443' : ':80'}/`;
  const workers = Math.max(1, Math.ceil(o.workers / k));
  return Promise.all(
    site.voice.map(async (v) => {
      // Phone i lives in subnet i % k: each model is spread over the subnets as the fleet is.
      const mine = fleet.map((p, i) => ({ p, i })).filter((x) => x.i % k === v.index);
      const job: SitePhonesJob = {
        phones: mine.map((x) => x.p),
        addresses: mine.map((_, j) => v.phones[j]!),
        offsetsMs: mine.map((x) => offset(x.i)),
        startAtEpochMs,
        dhcp: dhcpOn ? 'broadcast' : 'none',
        ...(dhcpOn ? {} : { serverUrl }),
        ...(o.protocols ? { protocols: o.protocols } : {}),
        ...(o.blksize ? { blksize: o.blksize } : {}),
        ...(o.windowsize ? { windowsize: o.windowsize } : {}),
        faults: { loss: o.loss, duplicate: o.duplicate, reorder: o.reorder },
        workers,
        seed: o.seed,
        dhcpTimeoutMs: 2000,
        dhcpRetries: 6,
      };
      const file = path.join(dir, `phones-${v.index}.json`);
      await writeFile(file, JSON.stringify(job));
      return runJsonChild<SitePhonesResult>(
        [process.execPath, SITE_PHONES, file],
        `the phones of ${v.cidr}`,
        (cmd, args) => site.spawnIn(v, cmd, args),
      );
    }),
  );
}
