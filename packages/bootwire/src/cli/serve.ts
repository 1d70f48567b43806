/**
 * `bootwire serve`: TFTP (and, with a config file that has a `dhcp` section, DHCP) until SIGINT/SIGTERM;
 * HTTP/HTTPS over the same root and file copies with --http/--https or the config's `http` section.
 * Without --config it serves a root over TFTP from flags alone; with --config the file decides, and
 * flags given explicitly on the command line override its TFTP settings.
 *
 * FTP (--ftp) and HTTP backups (--backup) too; TFTP, HTTP and FTP answer through one resolver (the
 * root with the name rules of --remap, --lowercase, --unique-root) and know each client's phone from
 * the DHCP server's leases when it runs here.
 *
 * Operations: SIGHUP rereads the config file (ops/reload.ts), `--metrics` serves Prometheus text
 * (ops/metrics.ts), one log record per finished transfer (ops/transfer-log.ts) with per-packet records
 * rate-limited (ops/log-gate.ts), the leases control socket for `bootwire leases` (@bootwire/dhcp's
 * LeaseControlServer), and `--user` (ops/privileges.ts).
 */
import fsSync, { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  type Credential,
  createRootResolver,
  type Endpoint,
  formatHostPort,
  type HostPort,
  ImageCache,
  loadRemapFile,
  nameRules,
  parseCredential,
  parseHostPort,
  PhoneDirectory,
  RemapFileError,
  type RemapRules,
  type RootResolver,
  UsageError,
} from '@bootwire/core';
// Types only: the DHCP, HTTP and FTP packages load when the plan has those servers (loadServerPackages).
import type * as DhcpPackage from '@bootwire/dhcp';
import type { DhcpServer, LeaseControlServer } from '@bootwire/dhcp';
import type * as FtpPackage from '@bootwire/ftp';
import type { FtpFileResolver, FtpServer, FtpServerOptions } from '@bootwire/ftp';
import type * as HttpPackage from '@bootwire/http';
import type { BackupAreaOptions, HttpBackupStore, HttpFileServer, HttpServerOptions } from '@bootwire/http';
import { type TftpServerOptions, TftpServer } from '@bootwire/tftp';
// The config file's loader (and zod) loads only with --config.
import { ConfigError } from '../config/errors.js';
import type { BootwireConfig, DhcpConfig } from '../config/schema.js';
// Types only: prom-client (and its tracing dependency) loads when --metrics asks for it.
import type { MetricsListener } from '../ops/metrics.js';
import { LogGate } from '../ops/log-gate.js';
import { type Account, checkWritableDir, dropPrivileges, isRoot, lookupAccount } from '../ops/privileges.js';
import { configChanges, ReloadQueue } from '../ops/reload.js';
import { describeTransfer, type FinishedTransfer, fromFtp, fromHttp, fromTftp } from '../ops/transfer-log.js';
import { createLogger, type LogFormat, type Logger } from '../util/log.js';
import { defaultRoot } from './default-root.js';

export interface ServeFlags {
  config?: string;
  root?: string;
  tftp: string;
  http?: string;
  https?: string;
  cert?: string;
  key?: string;
  allowWrite?: boolean;
  allowOverwrite?: boolean;
  maxUploadMb: string;
  maxTransfers?: string;
  workers?: string;
  timeoutMs: string;
  retries: string;
  maxBlksize: string;
  maxWindowsize: string;
  cacheMb: string;
  maxClientTimeout?: string;
  maxTransferSeconds?: string;
  maxTransfersPerAddress?: string;
  maxRequestRate?: string;
  retriesBeforeAnswer?: string;
  maxUnackedKb?: string;
  grace: string;
  logLevel: string;
  logFormat: string;
  logRate: string;
  metrics?: string;
  user?: string;
  remap?: string;
  lowercase?: boolean;
  uniqueRoot?: string;
  /** `PREFIX=DIR`, repeatable. */
  backup?: string[];
  /** `USER:PASS` for the --backup areas, repeatable. */
  backupUser?: string[];
  backupMaxKb?: string;
  ftp?: string;
  ftpPassivePorts?: string;
  ftpAdvertise?: string;
  /** `USER:PASS`, repeatable. */
  ftpUser?: string[];
}

function int(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${flag} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  return n;
}

