/**
 * The file (and DHCP) servers a storm measures, each in a process of its own so that its CPU time and
 * peak memory are read from /proc alike: bootwire (`bootwire serve`) and the installed peers.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostPort } from '@bootwire/core';
import { procUsage, type ProcUsage, stopChild } from './proc.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The CLI's compiled entry (this module may run from src/ under tests). */
export const CLI = HERE.endsWith(`${path.sep}src${path.sep}storm`)
  ? path.resolve(HERE, '../../dist/cli/main.js')
  : path.resolve(HERE, '../cli/main.js');

export interface RunningServer {
  name: string;
  pid: number;
  tftp?: HostPort;
  http?: HostPort;
  ftp?: HostPort;
  dhcp?: HostPort;
  usage(): ProcUsage | undefined;
  stop(): Promise<void>;
}

/**
 * `serve --grace`: the storm stops its server only once every phone is done, so what still runs then
 * is a transfer whose last ACK was lost (the phone has left); waiting the default 5 s for it to time
 * out only made a lossy storm slower to end.
 */
export const STOP_GRACE_SECONDS = 0;

const stopper = (child: ChildProcess) => () => stopChild(child);

/**
 * The configuration of `bootwire serve` over `root` with DHCP, TFTP and HTTP on 127.0.0.1 (free ports).
 * The DHCP part comes from the root's bootwire.json (as `bootwire init` writes it), widened to a /16
 * so a thousand phones fit.
 */
/** What loopbackConfig reads of a root's bootwire.json (written by `bootwire init`); the rest is passed on. */
interface RootConfig {
  dhcp?: { subnets: { subnet: string }[]; [key: string]: unknown };
}

export async function loopbackConfig(o: {
  root: string;
  dir: string;
  relayPort?: number;
  http: boolean;
  ftp?: boolean;
  backupDir?: string;
  workers?: number;
}): Promise<Record<string, unknown>> {
  const file = path.join(o.root, 'bootwire.json');
  const base = existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as RootConfig) : {};
  const cfg: Record<string, unknown> = {
    root: o.root,
    tftp: { listen: '127.0.0.1:0', ...(o.workers !== undefined ? { workers: o.workers } : {}) },
  };
  if (o.http)
    cfg['http'] = {
      listen: '127.0.0.1:0',
      ...(o.backupDir ? { backup: [{ prefix: '/backup/', dir: o.backupDir }] } : {}),
    };
  if (o.ftp) cfg['ftp'] = { listen: '127.0.0.1:0' };
  if (o.relayPort !== undefined && base.dhcp) {
    const subnets = base.dhcp.subnets.map((s, i) =>
      i === 0 ? { ...s, subnet: '10.77.0.0/16', pool: '10.77.1.0-10.77.255.254', reservations: undefined } : s,
    );
    cfg['dhcp'] = {
      ...base.dhcp,
      listen: '127.0.0.1:0',
      relayPort: o.relayPort,
      leases: path.join(o.dir, 'leases.db'),
      subnets,
    };
  }
  return cfg;
}

/**
 * `bootwire serve --config` with `config` (written to `dir`), through `prefix` (`ip netns exec NS`):
 * ready once each of its services says where it listens.
 */
