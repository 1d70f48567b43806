/**
 * `bootwire serve`: TFTP (and, with a config file that has a `dhcp` section, DHCP) until SIGINT/SIGTERM;
 * HTTP/HTTPS over the same root and file copies with --http/--https or the config's `http` section.
 * Without --config it serves a root over TFTP from flags alone; with --config the file decides, and
 * flags given explicitly on the command line override its TFTP settings.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config/load.js';
import { defaultRoot } from './default-root.js';
import type { BootwireConfig } from '../config/schema.js';
import { DhcpConfigError, DhcpServer } from '@bootwire/dhcp';
import { type Credential, ImageCache, loadRemapFile, nameRules, parseCredential, parseHostPort, PhoneDirectory, RemapFileError, type RemapRules, createRootResolver, type RootResolver, type UniqueRoot, UsageError } from '@bootwire/core';
import { type BackupAreaOptions, HttpBackupStore, HttpFileServer, type HttpServerOptions } from '@bootwire/http';
import { FtpServer, type FtpServerOptions, resolverFileResolver } from '@bootwire/ftp';
import { type TftpServerOptions, TftpServer } from '@bootwire/tftp';
import { createLogger } from '../util/log.js';

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
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  return n;
}

/** TFTP options from the config file, then from flags the user actually typed. */
function tftpOptions(flags: ServeFlags, explicit: (name: keyof ServeFlags) => boolean, cfg: BootwireConfig | undefined, EXAMPLE_ROOT: string): TftpServerOptions | undefined {
  const t = cfg?.tftp;
  if (cfg && !t && cfg.root === undefined && !explicit('root') && !explicit('tftp')) return undefined; // a DHCP-only config
  const pick = <T>(name: keyof ServeFlags, fromFlag: () => T, fromFile: T | undefined, fallback: () => T): T =>
    explicit(name) ? fromFlag() : fromFile !== undefined ? fromFile : fallback();
  const listen = parseHostPort(pick('tftp', () => flags.tftp, t?.listen, () => flags.tftp), '127.0.0.1', '--tftp');
  const o: TftpServerOptions = {
    root: pick('root', () => flags.root!, cfg?.root, () => flags.root ?? EXAMPLE_ROOT),
    host: listen.host,
    port: listen.port,
    allowWrite: pick('allowWrite', () => true, t?.allowWrite, () => false),
    allowOverwrite: pick('allowOverwrite', () => true, t?.allowOverwrite, () => false),
    maxUploadBytes: pick('maxUploadMb', () => int(flags.maxUploadMb, '--max-upload-mb', 0, 1 << 20), t?.maxUploadMb, () => 64) * 1024 * 1024,
    timeoutMs: pick('timeoutMs', () => int(flags.timeoutMs, '--timeout-ms', 10, 255_000), t?.timeoutMs, () => 1000),
    maxRetries: pick('retries', () => int(flags.retries, '--retries', 0, 100), t?.retries, () => 5),
    maxBlksize: pick('maxBlksize', () => int(flags.maxBlksize, '--max-blksize', 8, 65464), t?.maxBlksize, () => 65464),
    maxWindowsize: pick('maxWindowsize', () => int(flags.maxWindowsize, '--max-windowsize', 1, 65535), t?.maxWindowsize, () => 64),
    cacheBytes: pick('cacheMb', () => int(flags.cacheMb, '--cache-mb', 0, 1 << 20), t?.cacheMb, () => 512) * 1024 * 1024,
  };
  const workers = pick<number | undefined>('workers', () => int(flags.workers!, '--workers', 0, 256), t?.workers, () => undefined);
  if (workers !== undefined) o.workers = workers;
  const maxTransfers = pick<number | undefined>('maxTransfers', () => int(flags.maxTransfers!, '--max-transfers', 1, 1_000_000), t?.maxTransfers, () => undefined);
  if (maxTransfers !== undefined) o.maxTransfers = maxTransfers;
  // Limits: set only when given (flag or file); the server's TFTP_LIMIT_DEFAULTS apply otherwise.
  const limit = (name: keyof ServeFlags, flag: string, min: number, max: number, fromFile: number | undefined) =>
    pick<number | undefined>(name, () => int(flags[name] as string, flag, min, max), fromFile, () => undefined);
  const clientTimeout = limit('maxClientTimeout', '--max-client-timeout', 1, 255, t?.maxClientTimeout);
  if (clientTimeout !== undefined) o.maxClientTimeoutMs = clientTimeout * 1000;
  const life = limit('maxTransferSeconds', '--max-transfer-seconds', 1, 86_400 * 7, t?.maxTransferSeconds);
  if (life !== undefined) o.maxTransferMs = life * 1000;
  const perAddress = limit('maxTransfersPerAddress', '--max-transfers-per-address', 1, 1_000_000, t?.maxTransfersPerAddress);
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

/** HTTP/HTTPS options from --http/--https/--cert/--key, else the config's `http` section; undefined when neither asks. */
async function httpOptions(flags: ServeFlags, cfg: BootwireConfig | undefined, root: string, cache: ImageCache): Promise<HttpServerOptions | undefined> {
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
    if (backup) throw new UsageError('backups (--backup or the config\'s http.backup) are served over HTTP: add --http HOST:PORT or --https HOST:PORT');
    return undefined;
  }
  const o: HttpServerOptions = { root, cache };
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
        throw new UsageError(`cannot read ${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
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
async function rootResolverFor(flags: ServeFlags, cfg: BootwireConfig | undefined, root: string): Promise<RootResolver> {
  const n = cfg?.names;
  const remapFile = flags.remap ?? (n?.remap !== undefined ? path.resolve(path.dirname(flags.config!), n.remap) : undefined);
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
  if (unique !== undefined && unique !== 'mac' && unique !== 'ip') throw new UsageError(`--unique-root must be mac or ip, got ${JSON.stringify(unique)}`);
  const names = nameRules({ lowercase: flags.lowercase ?? n?.lowercase ?? false, ...(remap ? { remap } : {}) });
  try {
    return await createRootResolver({ root, ...(names ? { names } : {}), ...(unique ? { uniqueRoot: unique as UniqueRoot } : {}) });
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
      if (i <= 0 || i === text.length - 1) throw new UsageError(`--backup ${JSON.stringify(text)}: expected PREFIX=DIR, such as /backup/=/srv/phone-backups`);
      return { prefix: text.slice(0, i), dir: text.slice(i + 1), ...(users.length ? { users } : {}) };
    });
  } else {
    if (users.length) throw new UsageError('--backup-user goes with --backup PREFIX=DIR');
    const fromFile = (p: string) => path.resolve(path.dirname(flags.config!), p);
    areas = (cfg?.http?.backup ?? []).map((a) => ({ prefix: a.prefix, dir: fromFile(a.dir), ...(a.users ? { users: a.users } : {}) }));
  }
  if (areas.length === 0) return undefined;
  const kb = flags.backupMaxKb !== undefined ? int(flags.backupMaxKb, '--backup-max-kb', 0, 1 << 20) : cfg?.http?.backupMaxKb;
  try {
    return await HttpBackupStore.open({ areas, ...(kb !== undefined ? { maxBytes: kb * 1024 } : {}) });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** FTP options from --ftp (and its flags), else the config's `ftp` section; undefined when neither asks. */
function ftpOptions(flags: ServeFlags, cfg: BootwireConfig | undefined, root: string, cache: ImageCache): FtpServerOptions | undefined {
  const f = cfg?.ftp;
  const listen = flags.ftp ?? f?.listen;
  if (!listen) {
    if (flags.ftpPassivePorts || flags.ftpAdvertise || flags.ftpUser?.length) throw new UsageError('--ftp-passive-ports, --ftp-advertise and --ftp-user go with --ftp HOST:PORT');
    return undefined;
  }
  const a = parseHostPort(listen, '127.0.0.1', '--ftp');
  const o: FtpServerOptions = { host: a.host, port: a.port, root, cache, anonymous: f?.anonymous ?? true };
  const range = flags.ftpPassivePorts ?? f?.passivePorts;
  if (range !== undefined) {
    const m = /^([0-9]{1,5})-([0-9]{1,5})$/.exec(range);
    const from = Number(m?.[1]);
    const to = Number(m?.[2]);
    if (!m || from < 1 || to > 65535 || from > to) throw new UsageError(`--ftp-passive-ports ${JSON.stringify(range)}: expected A-B within 1-65535, such as 50000-50100`);
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

const show = (a: { address: string; port: number }) => (a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);

export async function serve(flags: ServeFlags, explicit: (name: keyof ServeFlags) => boolean = () => false): Promise<void> {
  const log = createLogger(flags.logLevel);
  const graceMs = int(flags.grace, '--grace', 0, 3600) * 1000;
  let cfg: BootwireConfig | undefined;
  if (flags.config) {
    try {
      cfg = await loadConfig(flags.config);
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(`bad config: ${e.message}`);
      throw e;
    }
  }
  // Without a root anywhere: the example root `bootwire init` writes (every model's files).
  const dhcpOnly = cfg?.dhcp !== undefined && !cfg.tftp && !cfg.http && !cfg.ftp && !explicit('tftp') && flags.http === undefined && flags.ftp === undefined;
  const EXAMPLE_ROOT = flags.root ?? cfg?.root ?? (dhcpOnly ? '' : await defaultRoot());
  const tftpOpts = tftpOptions(flags, explicit, cfg, EXAMPLE_ROOT);
  // TFTP and HTTP serve one root from one cache: one shared copy of each file version for both.
  const cache = new ImageCache(tftpOpts?.cacheBytes ?? int(flags.cacheMb, '--cache-mb', 0, 1 << 20) * 1024 * 1024);
  if (tftpOpts) tftpOpts.cache = cache;
  const servedRoot = tftpOpts?.root ?? cfg?.root ?? flags.root ?? EXAMPLE_ROOT;
  const httpOpts = await httpOptions(flags, cfg, servedRoot, cache);
  const ftpOpts = ftpOptions(flags, cfg, servedRoot, cache);
  // One resolver and one phone directory for every file server: the same names for TFTP, HTTP and
  // FTP, and the phone of each address from the DHCP server's leases when it runs here.
  const phones = cfg?.dhcp && (tftpOpts || httpOpts || ftpOpts) ? new PhoneDirectory() : undefined;
  if (tftpOpts || httpOpts || ftpOpts) {
    const resolver = await rootResolverFor(flags, cfg, tftpOpts?.root ?? httpOpts?.root ?? servedRoot);
    for (const o of [tftpOpts, httpOpts]) {
      if (!o) continue;
      o.resolver = resolver;
      if (phones) o.phones = phones;
    }
    if (ftpOpts) ftpOpts.resolveFile = resolverFileResolver(resolver, cache, phones ? { phones } : {});
  }
  let tftp: TftpServer | undefined;
  let dhcp: DhcpServer | undefined;
  let http: HttpFileServer | undefined;
  let ftp: FtpServer | undefined;
  try {
    if (tftpOpts) tftp = await TftpServer.start(tftpOpts);
    if (cfg?.dhcp) dhcp = await DhcpServer.start({ config: cfg.dhcp, ...(phones ? { phones } : {}) });
    if (httpOpts) http = await HttpFileServer.start(httpOpts);
    if (ftpOpts) ftp = await FtpServer.start(ftpOpts);
  } catch (e) {
    await tftp?.close(0);
    await dhcp?.close();
    await http?.close(0);
    await ftp?.close(0);
    if (e instanceof ConfigError || e instanceof DhcpConfigError) throw new UsageError(`bad config: ${e.message}`);
    throw new UsageError(`cannot serve: ${(e as Error).message}`);
  }
  if (tftp) {
    tftp.on('transfer-end', (r) => log.info(r, `${r.direction} ${r.name} ${r.ok ? 'done' : 'failed'}`));
    tftp.on('warning', (w) => log.warn(w, w.message));
    const threads = tftp.runner.workers === 0 ? 'transfers on the main thread' : `${tftp.runner.workers} transfer workers`;
    process.stdout.write(`bootwire: tftp listening on ${show(tftp.address())}, root ${tftp.rootReal}, ${threads}${tftpOpts?.allowWrite ? ', uploads allowed' : ''}\n`);
  }
  if (dhcp) {
    // Listeners only at levels that print them: the server skips building events nobody hears.
    if (log.isLevelEnabled('info')) dhcp.on('reply', (r) => log.info(r, `dhcp ${r.type} ${r.yiaddr} to ${r.mac}`));
    if (log.isLevelEnabled('debug')) dhcp.on('ignored', (r) => log.debug(r, 'dhcp ignored'));
    dhcp.on('warning', (m) => log.warn(m));
    dhcp.on('alert', (m) => log.error(m));
    process.stdout.write(`bootwire: dhcp listening on ${show(dhcp.address())}, leases ${cfg!.dhcp!.leases}\n`);
  }

  if (http) {
    if (log.isLevelEnabled('info')) http.on('transfer-end', (r) => log.info(r, `http ${r.method} ${r.target} ${r.status}`));
    if (log.isLevelEnabled('debug')) http.on('client-error', (m) => log.debug(m));
    http.on('warning', (w) => log.warn(w, w.message));
    for (const kind of ['http', 'https'] as const) {
      const a = http.address(kind);
      if (a) process.stdout.write(`bootwire: ${kind} listening on ${show(a)}, root ${http.rootReal}\n`);
    }
    for (const b of httpOpts?.backup instanceof HttpBackupStore ? httpOpts.backup.list() : []) {
      process.stdout.write(`bootwire: http backups under ${b.prefix} stored in ${b.dir}${b.auth ? ', Basic auth' : ''}\n`);
    }
  }
  if (ftp) {
    if (log.isLevelEnabled('info')) ftp.on('transfer', (r) => log.info(r, `ftp ${r.command} ${r.path} ${r.ok ? 'done' : 'failed'}`));
    ftp.on('warning', (m) => log.warn(m));
    process.stdout.write(`bootwire: ftp listening on ${show(ftp.address())}, root ${ftp.rootReal}, read-only\n`);
  }

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      log.info(`${signal}: stopping; running transfers get up to ${graceMs / 1000}s`);
      void Promise.all([tftp?.close(graceMs), dhcp?.close(), http?.close(graceMs), ftp?.close(graceMs)]).then(() => resolve());
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  log.info({ tftp: tftp?.stats(), dhcp: dhcp?.stats(), http: http?.stats(), ftp: ftp?.stats() }, 'stopped');
}
