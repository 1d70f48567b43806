/** `bootwire get` and `bootwire put`: the TFTP client on the command line. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TftpError, tftpGet, tftpGetFile, tftpPut, type TftpClientOptions } from '@bootwire/tftp';
import { parseTftpUrl, UsageError } from '@bootwire/core';

export interface ClientFlags {
  output?: string;
  blksize?: string;
  windowsize?: string;
  timeout?: string;
  tsize?: boolean;
  mode: string;
  retries: string;
}

function int(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${flag} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  return n;
}

function clientOptions(url: string, f: ClientFlags): TftpClientOptions {
  const u = parseTftpUrl(url);
  if (f.mode !== 'octet' && f.mode !== 'netascii')
    throw new UsageError(`--mode must be octet or netascii, got ${JSON.stringify(f.mode)}`);
  const o: TftpClientOptions = {
    host: u.host,
    port: u.port,
    filename: u.filename,
    mode: f.mode,
    maxRetries: int(f.retries, '--retries', 0, 100)!,
  };
  const blksize = int(f.blksize, '--blksize', 8, 65464);
  const windowsize = int(f.windowsize, '--windowsize', 1, 65535);
  const timeout = int(f.timeout, '--timeout', 1, 255);
  if (blksize !== undefined) o.blksize = blksize;
  if (windowsize !== undefined) o.windowsize = windowsize;
  if (timeout !== undefined) o.timeout = timeout;
  if (f.tsize) o.tsize = true;
  return o;
}

function report(e: unknown): never {
  if (e instanceof TftpError) {
    process.stderr.write(`bootwire: ${e.message}\n`);
    process.exit(1);
  }
  throw e;
}

export async function get(url: string, f: ClientFlags): Promise<void> {
  const o = clientOptions(url, f);
  const started = performance.now();
  try {
    if (f.output === '-') {
      const info = await tftpGet(o, (c) => process.stdout.write(Buffer.from(c)));
      process.stderr.write(summary(info.bytes, started, info.tsize));
      return;
    }
    const out = f.output ?? path.basename(o.filename.replaceAll('\\', '/'));
    const info = await tftpGetFile(o, out);
    process.stderr.write(`${out}: ${summary(info.bytes, started, info.tsize)}`);
  } catch (e) {
    report(e);
  }
}

export async function put(file: string, url: string, f: ClientFlags): Promise<void> {
  const o = clientOptions(url, f);
  let data: Buffer;
  try {
    data = await fs.readFile(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const started = performance.now();
  try {
    const info = await tftpPut(o, data);
    process.stderr.write(`${file}: ${summary(info.bytes, started)}`);
  } catch (e) {
    report(e);
  }
}

function summary(bytes: number, started: number, tsize?: number): string {
  const s = (performance.now() - started) / 1000;
  return (
    `${bytes} bytes in ${s.toFixed(3)} s (${(bytes / 1048576 / Math.max(s, 1e-6)).toFixed(1)}` +
    ` MiB/s)${tsize !== undefined ? `, tsize ${tsize}` : ''}\n`
  );
}
