/**
 * Helpers for the `bootwire boot` tests: an example root written by `bootwire init`, `bootwire serve`
 * spawned on a copy of its bootwire.json with ephemeral ports, and `bootwire boot --json` run as a
 * process (its report parsed). Everything listens on 127.0.0.1 only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeUdpPort, run, type RunResult } from '../helpers/peers.js';

export const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));

/**
 * Payload bytes of every generated image: header (128) + payload = 600 x 512, so a TFTP transfer ends with an empty
 * DATA block.
 */
export const IMAGE_PAYLOAD = 600 * 512 - 128;
export const IMAGE_FILE_BYTES = 600 * 512;

/** One phone of each model in scope, with a MAC of its vendor. */
export const PHONES = [
  { model: '4610', mac: '00:04:0d:b0:00:01' },
  { model: '4620', mac: '00:04:0d:b0:00:02' },
  { model: '1608', mac: '00:04:0d:b0:00:03' },
  { model: '9608', mac: '00:04:0d:b0:00:04' },
  { model: '9611', mac: '00:04:0d:b0:00:05' },
  { model: '1220', mac: '00:17:65:b0:00:06' },
  { model: '1230', mac: '00:17:65:b0:00:07' },
  { model: '420HD', mac: '00:90:8f:b0:00:08' },
  { model: '440HD', mac: '00:90:8f:b0:00:09' },
] as const;

