/**
 * What a boot reports: one record per attempt at each phase (DHCP, each file from each server,
 * restore and backup), timed from the start of the boot, and the report that sums them up. The
 * shapes are those `bootwire boot --json` prints and the storm collects.
 */

export type Phase = 'dhcp' | 'script' | 'image' | 'settings' | 'restore' | 'backup';

export interface PhaseRecord {
  phase: Phase;
  /** File name (or, for DHCP, the address leased). */
  file: string;
  protocol: string;
  bytes: number;
  ms: number;
  ok: boolean;
  /** Milliseconds from the start of the boot. */
  at: number;
  /** The file is optional and no server had it: the phone went on without it. */
  skipped?: boolean;
  retransmits: number;
  url?: string;
  error?: string;
}

export interface BootReport {
  model: string;
  mac: string;
  ok: boolean;
  imageDownloaded: boolean;
  /** Why the image was or was not downloaded. */
  imageDecision?: string;
  phases: PhaseRecord[];
  error?: string;
  /** Milliseconds, start to end. */
  ms: number;
  address?: string;
  retransmits: number;
  bytes: number;
  /** The phase the boot failed in. */
  failedIn?: Phase;
}

/** How a step of the boot ended: on, or failed in a phase with the report's error message. */
export type StepResult = { ok: true } | { ok: false; phase: Phase; error: string };

export const DONE: StepResult = { ok: true };

export const failed = (phase: Phase, error: string): StepResult => ({ ok: false, phase, error });

/** Milliseconds with one decimal, as every time in a report. */
export const round = (n: number): number => Math.round(n * 10) / 10;

/** The boot's timeline as it happens: records in order, each phase announced as it starts. */
export class PhaseRecorder {
  readonly records: PhaseRecord[] = [];

  constructor(
    /** performance.now() at the start of the boot. */
    readonly started: number,
    private readonly onPhase?: (phase: Phase) => void,
  ) {}

  /** A phase starts (the storm's live display hears of it). */
  begin(phase: Phase): void {
    this.onPhase?.(phase);
  }

  /** Milliseconds from the boot's start to `t0` (a performance.now() time). */
  at(t0: number): number {
    return round(t0 - this.started);
  }

  add(rec: PhaseRecord): PhaseRecord {
    this.records.push(rec);
    return rec;
  }

  /** The latest record, if any. */
  last(): PhaseRecord | undefined {
    return this.records[this.records.length - 1];
  }

  /** Marks the last attempt at an optional file, which its server did not have, as skipped (not a failure). */
  skipNotFound(file: string): void {
    const last = this.last();
    if (last && last.file === file && !last.ok) last.skipped = true;
  }
}
