/**
 * A storm's outcome, summarized from the phones' boot reports. Pure: reports and times in, figures out.
 * `toJson` gives the `--json` shape: {"phones","booted","failed","wallSeconds","bootSeconds":{p50,p95,
 * p99,max},"bytes","retransmits","server",…}.
 */
import type { BootReport, Phase } from '../boot/boot-phone.js';
import { type Percentiles, percentiles, round } from './stats.js';

/** What a worker sends back per phone: the report without its bulky parts. */
export interface PhoneOutcome {
  index: number;
  model: string;
  ok: boolean;
  imageDownloaded: boolean;
  /** Seconds from the storm's start to this phone's end (booted or given up). */
  endSeconds: number;
  /** Seconds from the phone's own start (after its stagger) to its end. */
  bootSeconds: number;
  bytes: number;
  retransmits: number;
  /** Seconds spent per phase, summed over the phase's attempts. */
  phases: Partial<Record<Phase, number>>;
  /** File bytes per protocol (tftp, http, https): shows that `--protocols tftp` kept every phone on TFTP. */
  bytesByProtocol: Record<string, number>;
  /** Datagrams the phone's fault injector dropped, duplicated and held back (`--loss` and the others). */
  faults?: FaultTotals;
  failedIn?: Phase;
  error?: string;
}

export interface FaultTotals {
  dropped: number;
  duplicated: number;
  reordered: number;
}

const addFaults = (a: FaultTotals, b: FaultTotals | undefined): FaultTotals =>
  b
    ? { dropped: a.dropped + b.dropped, duplicated: a.duplicated + b.duplicated, reordered: a.reordered + b.reordered }
    : a;

export function outcomeOf(index: number, r: BootReport, startedAtSeconds: number, endSeconds: number): PhoneOutcome {
  const phases: Partial<Record<Phase, number>> = {};
  const bytesByProtocol: Record<string, number> = {};
  for (const p of r.phases) {
    phases[p.phase] = (phases[p.phase] ?? 0) + p.ms / 1000;
    if (p.phase !== 'dhcp') bytesByProtocol[p.protocol] = (bytesByProtocol[p.protocol] ?? 0) + p.bytes;
  }
  const o: PhoneOutcome = {
    index,
    model: r.model,
    ok: r.ok,
    imageDownloaded: r.imageDownloaded,
    endSeconds,
    bootSeconds: Math.max(0, endSeconds - startedAtSeconds),
    bytes: r.bytes,
    retransmits: r.retransmits,
    phases,
    bytesByProtocol,
  };
  if (r.failedIn) o.failedIn = r.failedIn;
  if (r.error) o.error = r.error;
  return o;
}

export interface StormRun {
  server: string;
  phones: number;
  booted: number;
  failed: number;
  wallSeconds: number;
  bootSeconds: Percentiles;
  bytes: number;
  goodputBytesPerSecond: number;
  retransmits: number;
  bytesByProtocol: Record<string, number>;
  /** Faults injected at the phones' sockets and at the simulator's DHCP relays. */
  faults: FaultTotals;
  imagesDownloaded: number;
  /** Failure reason → phones. */
  failures: Record<string, number>;
  /** Per phase: percentiles of the seconds phones spent in it. */
  phases: Record<string, Percentiles>;
  serverCpuSeconds?: number;
  serverPeakRssBytes?: number;
  /** A site's shaped uplink (`storm --site`): packets its queue sent and dropped. */
  uplink?: { packets: number; dropped: number; overlimits: number };
  simulatorCpuSeconds: number;
  simulatorPeakRssBytes: number;
  /** Per model: phones and boot-time percentiles. */
  models: Record<string, { phones: number; failed: number; bootSeconds: Percentiles }>;
  /** For the report's charts (not in --json). */
  bootTimes: number[];
  phaseSeconds: Record<string, number[]>;
}

/**
 * Failure messages grouped: MACs (also inside per-phone file names), addresses and numbers folded so
 * that alike failures count together.
 * Only whole numbers (and numbers with a unit, `2000ms`) fold: digits inside a name stay, so
 * `46xxupgrade.scr` and `440HD.img` are still readable in the reason.
 */
export function failureKind(o: PhoneOutcome): string {
  const msg = (o.error ?? 'failed')
    .replace(/([0-9a-f]{2}[:-]){5}[0-9a-f]{2}/gi, 'MAC')
    .replace(/(?<![0-9a-f])(?=[a-f]*[0-9])[0-9a-f]{12}(?![0-9a-f])/gi, 'MAC') // in per-phone file names too: SIP<MAC>.cfg
    .replace(/(?<![\w.])[0-9]+(?:\.[0-9]+)*(?=(?:ms|s)?\b)(?!\.\w)/g, 'N');
  return `${o.failedIn ?? 'boot'}: ${msg.slice(0, 160)}`;
}

