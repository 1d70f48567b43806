/**
 * `bootwire storm`: hundreds of simulated phones booting at once (src/storm/). With no flags: bootwire
 * on loopback (DHCP relay-style, TFTP, HTTP) over a generated root, 200 phones of the default fleet.
 */
import { writeFile } from 'node:fs/promises';
import { parseProbability } from '@bootwire/core';
import { parseSize } from '../phones/init-root.js';
import type { FileProtocol } from '../phones/models.js';
import { MixError, parseMix } from '../storm/fleet.js';
import { renderReport } from '../storm/report.js';
import { type StormRun, toJson } from '../storm/result.js';
import { defaultWorkers, runStorm } from '../storm/run.js';
import { SiteNeedsRoot, type SiteStormOptions } from '../storm/site-storm.js';
import { PEERS, type PeerName } from '../storm/servers.js';
import { formatBytes } from '../storm/stats.js';
import { parseHostPort, UsageError } from '@bootwire/core';

export interface StormFlags {
  phones: string;
  mix: string;
  imageSize?: string;
  loss: string;
  duplicate: string;
  reorder: string;
  stagger: string;
  server: string;
  dhcp: string;
  protocols?: string;
  clientBlksize?: string;
  clientWindowsize?: string;
  compare?: string;
  rounds: string;
  workers?: string;
  serverWorkers?: string;
  root?: string;
  seed: string;
  relayPort?: string;
  site?: boolean;
  voiceSubnets?: string;
  uplink: string;
  uplinkQueue: string;
  uplinkDelay?: string;
  uplinkLoss?: string;
  json?: boolean;
  fullJson?: boolean;
  report?: string;
  progress: boolean;
}

