/**
 * A simulator worker thread: boots its share of the fleet with bootPhone, each phone at its start time,
 * all concurrently, and reports each phase change and each phone's end to the main thread. DHCP goes
 * through the worker's relay sockets (each on its own loopback address, so the server's replies find
 * it), the phones spread over them so that no socket's receive buffer overflows when all ask at once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { bootPhone } from '../boot/boot-phone.js';
import { redirector, type Redirect } from '../boot/redirect.js';
import { MemoryStateStore } from '../boot/state.js';
import type { DoraClient } from '@bootwire/dhcp';
import { BroadcastClient, RelayClient } from '@bootwire/dhcp';
import { FaultInjector, mulberry32 } from '@bootwire/core';
import { findModel } from '../phones/models.js';
import type { FleetPhone } from './fleet.js';
import { type FaultTotals, outcomeOf } from './result.js';
import type { FileProtocol } from '../phones/models.js';
import { type Endpoint, type HostPort, ipToInt } from '@bootwire/core';

export interface SimWorkerData {
  phones: FleetPhone[];
  /** performance.timeOrigin-independent: epoch milliseconds at which the storm starts. */
  startEpochMs: number;
  /** Per phone: milliseconds after the start at which it powers up. */
  offsetsMs: number[];
  /**
   * How phones get their leases: relay-style through the worker's relay sockets (on loopback), or
   * broadcast on their own subnet to a relay agent there (a site's phones namespace; port 68, root).
   */
  dhcp?:
    | { kind: 'relay'; server: HostPort; relays: Endpoint[]; linkSelection: string; timeoutMs: number; retries: number }
    | { kind: 'broadcast'; timeoutMs: number; retries: number };
  /** Each phone sends from an address of its own: its lease's (DHCP), or this one per phone (no DHCP). */
  ownAddresses?: boolean;
  localAddresses?: string[];
  /** `--dhcp none`: where every phone fetches from (400HD phones get the image;cfg appended). */
  serverUrl?: string;
  redirects: Redirect[];
  faults: { loss: number; duplicate: number; reorder: number };
  protocols?: FileProtocol[];
  tftpBlksize?: number;
  tftpWindowsize?: number;
  /** Seed of the phones' fault randomness. */
  seed: number;
}

export type SimMessage =
  | { type: 'phase'; index: number; phase: string }
  | { type: 'done'; outcome: ReturnType<typeof outcomeOf> }
  | { type: 'finished'; cpuSeconds: number; relayFaults: FaultTotals };

const rng = mulberry32;

async function main(d: SimWorkerData): Promise<void> {
  const port = parentPort!;
  const state = new MemoryStateStore();
  const redirect = redirector(d.redirects);
  const faulty = d.faults.loss > 0 || d.faults.duplicate > 0 || d.faults.reorder > 0;
  const relayInjectors: FaultInjector[] = [];
  const relays: DoraClient[] = [];
  if (d.dhcp?.kind === 'broadcast')
    relays.push(await BroadcastClient.open({ timeoutMs: d.dhcp.timeoutMs, retries: d.dhcp.retries }));
  if (d.dhcp?.kind === 'relay') {
    const { server, linkSelection, timeoutMs, retries } = d.dhcp;
    for (const bind of d.dhcp.relays) {
      // Seeded by the relay's address: every relay of the storm loses its own packets.
      const faults = faulty
        ? new FaultInjector({ ...d.faults, random: rng((d.seed ^ 0x5eed) + ipToInt(bind.address) * 104729) })
        : undefined;
      if (faults) relayInjectors.push(faults);
      relays.push(
        await RelayClient.open({ bind, server, linkSelection, timeoutMs, retries, ...(faults ? { faults } : {}) }),
      );
    }
  }
  const nowS = () => (Date.now() - d.startEpochMs) / 1000;
  await Promise.all(
    d.phones.map(async (phone, i) => {
      const wait = d.startEpochMs + d.offsetsMs[i]! - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const startedAt = nowS();
      const model = findModel(phone.model)!;
      const dhcp = relays.length > 0 ? relays[i % relays.length] : undefined;
      const faults = new FaultInjector({ ...d.faults, random: rng(d.seed + phone.index * 7919) });
      let server = d.serverUrl;
      if (server !== undefined && model.files.format === 'audiocodes-url')
        server = `${server.endsWith('/') ? server : `${server}/`}<MODEL>.img;<MODEL>.cfg`;
      const report = await bootPhone({
        model,
        mac: phone.mac,
        ...(dhcp ? { dhcp, bindToLease: d.ownAddresses ?? false } : {}),
        ...(server !== undefined ? { server } : {}),
        state,
        fetch: {
          redirect,
          ...(d.localAddresses?.[i] ? { localAddress: d.localAddresses[i] } : {}),
          faults,
          ...(d.protocols ? { protocols: d.protocols } : {}),
          ...(d.tftpBlksize ? { tftpBlksize: d.tftpBlksize } : {}),
          ...(d.tftpWindowsize ? { tftpWindowsize: d.tftpWindowsize } : {}),
        },
        onPhase: (phase) => port.postMessage({ type: 'phase', index: phone.index, phase } satisfies SimMessage),
      }).catch((e: Error) => ({
        model: phone.model,
        mac: phone.mac,
        ok: false,
        imageDownloaded: false,
        phases: [],
        ms: 0,
        retransmits: 0,
        bytes: 0,
        error: `simulator: ${e.message}`,
      }));
      const outcome = outcomeOf(phone.index, report, startedAt, nowS());
      if (faulty)
        outcome.faults = {
          dropped: faults.counters.dropped,
          duplicated: faults.counters.duplicated,
          reordered: faults.counters.reordered,
        };
      port.postMessage({ type: 'done', outcome } satisfies SimMessage);
    }),
  );
  await Promise.all(relays.map((r) => r.close()));
  const relayFaults: FaultTotals = { dropped: 0, duplicated: 0, reordered: 0 };
  for (const f of relayInjectors) {
    relayFaults.dropped += f.counters.dropped;
    relayFaults.duplicated += f.counters.duplicated;
    relayFaults.reordered += f.counters.reordered;
  }
  const u = process.cpuUsage();
  port.postMessage({ type: 'finished', cpuSeconds: (u.user + u.system) / 1e6, relayFaults } satisfies SimMessage);
}

if (parentPort && workerData) {
  main(workerData as SimWorkerData).catch((e: Error) => {
    parentPort!.postMessage({ type: 'error', message: e.stack ?? e.message });
  });
}