export function summarize(
  server: string,
  outcomes: readonly PhoneOutcome[],
  wallSeconds: number,
  usage: {
    serverCpuSeconds?: number;
    serverPeakRssBytes?: number;
    simulatorCpuSeconds: number;
    simulatorPeakRssBytes: number;
    relayFaults?: FaultTotals;
  },
): StormRun {
  const booted = outcomes.filter((o) => o.ok);
  const failures: Record<string, number> = {};
  for (const o of outcomes) if (!o.ok) failures[failureKind(o)] = (failures[failureKind(o)] ?? 0) + 1;
  const phaseSeconds: Record<string, number[]> = {};
  for (const o of outcomes) for (const [p, s] of Object.entries(o.phases)) (phaseSeconds[p] ??= []).push(s);
  const bytes = outcomes.reduce((n, o) => n + o.bytes, 0);
  const bytesByProtocol: Record<string, number> = {};
  for (const o of outcomes)
    for (const [p, b] of Object.entries(o.bytesByProtocol)) bytesByProtocol[p] = (bytesByProtocol[p] ?? 0) + b;
  const faults = outcomes.reduce(
    (t, o) => addFaults(t, o.faults),
    addFaults({ dropped: 0, duplicated: 0, reordered: 0 }, usage.relayFaults),
  );
  const models: StormRun['models'] = {};
  for (const name of [...new Set(outcomes.map((o) => o.model))]) {
    const of = outcomes.filter((o) => o.model === name);
    models[name] = {
      phones: of.length,
      failed: of.filter((o) => !o.ok).length,
      bootSeconds: percentiles(of.filter((o) => o.ok).map((o) => o.bootSeconds)),
    };
  }
  const run: StormRun = {
    server,
    phones: outcomes.length,
    booted: booted.length,
    failed: outcomes.length - booted.length,
    wallSeconds: round(wallSeconds),
    bootSeconds: percentiles(booted.map((o) => o.bootSeconds)),
    bytes,
    goodputBytesPerSecond: wallSeconds > 0 ? Math.round(bytes / wallSeconds) : 0,
    retransmits: outcomes.reduce((n, o) => n + o.retransmits, 0),
    bytesByProtocol,
    faults,
    imagesDownloaded: outcomes.filter((o) => o.imageDownloaded).length,
    failures,
    phases: Object.fromEntries(Object.entries(phaseSeconds).map(([p, v]) => [p, percentiles(v)])),
    simulatorCpuSeconds: round(usage.simulatorCpuSeconds),
    simulatorPeakRssBytes: usage.simulatorPeakRssBytes,
    models,
    bootTimes: booted.map((o) => o.endSeconds),
    phaseSeconds,
  };
  if (usage.serverCpuSeconds !== undefined) run.serverCpuSeconds = round(usage.serverCpuSeconds);
  if (usage.serverPeakRssBytes !== undefined) run.serverPeakRssBytes = usage.serverPeakRssBytes;
  for (const k of ['p50', 'p95', 'p99', 'max'] as const) run.bootSeconds[k] = round(run.bootSeconds[k]);
  return run;
}

/** The --json object of one run: the fields first. */
export function toJson(r: StormRun): Record<string, unknown> {
  const { bootTimes: _t, phaseSeconds: _p, ...rest } = r;
  const roundP = (p: Percentiles) => ({ p50: round(p.p50), p95: round(p.p95), p99: round(p.p99), max: round(p.max) });
  return {
    phones: rest.phones,
    booted: rest.booted,
    failed: rest.failed,
    wallSeconds: rest.wallSeconds,
    bootSeconds: rest.bootSeconds,
    bytes: rest.bytes,
    retransmits: rest.retransmits,
    server: rest.server,
    goodputBytesPerSecond: rest.goodputBytesPerSecond,
    bytesByProtocol: rest.bytesByProtocol,
    faults: rest.faults,
    imagesDownloaded: rest.imagesDownloaded,
    failures: rest.failures,
    phases: Object.fromEntries(Object.entries(rest.phases).map(([k, v]) => [k, roundP(v)])),
    models: Object.fromEntries(
      Object.entries(rest.models).map(([k, v]) => [k, { ...v, bootSeconds: roundP(v.bootSeconds) }]),
    ),
    ...(rest.serverCpuSeconds !== undefined ? { serverCpuSeconds: rest.serverCpuSeconds } : {}),
    ...(rest.serverPeakRssBytes !== undefined ? { serverPeakRssBytes: rest.serverPeakRssBytes } : {}),
    simulatorCpuSeconds: rest.simulatorCpuSeconds,
    simulatorPeakRssBytes: rest.simulatorPeakRssBytes,
    ...(rest.uplink ? { uplink: rest.uplink } : {}),
  };
}

/**
 * Runs every server `rounds` times, the order reversed every other round (so that neither goes first
 * on a cold or a warm machine), and keeps each server's median round by wall time.
 */
export async function alternateRounds(
  names: readonly string[],
  rounds: number,
  run: (name: string, round: number) => Promise<StormRun>,
): Promise<StormRun[]> {
  const runs: StormRun[][] = names.map(() => []);
  const order = names.map((_, i) => i);
  for (let round = 0; round < rounds; round++) {
    for (const i of round % 2 === 0 ? order : [...order].reverse()) runs[i]?.push(await run(names[i] ?? '', round));
  }
  return runs
    .map((r) => [...r].sort((a, b) => a.wallSeconds - b.wallSeconds)[Math.floor((r.length - 1) / 2)])
    .filter((r): r is StormRun => r !== undefined);
}
