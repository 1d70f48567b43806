/**
 * `bootwire leases` and `bootwire leases release`. With the server running, through its control socket
 * (src/dhcp/leases/control.ts): the server holds its SQLite file exclusively, its own store answers,
 * and a release is answered once it is on disk. With no server, the leases file is opened directly (the
 * same exclusive lock: a server starting meanwhile waits up to a second for it, or says the file is held).
 *
 * Exit: 0 listed (even nothing) or released; 1 the source cannot be read, or nothing was released;
 * 2 a usage error.
 */
import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from '../config/load.js';
import {
  controlRequest,
  controlSocketPath,
  releaseMatching,
  type ReleaseAnswer,
} from '@bootwire/dhcp/internal/leases/control.js';
import {
  LeaseQueryError,
  type LeaseQuery,
  leaseFilter,
  releaseChange,
  selectLeases,
} from '@bootwire/dhcp/internal/leases/query.js';
import { type Lease, SqliteLeaseStore } from '@bootwire/dhcp/internal/leases/store.js';
import { UsageError } from '@bootwire/core/internal/hostport.js';
import { cut } from '@bootwire/core/internal/quote.js';

export interface LeasesFlags {
  config?: string;
  db?: string;
  mac?: string;
  ip?: string;
  subnet?: string;
  expired?: boolean;
  json?: boolean;
}

/** Failures that are not the command line's fault: exit 1 with the message. */
class LeasesError extends Error {}

async function leasesFile(flags: LeasesFlags): Promise<string> {
  if (flags.config !== undefined && flags.db !== undefined)
    throw new UsageError('give --config FILE or --db FILE, not both');
  if (flags.db !== undefined) return flags.db;
  if (flags.config === undefined) throw new UsageError('give --config FILE (its dhcp.leases) or --db FILE');
  try {
    const cfg = await loadConfig(flags.config);
    if (!cfg.dhcp) throw new UsageError(`${flags.config} has no dhcp section (no leases file)`);
    return cfg.dhcp.leases;
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`bad config: ${e.message}`);
    throw e;
  }
}

function query(flags: LeasesFlags): LeaseQuery {
  const q: LeaseQuery = {};
  if (flags.mac !== undefined) q.mac = flags.mac;
  if (flags.ip !== undefined) q.ip = flags.ip;
  if (flags.subnet !== undefined) q.subnet = flags.subnet;
  if (flags.expired) q.expired = true;
  try {
    leaseFilter(q, 0); // the arguments are checked here, before anything is opened
  } catch (e) {
    if (e instanceof LeaseQueryError) throw new UsageError(e.message);
    throw e;
  }
  return q;
}

const params = (q: LeaseQuery) => {
  const u = new URLSearchParams();
  if (q.mac !== undefined) u.set('mac', q.mac);
  if (q.ip !== undefined) u.set('ip', q.ip);
  if (q.subnet !== undefined) u.set('subnet', q.subnet);
  if (q.expired) u.set('expired', '1');
  const s = u.toString();
  return s ? `?${s}` : '';
};

/** Opens the file when no server answers; says clearly when one holds it. */
function openFile(file: string): SqliteLeaseStore {
  if (!existsSync(file)) throw new LeasesError(`no leases file ${file}`);
  try {
    return new SqliteLeaseStore(file);
  } catch (e) {
    const m = (e as Error).message;
    if (/another process holds it/.test(m))
      throw new LeasesError(
        `${file} is held by another process whose control socket does not answer (a bootwire serve older ` +
          `than this one, or one without a control socket): ${m}`,
      );
    throw new LeasesError(m);
  }
}

