/** `bootwire serve`: the TFTP server on a root, until SIGINT/SIGTERM. */
import { fileURLToPath } from 'node:url';
import { TftpServer } from '../tftp/server.js';
import { parseHostPort, UsageError } from '../util/hostport.js';
import { createLogger } from '../util/log.js';

export interface ServeFlags {
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

export async function serve(flags: ServeFlags): Promise<void> {
  const log = createLogger(flags.logLevel);
  const listen = parseHostPort(flags.tftp, '127.0.0.1', '--tftp');
  const root = flags.root ?? EXAMPLE_ROOT;
  const graceMs = int(flags.grace, '--grace', 0, 3600) * 1000;
  const options = {
    root,
    host: listen.host,
    port: listen.port,
    allowWrite: flags.allowWrite ?? false,
    allowOverwrite: flags.allowOverwrite ?? false,
    maxUploadBytes: int(flags.maxUploadMb, '--max-upload-mb', 0, 1 << 20) * 1024 * 1024,
    timeoutMs: int(flags.timeoutMs, '--timeout-ms', 10, 255_000),
    maxRetries: int(flags.retries, '--retries', 0, 100),
    maxBlksize: int(flags.maxBlksize, '--max-blksize', 8, 65464),
    maxWindowsize: int(flags.maxWindowsize, '--max-windowsize', 1, 65535),
    cacheBytes: int(flags.cacheMb, '--cache-mb', 0, 1 << 20) * 1024 * 1024,
    ...(flags.workers !== undefined ? { workers: int(flags.workers, '--workers', 0, 256) } : {}),
    ...(flags.maxTransfers !== undefined ? { maxTransfers: int(flags.maxTransfers, '--max-transfers', 1, 1_000_000) } : {}),
  };
  let server: TftpServer;
  try {
    server = await TftpServer.start(options);
  } catch (e) {
    throw new UsageError(`cannot serve: ${(e as Error).message}`);
  }
  server.on('transfer', (r) => log.info(r, `${r.direction} ${r.file} ${r.ok ? 'done' : 'failed'}`));
  server.on('warning', (m) => log.warn(m));
  const a = server.address();
  const shown = a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  const threads = server.runner.workers === 0 ? 'transfers on the main thread' : `${server.runner.workers} transfer workers`;
  process.stdout.write(`bootwire: tftp listening on ${shown}, root ${server.rootReal}, ${threads}${options.allowWrite ? ', uploads allowed' : ''}\n`);

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warn(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      log.info(`${signal}: no new transfers; waiting up to ${graceMs / 1000}s for ${server.stats().activeTransfers} running`);
      void server.close(graceMs).then(resolve);
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  log.info(server.stats(), 'stopped');
}