export async function startBootwire(o: {
  config: Record<string, unknown>;
  dir: string;
  prefix?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<RunningServer> {
  const file = path.join(o.dir, 'bootwire-storm.json');
  await writeFile(file, JSON.stringify(o.config, null, 2));
  const services = (['tftp', 'http', 'ftp', 'dhcp'] as const).filter((k) => o.config[k] !== undefined);
  const args = [
    ...(o.prefix ?? []),
    process.execPath,
    CLI,
    'serve',
    '--config',
    file,
    '--log-level',
    'warn',
    '--grace',
    String(STOP_GRACE_SECONDS),
  ];
  const child = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(o.env ? { env: o.env } : {}) });
  const got: { tftp?: HostPort; http?: HostPort; ftp?: HostPort; dhcp?: HostPort } = {};
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`bootwire serve did not start within 20 s: ${stderr.trim()}`)),
      20_000,
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      for (const m of out.matchAll(/bootwire: (tftp|http|ftp|dhcp) listening on ([0-9.]+):([0-9]+)/g))
        got[m[1] as 'tftp' | 'http' | 'ftp' | 'dhcp'] = { host: m[2]!, port: Number(m[3]) };
      if (services.every((k) => got[k])) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bootwire serve exited with ${code}: ${stderr.trim()}`));
    });
  });
  child.stdout.resume();
  return { name: 'bootwire', pid: child.pid!, ...got, usage: () => procUsage(child.pid!), stop: stopper(child) };
}

export type PeerName = 'tftpd-hpa' | 'atftpd' | 'dnsmasq';
export const PEERS: readonly PeerName[] = ['tftpd-hpa', 'atftpd', 'dnsmasq'];

const which = (bin: string) =>
  spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).stdout.trim() || undefined;

/** atftpd: Debian's, or the copy .ci/run unpacks (the package's daemon would start on install). */
function atftpd(): string | undefined {
  // The repository root is four levels above packages/bootwire/dist/cli/main.js.
  const repo = path.resolve(path.dirname(CLI), '../../../..');
  return [path.join(repo, '.ci/peers/atftpd/usr/sbin/atftpd'), '/usr/sbin/atftpd'].find(existsSync);
}

export function peerBinary(name: PeerName): string | undefined {
  return name === 'tftpd-hpa' ? which('in.tftpd') : name === 'atftpd' ? atftpd() : which('dnsmasq');
}

/**
 * A peer TFTP server on `address`:69 (dnsmasq's TFTP listens only on 69; the C servers need root to
 * drop privileges), run through `prefix` (`ip netns exec NS`). `dnsmasqConf`: a configuration file
 * for dnsmasq's other services (its DHCP, in a site).
 */
export async function startPeer(
  name: PeerName,
  root: string,
  prefix: string[],
  address = '127.0.0.1',
  dnsmasqConf = '/dev/null',
): Promise<RunningServer> {
  const bin = peerBinary(name);
  if (!bin) throw new Error(`${name} is not installed`);
  const args: Record<PeerName, string[]> = {
    'tftpd-hpa': [bin, '-L', '-a', `${address}:69`, '-s', '-u', 'root', root],
    atftpd: [
      bin,
      '--daemon',
      '--no-fork',
      '--port',
      '69',
      '--bind-address',
      address,
      '--user',
      'root',
      '--group',
      'root',
      '--maxthread',
      '2000',
      '--logfile',
      '-',
      root,
    ],
    // dnsmasq serves at most 50 transfers by default (--tftp-max): raised so a storm measures speed, not refusals.
    dnsmasq: [
      bin,
      '--keep-in-foreground',
      `--conf-file=${dnsmasqConf}`,
      '--port=0',
      '--no-resolv',
      '--no-hosts',
      '--pid-file=',
      '--enable-tftp',
      `--tftp-root=${root}`,
      '--tftp-max=2000',
      `--listen-address=${address}`,
      '--bind-interfaces',
      '--user=root',
      '--group=root',
      '--log-facility=-',
      '--quiet-tftp',
    ],
  };
  const full = [...prefix, ...args[name]];
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  // Ready when port 69 answers: a RRQ for a missing file gets an ERROR.
  const probe =
    "const s=require('dgram').createSocket('udp4');s.on('message',()=>process.exit(0));" +
    `s.send(Buffer.from('\\0\\x01probe\\0octet\\0','latin1'),69,'${address}');` +
    'setTimeout(()=>process.exit(1),300)';
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${stderr.trim()}`);
    const r = spawnSync([...prefix, process.execPath][0]!, [...prefix, process.execPath, '-e', probe].slice(1));
    if (r.status === 0) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not answer on ${address}:69 within 10 s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name,
    pid: child.pid!,
    tftp: { host: address, port: 69 },
    usage: () => procUsage(child.pid!),
    stop: stopper(child),
  };
}