function fail(e: unknown): never {
  if (e instanceof LeasesError) {
    process.stderr.write(`bootwire: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}

/**
 * The running server's answer through its control socket, or, when no server answers there,
 * `fromFile()`; exits 1 with the reason when neither can be had.
 */
async function fromServerOrFile<T>(
  file: string,
  method: 'GET' | 'POST',
  request: string,
  fromFile: () => Promise<T>,
): Promise<{ source: 'server' | 'file'; value: T }> {
  try {
    const socket = controlSocketPath(file);
    const reply = socket ? await controlRequest(socket, method, request) : undefined;
    if (!reply) return { source: 'file', value: await fromFile() };
    if (reply.status !== 200)
      throw new LeasesError(`the server refused: ${(reply.body as { error?: string }).error ?? reply.status}`);
    return { source: 'server', value: reply.body as T };
  } catch (e) {
    if (e instanceof LeasesError) fail(e);
    fail(new LeasesError((e as Error).message));
  }
}

export async function listLeases(flags: LeasesFlags): Promise<void> {
  const q = query(flags);
  const file = await leasesFile(flags);
  const { source, value } = await fromServerOrFile(file, 'GET', `/leases${params(q)}`, async () => {
    const store = openFile(file);
    try {
      const now = Date.now();
      return { now, leases: selectLeases(store.all(), q, now) };
    } finally {
      store.close();
    }
  });
  const { now, leases } = value;
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ source, file, leases: leases.map(jsonLease) })}\n`);
    return;
  }
  process.stdout.write(table(leases, now));
  process.stderr.write(
    `${leases.length} lease${leases.length === 1 ? '' : 's'}` +
      `${q.expired ? ' ran out or released' : ' in force'} (from ` +
      `${source === 'server' ? 'the running server' : file})\n`,
  );
}

export async function releaseLeases(flags: LeasesFlags): Promise<void> {
  if (flags.ip === undefined && flags.mac === undefined)
    throw new UsageError('leases release needs --ip ADDRESS or --mac MAC');
  const q = query({ ...flags, expired: false, subnet: undefined });
  const file = await leasesFile(flags);
  const { source, value: answer } = await fromServerOrFile<ReleaseAnswer>(file, 'POST', `/release${params(q)}`, () =>
    releaseInFile(file, q),
  );
  if (flags.json)
    process.stdout.write(
      `${JSON.stringify({ source, file, released: answer.released.map(jsonLease), refused: answer.refused })}\n`,
    );
  else {
    for (const l of answer.released) process.stdout.write(`released ${l.address} (${l.mac}, ${l.subnet})\n`);
    for (const r of answer.refused) process.stderr.write(`bootwire: ${r}\n`);
  }
  if (answer.released.length === 0) process.exit(1);
}

/** No server: the change is made in the file itself, committed and synced before it is reported. */
async function releaseInFile(file: string, q: { ip?: string; mac?: string }): Promise<ReleaseAnswer> {
  const store = openFile(file);
  try {
    const now = Date.now();
    const answer = await releaseMatching(
      {
        now: () => now,
        leases: () => store.all(),
        release: async (address) => {
          const lease = store.get(address);
          if (!lease) return { ok: false, reason: `no lease for ${address}` };
          const change = releaseChange(lease, now);
          if (!change.ok) return change;
          if (change.row === 'delete') store.delete(address);
          else store.put(change.row);
          return {
            ok: true,
            lease: change.row === 'delete' ? { ...lease, state: 'released', expiresAt: now } : change.row,
          };
        },
      },
      q,
    );
    if (store.flush())
      await new Promise<void>((resolve, reject) => store.durable((err) => (err ? reject(err) : resolve())));
    return answer;
  } finally {
    store.close();
  }
}

function jsonLease(l: Lease) {
  return { ...l, expires: new Date(l.expiresAt).toISOString() };
}

function table(leases: Lease[], now: number): string {
  const rows = [['ADDRESS', 'MAC', 'STATE', 'EXPIRES', 'SUBNET', 'HOSTNAME']];
  for (const l of leases) {
    const left = l.expiresAt - now;
    const when =
      `${new Date(l.expiresAt).toISOString().replace('T', ' ').slice(0, 19)}Z (` +
      `${left > 0 ? `in ${span(left)}` : `${span(-left)} ago`})`;
    // A hostname is the client's text (option 12): no control characters reach the terminal.
    rows.push([
      l.address,
      l.mac,
      l.state,
      when,
      l.subnet,
      cut((l.hostname ?? '').replace(/[\x00-\x1f\x7f-\x9f]/g, '?'), 64),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

function span(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}
