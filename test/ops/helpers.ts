/**
 * Helpers for the operations tests (issue 17): `bootwire serve` as a process with its log records
 * parsed, a small site config (TFTP, HTTP, DHCP relay-style on loopback), DORAs through a relay
 * socket, and scrapes of /metrics.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RelayClient } from '../../packages/dhcp/src/client/relay-client.js';
import type { DoraResult } from '../../packages/dhcp/src/client/dora.js';
import { freeUdpPort, run, type RunResult } from '../helpers/peers.js';

export const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));

/** The phones' subnet: relay-style on loopback, addresses chosen by link selection. */
export const SUBNET = '10.77.0.0/24';
export const LINK = '10.77.0.1';

export type LogRecord = Record<string, unknown> & { msg?: string; level?: number; event?: string };

export interface Served {
  proc: ChildProcess;
  pid: number;
  ports: Partial<Record<'tftp' | 'dhcp' | 'http' | 'https' | 'metrics', number>>;
  stdout(): string;
  stderr(): string;
  /** The JSON log records so far (stderr lines that parse). */
  records(): LogRecord[];
  /** Waits until a record satisfies `pred` (or throws after `ms`). */
  waitFor(pred: (r: LogRecord) => boolean, ms?: number, what?: string): Promise<LogRecord>;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM and wait for the exit; returns the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Starts `bootwire serve ARGS` and waits for a "<kind> listening on" line for each of `kinds`. */
export async function startServe(
  args: string[],
  kinds: Array<'tftp' | 'dhcp' | 'http' | 'https' | 'metrics'>,
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Served> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--workers', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  running.add(proc);
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      r({ code, signal });
    }),
  );
  const records = (): LogRecord[] => {
    const list: LogRecord[] = [];
    for (const line of err.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        list.push(JSON.parse(line) as LogRecord);
      } catch {
        /* a line being written */
      }
    }
    return list;
  };
  const ports: Served['ports'] = {};
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    for (const m of out.matchAll(/bootwire: (tftp|dhcp|http|https|metrics) listening on \S+:(\d+),/g))
      ports[m[1] as 'tftp'] = Number(m[2]);
    if (kinds.every((k) => ports[k] !== undefined)) break;
    if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`bootwire serve ${args.join(' ')} did not start:\n${out}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const served: Served = {
    proc,
    pid: proc.pid!,
    ports,
    stdout: () => out,
    stderr: () => err,
    records,
    exited,
    async waitFor(pred, ms = 15_000, what = 'a log record') {
      const end = Date.now() + ms;
      for (;;) {
        const found = records().find(pred);
        if (found) return found;
        if (Date.now() > end || proc.exitCode !== null)
          throw new Error(`no ${what} within ${ms} ms; stderr:\n${err.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    signal: (sig) => void proc.kill(sig),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        const r = await exited;
        clearTimeout(t);
        return r.code;
      }
      return proc.exitCode;
    },
  };
  return served;
}

export async function scratch(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Deterministic bytes. */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

export const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface SiteConfig {
  root?: string;
  tftp?: Record<string, unknown>;
  http?: Record<string, unknown>;
  dhcp?: Record<string, unknown> & { subnets?: Record<string, unknown>[]; classes?: Record<string, unknown>[] };
  metrics?: Record<string, unknown>;
  [k: string]: unknown;
}

/**
 * A config in `dir`: root `dir/root`, TFTP and HTTP on ephemeral loopback ports, DHCP on an ephemeral
 * port answering the relay on `relayPort`, leases in `dir/leases.db`, subnet 10.77.0.0/24 with a class
 * for Avaya phones (option 242). `edit` changes it further.
 */
export function siteConfig(relayPort: number, edit: (c: SiteConfig) => void = () => {}): SiteConfig {
  const c: SiteConfig = {
    root: 'root',
    tftp: { listen: '127.0.0.1:0' },
    http: { listen: '127.0.0.1:0' },
    dhcp: {
      listen: '127.0.0.1:0',
      relayPort,
      leases: 'leases.db',
      subnets: [
        { subnet: SUBNET, pool: '10.77.0.100-10.77.0.199', leaseSeconds: 3600, options: { router: LINK, '66': LINK } },
      ],
      classes: [
        {
          name: 'avaya',
          match: { vendorClass: { prefix: 'ccp.avaya.com' } },
          options: { '242': 'HTTPSRVR=10.77.0.1' },
        },
      ],
    },
  };
  edit(c);
  return c;
}

export async function writeConfig(dir: string, c: SiteConfig, name = 'bootwire.json'): Promise<string> {
  const file = path.join(dir, name);
  // Written aside and renamed: a reload never reads half a file.
  await fs.writeFile(`${file}.tmp`, JSON.stringify(c, null, 2));
  await fs.rename(`${file}.tmp`, file);
  return file;
}

/** A root with `small.cfg` (600 bytes) and `big.bin` (`bigBytes`). */
export async function makeRoot(
  dir: string,
  bigBytes = 2 * 1024 * 1024,
  name = 'root',
): Promise<{ root: string; small: Buffer; big: Buffer }> {
  const root = path.join(dir, name);
  await fs.mkdir(root, { recursive: true });
  const small = bytes(600, 7);
  const big = bytes(bigBytes, 11);
  await fs.writeFile(path.join(root, 'small.cfg'), small);
  await fs.writeFile(path.join(root, 'big.bin'), big);
  return { root, small, big };
}

export const mac = (i: number) =>
  `00:04:0d:${((i >> 16) & 255).toString(16).padStart(2, '0')}:` +
  `${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

/** A relay socket on 127.0.0.1:`relayPort` talking to the server on `dhcpPort`. */
export async function relay(relayPort: number, dhcpPort: number, timeoutMs = 5000): Promise<RelayClient> {
  return RelayClient.open({
    bind: { address: '127.0.0.1', port: relayPort },
    server: { host: '127.0.0.1', port: dhcpPort },
    linkSelection: LINK,
    timeoutMs,
    retries: 3,
  });
}

/** The DORAs of phones `from`..`from+n-1` (Avaya vendor class), all at once. */
export function doras(client: RelayClient, from: number, n: number): Promise<DoraResult[]> {
  return Promise.all(
    Array.from({ length: n }, (_, k) =>
      client.dora({ mac: mac(from + k), vendorClass: 'ccp.avaya.com', requestedOptions: [1, 3, 66, 242] }),
    ),
  );
}

export { freeUdpPort, run, type RunResult };

/** GET /metrics; the samples as `name{labels}` → value. */
export function scrape(port: number): Promise<{ status: number; text: string; samples: Map<string, number> }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', timeout: 10_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, samples: parseSamples(text) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

export function parseSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** `bootwire ARGS` to completion. */
export function cli(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], { timeoutMs });
}