function int(v: string, flag: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${flag} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

const prob = (v: string, flag: string) => {
  try {
    return parseProbability(v, flag);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
};

export async function storm(flags: StormFlags, argv: string[]): Promise<void> {
  let mix;
  try {
    mix = parseMix(flags.mix);
  } catch (e) {
    if (e instanceof MixError) throw new UsageError(e.message);
    throw e;
  }
  const protocols = flags.protocols?.split(',').map((p) => p.trim().toLowerCase()) as FileProtocol[] | undefined;
  for (const p of protocols ?? [])
    if (!['tftp', 'http', 'https', 'ftp'].includes(p))
      throw new UsageError(`--protocols: ${JSON.stringify(p)} is not tftp, http, https or ftp`);
  const compare = (flags.compare ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as PeerName[];
  for (const c of compare)
    if (!PEERS.includes(c)) throw new UsageError(`--compare: ${JSON.stringify(c)} is not one of ${PEERS.join(', ')}`);
  if (flags.server !== 'builtin' && !/^(tftp|https?|ftp):\/\//.test(flags.server))
    throw new UsageError(
      `--server must be builtin or a tftp://, http://, https:// or ftp:// URL, got ${JSON.stringify(flags.server)}`,
    );
  if (flags.server !== 'builtin' && flags.dhcp === 'builtin')
    throw new UsageError(
      '--server URL measures another file server: give --dhcp none (or the DHCP server as HOST:PORT)',
    );
  if (flags.dhcp !== 'builtin' && flags.dhcp !== 'none') parseHostPort(flags.dhcp, '127.0.0.1', '--dhcp');
  const site = flags.site ? siteOptions(flags) : undefined;
  let imageSize: number | undefined;
  if (flags.imageSize !== undefined) {
    imageSize = parseSize(flags.imageSize);
    if (imageSize === undefined || imageSize < 1 || imageSize > 256 * 1024 * 1024)
      throw new UsageError(
        `--image-size: ${JSON.stringify(flags.imageSize)} is not a size from 1 to 256M (such as 8M or 512k)`,
      );
  }
  const runs = await runStorm({
    phones: int(flags.phones, '--phones', 1, 100_000),
    mix,
    mixText: flags.mix,
    ...(imageSize !== undefined ? { imageSize } : {}),
    loss: prob(flags.loss, '--loss'),
    duplicate: prob(flags.duplicate, '--duplicate'),
    reorder: prob(flags.reorder, '--reorder'),
    staggerMs: int(flags.stagger, '--stagger', 0, 3_600_000),
    server: flags.server,
    dhcp: flags.dhcp,
    ...(protocols ? { protocols } : {}),
    ...(flags.clientBlksize ? { blksize: int(flags.clientBlksize, '--client-blksize', 8, 65464) } : {}),
    ...(flags.clientWindowsize ? { windowsize: int(flags.clientWindowsize, '--client-windowsize', 1, 65535) } : {}),
    compare,
    rounds: int(flags.rounds, '--rounds', 1, 20),
    workers: flags.workers ? int(flags.workers, '--workers', 1, 64) : defaultWorkers(),
    ...(flags.serverWorkers ? { serverWorkers: int(flags.serverWorkers, '--server-workers', 0, 256) } : {}),
    ...(flags.root ? { root: flags.root } : {}),
    progress: flags.progress && !flags.fullJson,
    seed: int(flags.seed, '--seed', 0, 0xffffff),
    ...(flags.relayPort ? { relayPort: int(flags.relayPort, '--relay-port', 1, 65535) } : {}),
    ...(site ? { site } : {}),
  }).catch((e: unknown) => {
    // Without root there is no site to build: a usage problem, said plainly (exit 2).
    if (e instanceof SiteNeedsRoot) throw new UsageError(e.message);
    throw e;
  });
  if (flags.report) {
    await writeFile(
      flags.report,
      renderReport(runs, `bootwire storm: ${runs[0]!.phones} phones`, `bootwire storm ${argv.join(' ')}`),
    );
  }
  if (flags.fullJson) process.stdout.write(`${JSON.stringify(runs[0])}\n`);
  else if (flags.json)
    process.stdout.write(
      `${JSON.stringify(runs.length === 1 && compare.length === 0 ? toJson(runs[0]!) : { runs: runs.map(toJson) })}\n`,
    );
  else process.stdout.write(table(runs));
  if (runs.some((r) => r.failed > 0)) process.exitCode = 1;
}

/** `1gbit`, `100mbit`, `2.5gbit`, `800` (Mbit/s) → Mbit/s; `none` → undefined. */
export function parseRate(v: string): number | undefined {
  if (v === 'none') return undefined;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(gbit|mbit|kbit)?$/i.exec(v.trim());
  const n = m
    ? Number(m[1]) * { gbit: 1000, mbit: 1, kbit: 0.001 }[(m[2] ?? 'mbit').toLowerCase() as 'gbit' | 'mbit' | 'kbit']
    : NaN;
  if (!(n >= 0.1 && n <= 100_000))
    throw new UsageError(`--uplink: ${JSON.stringify(v)} is not a rate such as 1gbit, 100mbit or none`);
  return n;
}

function siteOptions(flags: StormFlags): SiteStormOptions {
  if (flags.server !== 'builtin')
    throw new UsageError('--site runs its own servers in the site: leave out --server (use --compare for the peers)');
  if (flags.dhcp !== 'builtin' && flags.dhcp !== 'none')
    throw new UsageError("--site: --dhcp is builtin (through the site's relay) or none");
  const rateMbit = parseRate(flags.uplink);
  const uplink =
    rateMbit === undefined
      ? undefined
      : {
          rateMbit,
          queueMs: int(flags.uplinkQueue, '--uplink-queue', 1, 10_000),
          ...(flags.uplinkDelay ? { delayMs: int(flags.uplinkDelay, '--uplink-delay', 0, 10_000) } : {}),
          ...(flags.uplinkLoss ? { lossPercent: prob(flags.uplinkLoss, '--uplink-loss') * 100 } : {}),
        };
  return {
    ...(flags.voiceSubnets ? { voiceSubnets: int(flags.voiceSubnets, '--voice-subnets', 1, 200) } : {}),
    ...(uplink ? { uplink } : {}),
  };
}

export function table(runs: readonly StormRun[]): string {
  const head = [
    'server',
    'booted',
    'failed',
    'wall s',
    'boot p50',
    'p95',
    'p99',
    'max',
    'data',
    'goodput',
    'retransmits',
    'server CPU s',
    'sim CPU s',
    'server RSS',
  ];
  const rows = runs.map((r) => [
    r.server,
    `${r.booted}/${r.phones}`,
    String(r.failed),
    r.wallSeconds.toFixed(2),
    r.bootSeconds.p50.toFixed(2),
    r.bootSeconds.p95.toFixed(2),
    r.bootSeconds.p99.toFixed(2),
    r.bootSeconds.max.toFixed(2),
    formatBytes(r.bytes),
    `${formatBytes(r.goodputBytesPerSecond)}/s`,
    String(r.retransmits),
    r.serverCpuSeconds?.toFixed(2) ?? '-',
    r.simulatorCpuSeconds.toFixed(2),
    r.serverPeakRssBytes ? formatBytes(r.serverPeakRssBytes) : '-',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  const lines = [fmt(head), ...rows.map(fmt)];
  for (const r of runs) {
    const phases = Object.entries(r.phases).map(
      ([p, v]) => `${p} p50 ${v.p50.toFixed(2)} s / p95 ${v.p95.toFixed(2)} s`,
    );
    const f = r.faults;
    const injected =
      f && f.dropped + f.duplicated + f.reordered > 0
        ? `; faults injected: ${f.dropped} dropped, ${f.duplicated} duplicated, ${f.reordered} reordered`
        : '';
    const uplink = r.uplink
      ? `; uplink queue: ${r.uplink.packets} packets sent, ${r.uplink.dropped} refused when full`
      : '';
    lines.push(
      `${r.server}: ${r.imagesDownloaded} images downloaded; per phase: ${phases.join(', ')}${injected}${uplink}`,
    );
    for (const [why, n] of Object.entries(r.failures)) lines.push(`  ${n} failed: ${why}`);
  }
  return lines.join('\n') + '\n';
}