/** TFTP options from the config file, then from flags the user actually typed. */
function tftpOptions(
  flags: ServeFlags,
  explicit: (name: keyof ServeFlags) => boolean,
  cfg: BootwireConfig | undefined,
  EXAMPLE_ROOT: string,
): TftpServerOptions | undefined {
  const t = cfg?.tftp;
  // a DHCP-only config
  if (cfg && !t && cfg.root === undefined && !explicit('root') && !explicit('tftp')) return undefined;
  const pick = <T>(name: keyof ServeFlags, fromFlag: () => T, fromFile: T | undefined, fallback: () => T): T =>
    explicit(name) ? fromFlag() : fromFile !== undefined ? fromFile : fallback();
  const listen = parseHostPort(
    pick(
      'tftp',
      () => flags.tftp,
      t?.listen,
      () => flags.tftp,
    ),
    '127.0.0.1',
    '--tftp',
  );
  const o: TftpServerOptions = {
    root: pick(
      'root',
      () => flags.root!,
      cfg?.root,
      () => flags.root ?? EXAMPLE_ROOT,
    ),
    host: listen.host,
    port: listen.port,
    allowWrite: pick(
      'allowWrite',
      () => true,
      t?.allowWrite,
      () => false,
    ),
    allowOverwrite: pick(
      'allowOverwrite',
      () => true,
      t?.allowOverwrite,
      () => false,
    ),
    maxUploadBytes:
      pick(
        'maxUploadMb',
        () => int(flags.maxUploadMb, '--max-upload-mb', 0, 1 << 20),
        t?.maxUploadMb,
        () => 64,
      ) *
      1024 *
      1024,
    timeoutMs: pick(
      'timeoutMs',
      () => int(flags.timeoutMs, '--timeout-ms', 10, 255_000),
      t?.timeoutMs,
      () => 1000,
    ),
    maxRetries: pick(
      'retries',
      () => int(flags.retries, '--retries', 0, 100),
      t?.retries,
      () => 5,
    ),
    maxBlksize: pick(
      'maxBlksize',
      () => int(flags.maxBlksize, '--max-blksize', 8, 65464),
      t?.maxBlksize,
      () => 65464,
    ),
    maxWindowsize: pick(
      'maxWindowsize',
      () => int(flags.maxWindowsize, '--max-windowsize', 1, 65535),
      t?.maxWindowsize,
      () => 64,
    ),
    cacheBytes:
      pick(
        'cacheMb',
        () => int(flags.cacheMb, '--cache-mb', 0, 1 << 20),
        t?.cacheMb,
        () => 512,
      ) *
      1024 *
      1024,
  };
  const workers = pick<number | undefined>(
    'workers',
    () => int(flags.workers!, '--workers', 0, 256),
    t?.workers,
    () => undefined,
  );
  if (workers !== undefined) o.workers = workers;
  const maxTransfers = pick<number | undefined>(
    'maxTransfers',
    () => int(flags.maxTransfers!, '--max-transfers', 1, 1_000_000),
    t?.maxTransfers,
    () => undefined,
  );
  if (maxTransfers !== undefined) o.maxTransfers = maxTransfers;
  // Limits: set only when given (flag or file); the server's TFTP_LIMIT_DEFAULTS apply otherwise.
  const limit = (name: keyof ServeFlags, flag: string, min: number, max: number, fromFile: number | undefined) =>
    pick<number | undefined>(
      name,
      () => int(flags[name] as string, flag, min, max),
      fromFile,
      () => undefined,
    );
  const clientTimeout = limit('maxClientTimeout', '--max-client-timeout', 1, 255, t?.maxClientTimeout);
  if (clientTimeout !== undefined) o.maxClientTimeoutMs = clientTimeout * 1000;
  const life = limit('maxTransferSeconds', '--max-transfer-seconds', 1, 86_400 * 7, t?.maxTransferSeconds);
  if (life !== undefined) o.maxTransferMs = life * 1000;
  const perAddress = limit(
    'maxTransfersPerAddress',
    '--max-transfers-per-address',
    1,
    1_000_000,
    t?.maxTransfersPerAddress,
  );
  if (perAddress !== undefined) o.maxTransfersPerAddress = perAddress;
  const rate = limit('maxRequestRate', '--max-request-rate', 0, 1_000_000, t?.maxRequestRate);
  if (rate !== undefined) o.maxRequestRate = rate;
  const quiet = limit('retriesBeforeAnswer', '--retries-before-answer', 0, 100, t?.retriesBeforeAnswer);
  if (quiet !== undefined) o.retriesBeforeAnswer = quiet;
  const unacked = limit('maxUnackedKb', '--max-unacked-kb', 1, 1 << 20, t?.maxUnackedKb);
  if (unacked !== undefined) o.maxUnackedBytes = unacked * 1024;
  if (t?.maxFilenameBytes !== undefined) o.maxFilenameBytes = t.maxFilenameBytes;
  return o;
}

