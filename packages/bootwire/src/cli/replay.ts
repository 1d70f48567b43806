/**
 * `bootwire replay CAPTURE`: the capture's TFTP and DHCP client side against the built-in servers (or
 * the ones given), one line per conversation on stdout, then a summary. Exit 0 when nothing differs,
 * 1 on any difference (or a capture that cannot be read), 2 on a usage error.
 */
import { access } from 'node:fs/promises';
import { formatReport, replayCapture, summarize } from '../replay/index.js';
import { type Endpoint, type HostPort, parseHostPort, UsageError } from '@bootwire/core';

export interface ReplayFlags {
  server: string;
  dhcp: string;
  relay?: string;
  timeoutMs: string;
}

function target(value: string, flag: string): 'builtin' | HostPort {
  if (value === 'builtin') return 'builtin';
  if (!/:[0-9]+$/.test(value))
    throw new UsageError(`${flag}: expected builtin or HOST:PORT, got ${JSON.stringify(value)}`);
  return parseHostPort(value, '127.0.0.1', flag);
}

export async function replay(file: string, flags: ReplayFlags): Promise<void> {
  const server = target(flags.server, '--server');
  const dhcp = target(flags.dhcp, '--dhcp');
  const timeoutMs = Number(flags.timeoutMs);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 10 || timeoutMs > 60_000)
    throw new UsageError(`--timeout-ms must be an integer in 10..60000, got ${JSON.stringify(flags.timeoutMs)}`);
  let relay: Endpoint | undefined;
  if (flags.relay !== undefined) {
    const r = parseHostPort(flags.relay, '0.0.0.0', '--relay');
    relay = { address: r.host, port: r.port };
  }
  try {
    await access(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const report = await replayCapture(file, {
    tftp: { server, timeoutMs },
    dhcp: { server: dhcp, timeoutMs, ...(relay ? { relay } : {}) },
  });
  process.stdout.write(formatReport(report).join('\n') + '\n');
  process.exitCode = summarize(report).exitCode;
}
