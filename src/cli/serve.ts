/**
 * `bootwire serve`: TFTP (and, with a config file that has a `dhcp` section, DHCP) until SIGINT/SIGTERM.
 * Without --config it serves a root over TFTP from flags alone; with --config the file decides, and
 * flags given explicitly on the command line override its TFTP settings.
 */
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../config/load.js';
import type { BootwireConfig } from '../config/schema.js';
import { DhcpServer } from '../dhcp/server/server.js';
import { type TftpServerOptions, TftpServer } from '../tftp/server.js';
import { parseHostPort, UsageError } from '../util/hostport.js';
import { createLogger } from '../util/log.js';

export interface ServeFlags {
  config?: string;
  root?: string;
  tftp: string;
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
  grace: string;
  logLevel: string;
}

/** The example root shipped with the package, served when no --root is given. */
export const EXAMPLE_ROOT = fileURLToPath(new URL('../../examples/tftpboot', import.meta.url));

function int(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  return n;
}

/** TFTP options from the config file, then from flags the user actually typed. */
function tftpOptions(flags: ServeFlags, explicit: (name: keyof ServeFlags) => boolean, cfg: BootwireConfig | undefined): TftpServerOptions | undefined {
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
  const tftpOpts = tftpOptions(flags, explicit, cfg);
  let tftp: TftpServer | undefined;
  let dhcp: DhcpServer | undefined;
  try {
    if (tftpOpts) tftp = await TftpServer.start(tftpOpts);
    if (cfg?.dhcp) dhcp = await DhcpServer.start({ config: cfg.dhcp });
  } catch (e) {
    await tftp?.close(0);
    await dhcp?.close();
    if (e instanceof ConfigError) throw new UsageError(`bad config: ${e.message}`);
    throw new UsageError(`cannot serve: ${(e as Error).message}`);
  }
  if (tftp) {
    tftp.on('transfer', (r) => log.info(r, `${r.direction} ${r.file} ${r.ok ? 'done' : 'failed'}`));
    tftp.on('warning', (m) => log.warn(m));
    const threads = tftp.runner.workers === 0 ? 'transfers on the main thread' : `${tftp.runner.workers} transfer workers`;
    process.stdout.write(`bootwire: tftp listening on ${show(tftp.address())}, root ${tftp.rootReal}, ${threads}${tftpOpts?.allowWrite ? ', uploads allowed' : ''}\n`);
  }
  if (dhcp) {
    // Listeners only at levels that print them: the server skips building events nobody hears.
    if (log.isLevelEnabled('info')) dhcp.on('reply', (r) => log.info(r, `dhcp ${r.type} ${r.yiaddr} to ${r.mac}`));
    if (log.isLevelEnabled('debug')) dhcp.on('ignored', (r) => log.debug(r, 'dhcp ignored'));
    dhcp.on('warning', (m) => log.warn(m));
    process.stdout.write(`bootwire: dhcp listening on ${show(dhcp.address())}, leases ${cfg!.dhcp!.leases}\n`);
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
      void Promise.all([tftp?.close(graceMs), dhcp?.close()]).then(() => resolve());
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  log.info({ tftp: tftp?.stats(), dhcp: dhcp?.stats() }, 'stopped');
}