export async function scratch(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** `bootwire init DIR/root --image-size IMAGE_PAYLOAD`; returns the root. */
export async function initRoot(dir: string): Promise<string> {
  const root = path.join(dir, 'root');
  const r = await run(process.execPath, [CLI, 'init', root, '--image-size', String(IMAGE_PAYLOAD)], {
    timeoutMs: 30_000,
  });
  if (r.code !== 0) throw new Error(`bootwire init failed (${r.code}): ${r.stderr}`);
  return root;
}

export type Config = {
  root: string;
  tftp: { listen: string };
  dhcp: {
    listen: string;
    relayPort: number;
    leases: string;
    classes: { name: string; match: unknown; options: Record<string, string> }[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
};

/**
 * The init root's bootwire.json with ephemeral TFTP and DHCP ports, replies to `relayPort`, leases and
 * the file itself in `dir/conf-N` (outside the served root). `edit` changes it further.
 */
export async function writeConfig(
  dir: string,
  root: string,
  relayPort: number,
  edit: (c: Config) => void = () => {},
): Promise<string> {
  const c = JSON.parse(await fs.readFile(path.join(root, 'bootwire.json'), 'utf8')) as Config;
  const confDir = await fs.mkdtemp(path.join(dir, 'conf-'));
  c.root = path.relative(confDir, root);
  c.tftp.listen = '127.0.0.1:0';
  c.dhcp.listen = '127.0.0.1:0';
  c.dhcp.relayPort = relayPort;
  c.dhcp.leases = 'leases.db';
  edit(c);
  const file = path.join(confDir, 'bootwire.json');
  await fs.writeFile(file, JSON.stringify(c, null, 2));
  return file;
}

/** The options of a DHCP class of the init config, by name (to edit them). */
export function classOptions(c: Config, name: string): Record<string, string> {
  const k = c.dhcp.classes.find((x) => x.name === name);
  if (!k) throw new Error(`no class ${name} in the init config`);
  return k.options;
}

export interface Served {
  ports: Partial<Record<'tftp' | 'dhcp' | 'http' | 'https' | 'ftp', number>>;
  stop(): Promise<void>;
  output(): string;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Starts `bootwire serve ARGS` and waits until it printed a "<kind> listening on" line for each of `kinds`. */
export async function serve(args: string[], kinds: Array<'tftp' | 'dhcp' | 'http' | 'https' | 'ftp'>): Promise<Served> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--workers', '0', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) =>
    proc.once('exit', () => {
      running.delete(proc);
      r();
    }),
  );
  const ports: Served['ports'] = {};
  const deadline = Date.now() + 20_000;
  for (;;) {
    for (const m of out.matchAll(/bootwire: (tftp|dhcp|http|https|ftp) listening on \S+:(\d+),/g))
      ports[m[1] as 'tftp'] = Number(m[2]);
    if (kinds.every((k) => ports[k] !== undefined)) break;
    if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`bootwire serve ${args.join(' ')} did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    ports,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** A running `serve --config` of an init root, with what `bootwire boot` needs to reach it. */
export interface Site {
  served: Served;
  relayPort: number;
  /** `--dhcp --relay --redirect…` for `bootwire boot`. */
  bootArgs: string[];
}

/** Serves `config` (plus `extra` serve flags), DHCP and TFTP from the file, HTTP on an ephemeral port. */
export async function startSite(
  config: string,
  relayPort: number,
  extra: string[] = ['--http', '127.0.0.1:0'],
  kinds: Array<'tftp' | 'dhcp' | 'http' | 'https' | 'ftp'> = ['tftp', 'dhcp', 'http'],
): Promise<Site> {
  const served = await serve(['--config', config, ...extra], kinds);
  const p = served.ports;
  const bootArgs = [
    '--dhcp',
    `127.0.0.1:${p.dhcp}`,
    '--relay',
    `127.0.0.1:${relayPort}`,
    '--redirect',
    `tftp://10.77.0.1=127.0.0.1:${p.tftp}`,
  ];
  if (p.http !== undefined) bootArgs.push('--redirect', `http://10.77.0.1=127.0.0.1:${p.http}`);
  if (p.https !== undefined) bootArgs.push('--redirect', `https://10.77.0.1=127.0.0.1:${p.https}`);
  if (p.ftp !== undefined) bootArgs.push('--redirect', `ftp://10.77.0.1=127.0.0.1:${p.ftp}`);
  return { served, relayPort, bootArgs };
}

/** The report `bootwire boot --json` prints (the fields the tests read). */
export interface JsonReport {
  model: string;
  mac: string;
  ok: boolean;
  imageDownloaded: boolean;
  imageDecision?: string;
  phases: {
    phase: string;
    file: string;
    protocol: string;
    bytes: number;
    ms: number;
    ok: boolean;
    url?: string;
    error?: string;
  }[];
  error?: string;
  failedIn?: string;
  address?: string;
}

export interface BootRun {
  code: number | null;
  report: JsonReport | undefined;
  stdout: string;
  stderr: string;
  result: RunResult;
}

/**
 * `bootwire boot --json ARGS` (the timeline with `json: false`; optionally through `wrap`, e.g. `ip netns exec NS`).
 */
export async function bootCli(
  args: string[],
  opts: { timeoutMs?: number; wrap?: [string, string[]]; json?: boolean } = {},
): Promise<BootRun> {
  const argv = [CLI, 'boot', ...(opts.json === false ? [] : ['--json']), ...args];
  const [cmd, a] = opts.wrap ? [opts.wrap[0], [...opts.wrap[1], process.execPath, ...argv]] : [process.execPath, argv];
  const result = await run(cmd, a, { timeoutMs: opts.timeoutMs ?? 60_000 });
  const stdout = result.stdout.toString('utf8');
  let report: JsonReport | undefined;
  try {
    report = JSON.parse(stdout) as JsonReport;
  } catch {
    report = undefined;
  }
  return { code: result.code, report, stdout, stderr: result.stderr, result };
}

/** What `--state DIR` keeps for a MAC (src/boot/state.ts DirStateStore). */
export function stateFile(dir: string, mac: string): string {
  return path.join(dir, `${mac.toLowerCase().replace(/[^0-9a-f]/g, '')}.json`);
}

export async function readState(dir: string, mac: string): Promise<unknown> {
  return JSON.parse(await fs.readFile(stateFile(dir, mac), 'utf8'));
}

/** `SIP00040DAABB01.cfg`: the 1200's per-phone file. */
export const sip1200User = (mac: string) => `SIP${mac.replace(/:/g, '').toUpperCase()}.cfg`;

/** A free UDP port for the relay socket (replies from the DHCP server come back there). */
export const relayPort = () => freeUdpPort('127.0.0.1');

/** Phases as `phase protocol file` strings, for compact, exact comparisons. */
export const steps = (r: JsonReport) =>
  r.phases.map((p) => `${p.phase} ${p.protocol} ${p.phase === 'dhcp' ? '-' : p.file}${p.ok ? '' : ' FAILED'}`);

/** Replaces a file atomically (a new inode: the server's cache sees a new version). */
export async function replaceFile(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, bytes);
  await fs.rename(tmp, file);
}
