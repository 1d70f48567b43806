/**
 * The phones of one voice subnet of a site (src/storm/site.ts), run inside that subnet's namespace by
 * `bootwire storm --site`: `node site-phones.js JOB.json`. DHCP is broadcast on the subnet to the
 * router's relay (or skipped, each phone then sending from its own fixed address), every phone's
 * files come from the address its lease (or the job) gives it. Prints one JSON line: the phones'
 * outcomes and this process's CPU and memory.
 */
import { readFile } from 'node:fs/promises';
import type { FileProtocol } from '../phones/models.js';
import type { FleetPhone } from './fleet.js';
import { selfCpuSeconds } from './proc.js';
import type { FaultTotals, PhoneOutcome } from './result.js';
import { simulate } from './simulator.js';

export interface SitePhonesJob {
  phones: FleetPhone[];
  /** Each phone's own address (the same order). */
  addresses: string[];
  /** Milliseconds after the common start at which each phone powers up. */
  offsetsMs: number[];
  startAtEpochMs: number;
  /** 'broadcast': DHCP through the subnet's relay; 'none': every phone goes to `serverUrl`. */
  dhcp: 'broadcast' | 'none';
  serverUrl?: string;
  protocols?: FileProtocol[];
  blksize?: number;
  windowsize?: number;
  faults: { loss: number; duplicate: number; reorder: number };
  workers: number;
  seed: number;
  /** DHCP: the phones' retransmission timeout and retries (as the loopback storm's). */
  dhcpTimeoutMs: number;
  dhcpRetries: number;
}

export interface SitePhonesResult {
  outcomes: PhoneOutcome[];
  relayFaults: FaultTotals;
  cpuSeconds: number;
  peakRssBytes: number;
}

export async function runSitePhones(job: SitePhonesJob): Promise<SitePhonesResult> {
  const cpu0 = selfCpuSeconds();
  const r = await simulate({
    phones: job.phones,
    workers: job.workers,
    staggerMs: 0,
    offsetsMs: job.offsetsMs,
    startAtEpochMs: job.startAtEpochMs,
    ...(job.dhcp === 'broadcast'
      ? {
          dhcp: { kind: 'broadcast' as const, timeoutMs: job.dhcpTimeoutMs, retries: job.dhcpRetries },
          ownAddresses: true,
        }
      : { localAddresses: job.addresses }),
    ...(job.serverUrl !== undefined ? { serverUrl: job.serverUrl } : {}),
    redirects: [],
    faults: job.faults,
    ...(job.protocols ? { protocols: job.protocols } : {}),
    ...(job.blksize ? { tftpBlksize: job.blksize } : {}),
    ...(job.windowsize ? { tftpWindowsize: job.windowsize } : {}),
    seed: job.seed,
  });
  return {
    outcomes: r.outcomes,
    relayFaults: r.relayFaults,
    cpuSeconds: selfCpuSeconds() - cpu0,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

if (process.argv[1] && /site-phones\.js$/.test(process.argv[1])) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node site-phones.js JOB.json\n');
    process.exit(2);
  }
  runSitePhones(JSON.parse(await readFile(file, 'utf8')) as SitePhonesJob).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e: Error) => {
      process.stderr.write(`site phones: ${e.stack ?? e.message}\n`);
      process.exit(1);
    },
  );
}
