/**
 * `bootwire boot --model 9608 --mac 00:04:0d:aa:bb:01 [--dhcp HOST:PORT|none] [--server URL] [--state DIR]`:
 * one simulated phone booting as its manual says (src/boot/boot-phone.ts). Prints a timeline, or one
 * JSON object with --json; exits 0 only when the boot succeeded (1 when it failed, 2 on usage errors).
 */
import { bootPhone, type BootReport, planFromUrl } from '../boot/boot-phone.js';
import { parseRedirect, RedirectError, redirector } from '../boot/redirect.js';
import { DirStateStore, MemoryStateStore } from '../boot/state.js';
import { RelayClient } from '@bootwire/dhcp';
import { findModel, formatMac, MODEL_NAMES } from '../phones/models.js';
import { parseCredential } from '@bootwire/core/internal/credentials.js';
import { parseHostPort, UsageError } from '@bootwire/core/internal/hostport.js';

export interface BootFlags {
  model: string;
  mac: string;
  dhcp: string;
  /** The relay client's first retransmission timeout (doubling, 4 retries): 1000 ms waits about 31 s in all. */
  dhcpTimeoutMs: string;
  relay: string;
  linkSelection: string;
  server?: string;
  state?: string;
  redirect: string[];
  backupUser?: string;
  json?: boolean;
}

export async function boot(flags: BootFlags): Promise<void> {
  const model = findModel(flags.model);
  if (!model)
    throw new UsageError(`--model ${JSON.stringify(flags.model)}: not a known model (${MODEL_NAMES.join(', ')})`);
  const mac = formatMac(flags.mac, 'colon-lower');
  if (!mac) throw new UsageError(`--mac ${JSON.stringify(flags.mac)}: not a MAC address such as 00:04:0d:aa:bb:01`);
  let redirects;
  try {
    redirects = flags.redirect.map(parseRedirect);
  } catch (e) {
    if (e instanceof RedirectError) throw new UsageError(e.message);
    throw e;
  }
  const useDhcp = flags.dhcp !== 'none' && flags.server === undefined;
  if (!useDhcp && flags.server === undefined)
    throw new UsageError('--dhcp none needs --server URL (where the phone finds its files)');
  if (flags.server !== undefined) {
    // A URL the phone could not use is a usage error (exit 2), not a failed boot.
    let servers;
    try {
      servers = planFromUrl(model, mac, flags.server).servers;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    for (const s of servers) {
      if (!model.protocols.order.includes(s.protocol))
        throw new UsageError(
          `--server ${flags.server}: the ${model.name} does not fetch files over ` +
            `${s.protocol.toUpperCase()} (it uses ${model.protocols.order.join(', ')})`,
        );
    }
  }
  const backupCredentials = flags.backupUser !== undefined ? parseCredential(flags.backupUser) : undefined;
  if (flags.backupUser !== undefined && !backupCredentials) throw new UsageError('--backup-user: expected USER:PASS');
  const dhcpTimeoutMs = Number(flags.dhcpTimeoutMs);
  if (!/^[0-9]+$/.test(flags.dhcpTimeoutMs) || dhcpTimeoutMs < 10 || dhcpTimeoutMs > 60_000)
    throw new UsageError(
      `--dhcp-timeout-ms must be an integer in 10..60000, got ${JSON.stringify(flags.dhcpTimeoutMs)}`,
    );
  let client: RelayClient | undefined;
  if (useDhcp) {
    const server = parseHostPort(flags.dhcp, '127.0.0.1', '--dhcp');
    const relay = parseHostPort(flags.relay, '127.0.0.1', '--relay');
    try {
      client = await RelayClient.open({
        bind: { address: relay.host, port: relay.port },
        server,
        timeoutMs: dhcpTimeoutMs,
        ...(flags.linkSelection !== 'none' ? { linkSelection: flags.linkSelection } : {}),
      });
    } catch (e) {
      throw new UsageError(`cannot open the relay socket on ${flags.relay}: ${(e as Error).message}`);
    }
  }
  let report: BootReport;
  try {
    report = await bootPhone({
      model,
      mac,
      ...(client ? { dhcp: client } : {}),
      ...(flags.server !== undefined ? { server: flags.server } : {}),
      state: flags.state ? new DirStateStore(flags.state) : new MemoryStateStore(),
      fetch: { redirect: redirector(redirects) },
      ...(backupCredentials ? { backupCredentials } : {}),
    });
  } finally {
    await client?.close();
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(timeline(report));
  if (!report.ok) process.exitCode = 1;
}

export function timeline(r: BootReport): string {
  const lines = [`${r.model} ${r.mac}${r.address ? ` (${r.address})` : ''}`];
  const w = Math.max(8, ...r.phases.map((p) => (p.url ?? p.file).length));
  for (const p of r.phases) {
    const what = (p.phase === 'dhcp' ? `lease ${p.file || '-'}` : (p.url ?? p.file)).padEnd(w);
    lines.push(
      `  ${String(Math.round(p.at)).padStart(6)} ms  ${p.phase.padEnd(8)} ${what}  ` +
        `${p.protocol.padEnd(5)} ${String(p.bytes).padStart(10)} B ` +
        `${String(Math.round(p.ms)).padStart(7)} ms` +
        `${p.retransmits ? `  ${p.retransmits} retransmits` : ''}` +
        `${p.ok ? '' : p.skipped ? `  skipped: ${p.error}` : `  FAILED: ${p.error}`}`,
    );
  }
  lines.push(
    `  image: ${r.imageDownloaded ? 'downloaded' : 'not downloaded'}${r.imageDecision ? ` (${r.imageDecision})` : ''}`,
  );
  lines.push(
    r.ok ? `  booted in ${Math.round(r.ms)} ms` : `  boot FAILED${r.failedIn ? ` in ${r.failedIn}` : ''}: ${r.error}`,
  );
  return lines.join('\n') + '\n';
}
