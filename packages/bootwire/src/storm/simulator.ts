/**
 * The phone simulator's main side: splits the fleet over worker threads, follows every phone's phase
 * for the live display, and collects the outcomes. Simulator CPU is this process's (all its threads).
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FleetPhone } from './fleet.js';
import type { FaultTotals, PhoneOutcome } from './result.js';
import type { SimMessage, SimWorkerData } from './sim-worker.js';

/** The worker's compiled file (tests run this module from src/, the worker must be JavaScript). */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts')
    ? path.resolve(path.dirname(here), '../../dist/storm/sim-worker.js')
    : path.join(path.dirname(here), 'sim-worker.js');
}

export type PhoneStage =
  'waiting' | 'dhcp' | 'script' | 'image' | 'settings' | 'restore' | 'backup' | 'done' | 'failed';

export interface SimulationOptions extends Omit<SimWorkerData, 'phones' | 'startEpochMs' | 'offsetsMs' | 'dhcp'> {
  phones: FleetPhone[];
  workers: number;
  staggerMs: number;
  /** The DHCP relays, dealt out to the workers in turn (relay r goes to worker r % workers). */
  dhcp?: NonNullable<SimWorkerData['dhcp']>;
  onStage?: (counts: Record<PhoneStage, number>) => void;
  /** When the power comes back (epoch ms): storms in several processes start together. Default: in 300 ms. */
  startAtEpochMs?: number;
  /** Each phone's power-up after the start, instead of `staggerMs` spread over this list. */
  offsetsMs?: number[];
}

export async function simulate(
  o: SimulationOptions,
): Promise<{ outcomes: PhoneOutcome[]; wallSeconds: number; relayFaults: FaultTotals }> {
  const n = o.phones.length;
  const stage = new Array<PhoneStage>(n).fill('waiting');
  const counts: Record<PhoneStage, number> = {
    waiting: n,
    dhcp: 0,
    script: 0,
    image: 0,
    settings: 0,
    restore: 0,
    backup: 0,
    done: 0,
    failed: 0,
  };
  const move = (i: number, to: PhoneStage) => {
    counts[stage[i]!]--;
    counts[to]++;
    stage[i] = to;
  };
  // Start times: spread evenly over the stagger window, in fleet order (deterministic).
  const offsets =
    o.offsetsMs ?? o.phones.map((_, i) => (o.staggerMs > 0 && n > 1 ? Math.round((o.staggerMs * i) / (n - 1)) : 0));
  const k = Math.max(1, Math.min(o.workers, n, o.dhcp?.kind === 'relay' ? o.dhcp.relays.length : Infinity));
  const startEpochMs = o.startAtEpochMs ?? Date.now() + 300; // every worker is up before the power comes back
  const outcomes: PhoneOutcome[] = [];
  const relayFaults: FaultTotals = { dropped: 0, duplicated: 0, reordered: 0 };
  const byIndex = new Map(o.phones.map((p, i) => [p.index, i]));
  const workers: Promise<void>[] = [];
  for (let w = 0; w < k; w++) {
    const mine = o.phones.map((p, i) => ({ p, i })).filter((_, i) => i % k === w);
    const {
      phones: _p,
      workers: _w,
      staggerMs: _s,
      dhcp,
      onStage: _o,
      startAtEpochMs: _t,
      offsetsMs: _f,
      localAddresses,
      ...common
    } = o;
    const data: SimWorkerData = {
      ...common,
      phones: mine.map((x) => x.p),
      offsetsMs: mine.map((x) => offsets[x.i]!),
      startEpochMs,
      ...(dhcp
        ? { dhcp: dhcp.kind === 'relay' ? { ...dhcp, relays: dhcp.relays.filter((_, r) => r % k === w) } : dhcp }
        : {}),
      ...(localAddresses ? { localAddresses: mine.map((x) => localAddresses[x.i]!) } : {}),
    };
    workers.push(
      new Promise<void>((resolve, reject) => {
        const worker = new Worker(workerFile(), { workerData: data });
        worker.on('message', (m: SimMessage | { type: 'error'; message: string }) => {
          if (m.type === 'phase') move(byIndex.get(m.index)!, m.phase as PhoneStage);
          else if (m.type === 'done') {
            outcomes.push(m.outcome);
            move(byIndex.get(m.outcome.index)!, m.outcome.ok ? 'done' : 'failed');
          } else if (m.type === 'finished') {
            relayFaults.dropped += m.relayFaults.dropped;
            relayFaults.duplicated += m.relayFaults.duplicated;
            relayFaults.reordered += m.relayFaults.reordered;
          } else if (m.type === 'error') reject(new Error(`simulator worker: ${m.message}`));
        });
        worker.on('error', reject);
        worker.on('exit', (code) =>
          code === 0 ? resolve() : reject(new Error(`simulator worker exited with ${code}`)),
        );
      }),
    );
  }
  const ticker = o.onStage ? setInterval(() => o.onStage!({ ...counts }), 200) : undefined;
  try {
    await Promise.all(workers);
  } finally {
    if (ticker) clearInterval(ticker);
    o.onStage?.({ ...counts });
  }
  const wallSeconds = Math.max(0, ...outcomes.map((x) => x.endSeconds));
  outcomes.sort((a, b) => a.index - b.index);
  return { outcomes, wallSeconds, relayFaults };
}