/**
 * HTTP/HTTPS options from --http/--https/--cert/--key, else the config's `http` section; undefined when neither asks.
 */
async function httpOptions(
  flags: ServeFlags,
  cfg: BootwireConfig | undefined,
  root: string,
): Promise<HttpServerOptions | undefined> {
  const h = cfg?.http;
  const fromFile = (p: string) => path.resolve(path.dirname(flags.config!), p);
  const httpListen = flags.http ?? h?.listen;
  const httpsListen = flags.https ?? h?.https?.listen;
  const cert = flags.cert ?? (h?.https ? fromFile(h.https.cert) : undefined);
  const key = flags.key ?? (h?.https ? fromFile(h.https.key) : undefined);
  if (!httpsListen && (flags.cert || flags.key)) throw new UsageError('--cert and --key go with --https HOST:PORT');
  if (httpsListen && (!cert || !key)) throw new UsageError('--https needs --cert FILE and --key FILE');
  const backup = await backupStore(flags, cfg);
  if (!httpListen && !httpsListen) {
    if (backup)
      throw new UsageError(
        "backups (--backup or the config's http.backup) are served over HTTP: add --http HOST:PORT or " +
          '--https HOST:PORT',
      );
    return undefined;
  }
  const o: HttpServerOptions = { root };
  if (backup) o.backup = backup;
  if (h?.maxConnections !== undefined) o.maxConnections = h.maxConnections;
  if (h?.maxConnectionsPerClient !== undefined) o.maxConnectionsPerClient = h.maxConnectionsPerClient;
  if (httpListen) {
    const a = parseHostPort(httpListen, '127.0.0.1', '--http');
    o.http = { host: a.host, port: a.port };
  }
  if (httpsListen) {
    const a = parseHostPort(httpsListen, '127.0.0.1', '--https');
    const read = async (file: string, flag: string) => {
      try {
        return await fs.readFile(file);
      } catch (e) {
        throw new UsageError(
          `cannot read ${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
    };
    o.https = { host: a.host, port: a.port, cert: await read(cert!, '--cert'), key: await read(key!, '--key') };
  }
  return o;
}

/**
 * The resolver TFTP and HTTP share: the root, with the name rules of --remap/--lowercase and
 * --unique-root (flags first, then the config's `names`). A bad rules file is refused here, with its line.
 */
async function rootResolverFor(
  flags: ServeFlags,
  cfg: BootwireConfig | undefined,
  root: string,
): Promise<RootResolver> {
  const n = cfg?.names;
  const remapFile =
    flags.remap ?? (n?.remap !== undefined ? path.resolve(path.dirname(flags.config!), n.remap) : undefined);
  let remap: RemapRules | undefined;
  if (remapFile !== undefined) {
    try {
      remap = await loadRemapFile(remapFile);
    } catch (e) {
      if (e instanceof RemapFileError) throw new UsageError(e.message);
      throw e;
    }
  }
  const unique = flags.uniqueRoot ?? n?.uniqueRoot;
  if (unique !== undefined && unique !== 'mac' && unique !== 'ip')
    throw new UsageError(`--unique-root must be mac or ip, got ${JSON.stringify(unique)}`);
  const names = nameRules({ lowercase: flags.lowercase ?? n?.lowercase ?? false, ...(remap ? { remap } : {}) });
  try {
    return await createRootResolver({ root, ...(names ? { names } : {}), ...(unique ? { uniqueRoot: unique } : {}) });
  } catch (e) {
    throw new UsageError(`cannot serve: ${(e as Error).message}`);
  }
}

function credentials(list: readonly string[] | undefined, flag: string): Credential[] {
  return (list ?? []).map((text) => {
    const c = parseCredential(text);
    if (!c) throw new UsageError(`${flag} ${JSON.stringify(text.replace(/:.*/, ':…'))}: expected USER:PASS`);
    return c;
  });
}

/** The backup areas of --backup PREFIX=DIR (with --backup-user), else of the config's http.backup. */
async function backupStore(flags: ServeFlags, cfg: BootwireConfig | undefined): Promise<HttpBackupStore | undefined> {
  const users = credentials(flags.backupUser, '--backup-user');
  let areas: BackupAreaOptions[];
  if (flags.backup && flags.backup.length > 0) {
    areas = flags.backup.map((text) => {
      const i = text.indexOf('=');
      if (i <= 0 || i === text.length - 1)
        throw new UsageError(
          `--backup ${JSON.stringify(text)}: expected PREFIX=DIR, such as /backup/=/srv/phone-backups`,
        );
      return { prefix: text.slice(0, i), dir: text.slice(i + 1), ...(users.length ? { users } : {}) };
    });
  } else {
    if (users.length) throw new UsageError('--backup-user goes with --backup PREFIX=DIR');
    const fromFile = (p: string) => path.resolve(path.dirname(flags.config!), p);
    areas = (cfg?.http?.backup ?? []).map((a) => ({
      prefix: a.prefix,
      dir: fromFile(a.dir),
      ...(a.users ? { users: a.users } : {}),
    }));
  }
  if (areas.length === 0) return undefined;
  const kb =
    flags.backupMaxKb !== undefined ? int(flags.backupMaxKb, '--backup-max-kb', 0, 1 << 20) : cfg?.http?.backupMaxKb;
  const { HttpBackupStore } = await import('@bootwire/http');
  try {
    return await HttpBackupStore.open({ areas, ...(kb !== undefined ? { maxBytes: kb * 1024 } : {}) });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** FTP options from --ftp (and its flags), else the config's `ftp` section; undefined when neither asks. */
function ftpOptions(flags: ServeFlags, cfg: BootwireConfig | undefined, root: string): FtpServerOptions | undefined {
  const f = cfg?.ftp;
  const listen = flags.ftp ?? f?.listen;
  if (!listen) {
    if (flags.ftpPassivePorts || flags.ftpAdvertise || flags.ftpUser?.length)
      throw new UsageError('--ftp-passive-ports, --ftp-advertise and --ftp-user go with --ftp HOST:PORT');
    return undefined;
  }
  const a = parseHostPort(listen, '127.0.0.1', '--ftp');
  const o: FtpServerOptions = { host: a.host, port: a.port, root, anonymous: f?.anonymous ?? true };
  const range = flags.ftpPassivePorts ?? f?.passivePorts;
  if (range !== undefined) {
    const m = /^([0-9]{1,5})-([0-9]{1,5})$/.exec(range);
    const from = Number(m?.[1]);
    const to = Number(m?.[2]);
    if (!m || from < 1 || to > 65535 || from > to)
      throw new UsageError(
        `--ftp-passive-ports ${JSON.stringify(range)}: expected A-B within 1-65535, such as 50000-50100`,
      );
    o.passivePorts = { from, to };
  }
  const advertise = flags.ftpAdvertise ?? f?.advertise;
  if (advertise !== undefined) o.advertise = advertise;
  const users = [...credentials(flags.ftpUser, '--ftp-user'), ...(f?.users ?? [])];
  if (users.length) o.users = users;
  if (f?.maxConnections !== undefined) o.maxConnections = f.maxConnections;
  if (f?.maxConnectionsPerClient !== undefined) o.maxConnectionsPerClient = f.maxConnectionsPerClient;
  return o;
}

/** Everything the servers are started (or reconfigured) with, from the flags and the config file. */
interface Plan {
  cfg: BootwireConfig | undefined;
  tftp?: TftpServerOptions;
  http?: HttpServerOptions;
  ftp?: FtpServerOptions;
  dhcp?: DhcpConfig;
  metrics?: HostPort;
  /** What TFTP, HTTP and FTP serve, with the name rules (the same for all three). */
  resolver?: RootResolver;
  cacheBytes: number;
}

async function readConfig(file: string): Promise<BootwireConfig> {
  const { loadConfig } = await import('../config/load.js');
  try {
    return await loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`bad config: ${e.message}`);
    throw e;
  }
}

async function planServers(
  flags: ServeFlags,
  explicit: (name: keyof ServeFlags) => boolean,
  cfg: BootwireConfig | undefined,
): Promise<Plan> {
  // Without a root anywhere: the example root `bootwire init` writes (every model's files).
  const dhcpOnly =
    cfg?.dhcp !== undefined &&
    !cfg.tftp &&
    !cfg.http &&
    !cfg.ftp &&
    !explicit('tftp') &&
    flags.http === undefined &&
    flags.ftp === undefined;
  const EXAMPLE_ROOT = flags.root ?? cfg?.root ?? (dhcpOnly ? '' : await defaultRoot());
  const tftp = tftpOptions(flags, explicit, cfg, EXAMPLE_ROOT);
  const servedRoot = tftp?.root ?? cfg?.root ?? flags.root ?? EXAMPLE_ROOT;
  const http = await httpOptions(flags, cfg, servedRoot);
  const ftp = ftpOptions(flags, cfg, servedRoot);
  const metricsAt = flags.metrics ?? cfg?.metrics?.listen;
  const p: Plan = { cfg, cacheBytes: tftp?.cacheBytes ?? int(flags.cacheMb, '--cache-mb', 0, 1 << 20) * 1024 * 1024 };
  if (tftp || http || ftp) {
    // One resolver for every file server: the same names for TFTP, HTTP and FTP.
    p.resolver = await rootResolverFor(flags, cfg, tftp?.root ?? http?.root ?? servedRoot);
    if (tftp) tftp.resolver = p.resolver;
    if (http) http.resolver = p.resolver;
  }
  if (tftp) p.tftp = tftp;
  if (http) p.http = http;
  if (ftp) p.ftp = ftp;
  if (cfg?.dhcp) p.dhcp = cfg.dhcp;
  if (metricsAt !== undefined) p.metrics = parseHostPort(metricsAt, '127.0.0.1', '--metrics');
  return p;
}

/** What a reload cannot change without a restart (the servers say the rest: listen addresses, leases file). */
function restartNeeded(was: Plan, next: Plan): string[] {
  const out: string[] = [];
  for (const kind of ['tftp', 'http', 'ftp', 'dhcp', 'metrics'] as const) {
    if ((was[kind] === undefined) !== (next[kind] === undefined))
      out.push(`${kind} ${next[kind] ? 'added' : 'removed'}`);
  }
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(was.cfg?.ftp, next.cfg?.ftp)) out.push('ftp changed');
  if (
    !same(was.cfg?.http?.backup, next.cfg?.http?.backup) ||
    !same(was.cfg?.http?.backupMaxKb, next.cfg?.http?.backupMaxKb)
  )
    out.push('http.backup changed');
  if (was.tftp && next.tftp && was.tftp.workers !== next.tftp.workers) out.push('tftp.workers changed');
  if (was.cacheBytes !== next.cacheBytes) out.push('tftp.cacheMb changed');
  if (was.metrics && next.metrics && (was.metrics.host !== next.metrics.host || was.metrics.port !== next.metrics.port))
    out.push('metrics.listen changed');
  return out;
}

/** Certificate or key contents that changed under the same file names (a rotated certificate). */
function tlsChanges(was: Plan, next: Plan): string[] {
  const a = was.http?.https;
  const b = next.http?.https;
  if (!a || !b) return [];
  const out: string[] = [];
  if (Buffer.compare(Buffer.from(a.cert), Buffer.from(b.cert)) !== 0) out.push('https certificate (contents)');
  if (Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) !== 0) out.push('https key (contents)');
  return out;
}

const show = (a: Endpoint) => formatHostPort(a.address, a.port);

/** How often the count of records the log gate left out is logged. */
const SUPPRESSED_EVERY_MS = 10_000;

function logFormatOf(s: string): LogFormat {
  if (s !== 'json' && s !== 'pretty')
    throw new UsageError(`--log-format must be json or pretty, got ${JSON.stringify(s)}`);
  return s;
}

/** `--user NAME`: the account, checked before anything binds. */
function accountFor(name: string): Account | undefined {
  let account: Account;
  try {
    account = lookupAccount(name);
  } catch (e) {
    throw new UsageError(`--user: ${(e as Error).message}`);
  }
  const uid = process.getuid?.();
  if (uid === account.uid) return undefined; // already that user
  if (!isRoot()) throw new UsageError(`--user ${name} needs root (running as uid ${uid})`);
  return account;
}

export async function serve(
  flags: ServeFlags,
  explicit: (name: keyof ServeFlags) => boolean = () => false,
): Promise<void> {
  const log = createLogger(flags.logLevel, logFormatOf(flags.logFormat));
  const graceMs = int(flags.grace, '--grace', 0, 3600) * 1000;
  const gate = new LogGate(int(flags.logRate, '--log-rate', 0, 1_000_000));
  const account = flags.user !== undefined ? accountFor(flags.user) : undefined;
  // A SIGHUP before the servers run would end the process (node's default): remembered instead.
  let reloads: ReloadQueue | undefined;
  let hupEarly = false;
  const onHup = () => (reloads ? reloads.request() : (hupEarly = true));
  process.on('SIGHUP', onHup);
  let plan = await planServers(flags, explicit, flags.config ? await readConfig(flags.config) : undefined);
  // A reload cannot add a server (restartNeeded), so what the first plan loads is all there will be.
  const pk = await loadServerPackages(plan);
  // TFTP, HTTP and FTP serve one root from one cache: one shared copy of each file version for all.
  const cache = new ImageCache(plan.cacheBytes);
  // The phone of each client address, from the DHCP server's leases when it runs here.
  const phones = plan.dhcp && (plan.tftp || plan.http || plan.ftp) ? new PhoneDirectory() : undefined;
  // FTP goes through the shared resolver; a reload swaps the resolver it uses.
  let ftpResolve: FtpFileResolver | undefined;
  const attach = (p: Plan) => {
    for (const o of [p.tftp, p.http]) {
      if (!o) continue;
      o.cache = cache;
      if (phones) o.phones = phones;
    }
    if (p.ftp && p.resolver && pk.ftp) {
      p.ftp.cache = cache;
      ftpResolve = pk.ftp.resolverFileResolver(p.resolver, cache, phones ? { phones } : {});
      p.ftp.resolveFile = (name, client) => ftpResolve!(name, client);
    }
  };
  attach(plan);
  let tftp: TftpServer | undefined;
  let dhcp: DhcpServer | undefined;
  let http: HttpFileServer | undefined;
  let ftp: FtpServer | undefined;
  let metricsAt: MetricsListener | undefined;
  let control: LeaseControlServer | undefined;
  const closeAll = async (grace: number) => {
    await Promise.all([
      tftp?.close(grace),
      dhcp?.close(),
      http?.close(grace),
      ftp?.close(grace),
      metricsAt?.close(),
      control?.close(),
    ]);
  };
  try {
    if (plan.tftp) tftp = await TftpServer.start(plan.tftp);
    if (plan.dhcp && pk.dhcp)
      dhcp = await pk.dhcp.DhcpServer.start({ config: plan.dhcp, ...(phones ? { phones } : {}) });
    if (plan.http && pk.http) http = await pk.http.HttpFileServer.start(plan.http);
    if (plan.ftp && pk.ftp) ftp = await pk.ftp.FtpServer.start(plan.ftp);
    if (plan.metrics) {
      const { BootwireMetrics, serveMetrics } = await import('../ops/metrics.js');
      const metrics = new BootwireMetrics();
      if (tftp) metrics.watchTftp(tftp);
      if (http) metrics.watchHttp(http);
      if (ftp) metrics.watchFtp(ftp);
      if (dhcp) metrics.watchDhcp(dhcp);
      metricsAt = await serveMetrics(metrics, plan.metrics.host, plan.metrics.port);
    }
  } catch (e) {
    await closeAll(0);
    process.off('SIGHUP', onHup);
    if (isConfigError(e, pk)) throw new UsageError(`bad config: ${e.message}`);
    throw new UsageError(`cannot serve: ${(e as Error).message}`);
  }
  if (dhcp && plan.dhcp && pk.dhcp) control = await startControl(pk.dhcp, dhcp, plan.dhcp.leases, log);
  if (account) {
    try {
      const leases = plan.dhcp?.leases;
      dropPrivileges(
        account,
        leases
          ? [leases, `${leases}-wal`, `${leases}-journal`, `${leases}.jsonl`, ...(control ? [control.path] : [])]
          : [],
      );
      if (leases) checkWritableDir(path.dirname(leases), 'the leases directory', account);
      if (tftp?.rootReal) checkReadableRoot(tftp.rootReal, account.name, plan.tftp?.allowWrite ?? false, log);
    } catch (e) {
      await closeAll(0);
      process.off('SIGHUP', onHup);
      throw new UsageError(`--user ${account.name}: ${(e as Error).message}`);
    }
  } else if (isRoot() && flags.user === undefined) {
    log.info('running as root: --user NAME would drop privileges once the ports are bound');
  }

  const logTransfer = (t: FinishedTransfer) => {
    if (t.result === 'refused' && !gate.take(`${t.protocol}-refused`, Date.now())) return;
    log.info(t, describeTransfer(t));
  };
  if (tftp) {
    if (log.isLevelEnabled('info')) tftp.on('transfer-end', (r) => logTransfer(fromTftp(r)));
    tftp.on('warning', (w) => gate.take('tftp-warning', Date.now()) && log.warn(w, w.message));
    const threads =
      tftp.runner.workers === 0 ? 'transfers on the main thread' : `${tftp.runner.workers} transfer workers`;
    process.stdout.write(
      `bootwire: tftp listening on ${show(tftp.address())}, root ${tftp.rootReal}, ${threads}` +
        `${plan.tftp?.allowWrite ? ', uploads allowed' : ''}\n`,
    );
  }
  if (dhcp) {
    // Listeners only at levels that print them: the server skips building events nobody hears.
    if (log.isLevelEnabled('info'))
      dhcp.on('reply', (r) => gate.take('dhcp', Date.now()) && log.info(r, `dhcp ${r.type} ${r.yiaddr} to ${r.mac}`));
    if (log.isLevelEnabled('debug'))
      dhcp.on('ignored', (r) => gate.take('dhcp-ignored', Date.now()) && log.debug(r, 'dhcp ignored'));
    dhcp.on('warning', (m) => gate.take('dhcp-warning', Date.now()) && log.warn(m));
    dhcp.on('alert', (m) => log.error(m));
    process.stdout.write(
      `bootwire: dhcp listening on ${show(dhcp.address())}, leases ${plan.dhcp!.leases}` +
        `${control ? `, control socket ${control.path}` : ''}\n`,
    );
  }

  if (http) {
    if (log.isLevelEnabled('info')) http.on('transfer-end', (r) => logTransfer(fromHttp(r)));
    if (log.isLevelEnabled('debug'))
      http.on('client-error', (m) => gate.take('http-client-error', Date.now()) && log.debug(m));
    http.on('warning', (w) => gate.take('http-warning', Date.now()) && log.warn(w, w.message));
    for (const kind of ['http', 'https'] as const) {
      const a = http.address(kind);
      if (a) process.stdout.write(`bootwire: ${kind} listening on ${show(a)}, root ${http.rootReal}\n`);
    }
    for (const b of pk.http && plan.http?.backup instanceof pk.http.HttpBackupStore ? plan.http.backup.list() : []) {
      process.stdout.write(
        `bootwire: http backups under ${b.prefix} stored in ${b.dir}${b.auth ? ', Basic auth' : ''}\n`,
      );
    }
  }
  if (ftp) {
    if (log.isLevelEnabled('info')) ftp.on('transfer', (r) => logTransfer(fromFtp(r, phones)));
    ftp.on('warning', (m) => gate.take('ftp-warning', Date.now()) && log.warn(m));
    process.stdout.write(`bootwire: ftp listening on ${show(ftp.address())}, root ${ftp.rootReal}, read-only\n`);
  }
  if (metricsAt) process.stdout.write(`bootwire: metrics listening on ${show(metricsAt.address())}, GET /metrics\n`);
  const sayLeftOut = () => {
    const left = Object.entries(gate.drain());
    if (left.length === 0) return;
    const list = left.map(([kind, n]) => `${n.toLocaleString('en-US')} ${kind}`).join(', ');
    log.info(
      { event: 'suppressed', counts: Object.fromEntries(left) },
      `not logged (over ${gate.rate} a second of each kind): ${list}`,
    );
  };
  const suppressedTimer = setInterval(sayLeftOut, SUPPRESSED_EVERY_MS);
  suppressedTimer.unref();

  // SIGHUP: the config file again; everything checked before anything changes, then applied at once.
  const reload = async () => {
    if (!flags.config) {
      log.warn('SIGHUP: serve was started without --config: nothing to reread');
      return;
    }
    const prepared: { commit(): void; abort(): void }[] = [];
    let next: Plan;
    try {
      next = await planServers(flags, explicit, await readConfig(flags.config));
      for (const o of [next.tftp, next.http]) if (o && phones) o.phones = phones;
      const restart = restartNeeded(plan, next);
      if (restart.length) throw new UsageError(`${restart.join(', ')}: restart needed`);
      if (tftp && next.tftp) prepared.push(await tftp.prepareReconfigure(next.tftp));
      if (http && next.http) prepared.push(await http.prepareReconfigure(next.http));
      if (dhcp && next.dhcp) prepared.push(await dhcp.prepareReconfigure({ config: next.dhcp }));
    } catch (e) {
      for (const p of prepared) p.abort();
      const reason = isConfigError(e, pk) ? `bad config: ${e.message}` : (e as Error).message;
      log.error(
        { event: 'reload-refused', file: flags.config, error: reason },
        `reload refused, still running the previous configuration: ${reason}`,
      );
      return;
    }
    for (const p of prepared) p.commit();
    const changed = [...configChanges(plan.cfg, next.cfg), ...tlsChanges(plan, next)];
    attach(next);
    plan = next;
    log.info(
      { event: 'reloaded', file: flags.config, changed },
      `reloaded ${flags.config}: ${changed.length ? `changed ${changed.join(', ')}` : 'nothing changed'}`,
    );
  };
  reloads = new ReloadQueue(reload);
  if (hupEarly) reloads.request();

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      log.info(`${signal}: stopping; running transfers get up to ${graceMs / 1000}s`);
      void (reloads?.idle() ?? Promise.resolve()).then(() => closeAll(graceMs)).then(() => resolve());
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  process.off('SIGHUP', onHup);
  clearInterval(suppressedTimer);
  sayLeftOut();
  log.info({ tftp: tftp?.stats(), dhcp: dhcp?.stats(), http: http?.stats(), ftp: ftp?.stats() }, 'stopped');
}

/** The server packages a plan needs, loaded at start: a TFTP-only server never loads the others. */
interface ServerPackages {
  dhcp?: typeof DhcpPackage;
  http?: typeof HttpPackage;
  ftp?: typeof FtpPackage;
}

async function loadServerPackages(p: Plan): Promise<ServerPackages> {
  const [dhcp, http, ftp] = await Promise.all([
    p.dhcp ? import('@bootwire/dhcp') : undefined,
    p.http ? import('@bootwire/http') : undefined,
    p.ftp ? import('@bootwire/ftp') : undefined,
  ]);
  return { ...(dhcp ? { dhcp } : {}), ...(http ? { http } : {}), ...(ftp ? { ftp } : {}) };
}

/** A config the server refused: the file's own checks, or the DHCP server's (only where it runs). */
function isConfigError(e: unknown, pk: ServerPackages): e is Error {
  return e instanceof ConfigError || (pk.dhcp !== undefined && e instanceof pk.dhcp.DhcpConfigError);
}

/** The leases control socket for `bootwire leases`; a failure is said and the server runs without it. */
async function startControl(
  { controlSocketPath, LeaseControlServer }: typeof DhcpPackage,
  dhcp: DhcpServer,
  leasesFile: string,
  log: Logger,
): Promise<LeaseControlServer | undefined> {
  const at = controlSocketPath(leasesFile);
  if (!at) {
    log.warn(
      `no leases control socket: ${leasesFile}.sock is longer than a Unix socket path may be; bootwire ` +
        `leases cannot reach this server (move the leases file)`,
    );
    return undefined;
  }
  try {
    return await LeaseControlServer.listen(at, {
      now: () => Date.now(),
      leases: () => dhcp.leases(),
      release: (a) => dhcp.releaseLease(a),
    });
  } catch (e) {
    log.warn(`no leases control socket at ${at}: ${(e as Error).message}; bootwire leases cannot reach this server`);
    return undefined;
  }
}

/** After --user: the root must be readable (and writable for uploads) by the user. */
function checkReadableRoot(root: string, user: string, uploads: boolean, log: Logger): void {
  try {
    fsSync.accessSync(root, fsSync.constants.R_OK | fsSync.constants.X_OK);
  } catch {
    throw new Error(`the root ${root} is not readable by ${user}`);
  }
  if (!uploads) return;
  try {
    fsSync.accessSync(root, fsSync.constants.W_OK);
  } catch {
    log.warn(`uploads are allowed but the root ${root} is not writable by ${user}: uploads will be refused`);
  }
}
