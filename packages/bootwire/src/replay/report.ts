/**
 * What a replay found, per conversation, and how it is printed: one line per conversation (`ok`,
 * `skipped: why`, or the first difference), then a summary. Pure.
 */

export type Verdict = 'ok' | 'skipped' | 'different';

export interface Outcome {
  readonly proto: 'tftp' | 'dhcp';
  /** The conversation, e.g. `#3 RRQ "46xxupgrade.scr" from 10.0.0.5:2001`. */
  readonly what: string;
  readonly verdict: Verdict;
  /** ok: what was checked; skipped: why; different: the first difference. */
  readonly detail: string;
  /** Things worth knowing that are not differences (e.g. how the recorded server negotiated). */
  readonly notes?: readonly string[];
}

export interface ReplayReport {
  readonly capture: string;
  readonly outcomes: readonly Outcome[];
  /** Damage to the capture and doubtful packets, as the reader and decoder reported them. */
  readonly warnings: readonly string[];
  /** How the replay was set up (e.g. the DHCP configuration made from the replies). */
  readonly notes?: readonly string[];
  /** Set when the capture could not be read at all (nothing before the damage). */
  readonly unreadable?: string;
}

const LABEL: Record<Verdict, string> = { ok: 'ok', skipped: 'skipped', different: 'DIFFERENT' };

export function formatOutcome(o: Outcome): string {
  const head =
    `${LABEL[o.verdict].padEnd(9)} ${o.proto} ${o.what}: ` +
    `${o.verdict === 'skipped' ? `skipped: ${o.detail}` : o.detail}`;
  return o.notes?.length ? `${head} (${o.notes.join('; ')})` : head;
}

export interface Summary {
  readonly ok: number;
  readonly skipped: number;
  readonly different: number;
  readonly line: string;
  /** 0 when nothing differs, 1 otherwise. */
  readonly exitCode: 0 | 1;
}

export function summarize(r: ReplayReport): Summary {
  const n = (v: Verdict) => r.outcomes.filter((o) => o.verdict === v).length;
  const [ok, skipped, different] = [n('ok'), n('skipped'), n('different')];
  const total = r.outcomes.length;
  const damage = r.warnings.length ? `; ${r.warnings.length} capture warning${r.warnings.length === 1 ? '' : 's'}` : '';
  if (r.unreadable)
    return {
      ok,
      skipped,
      different,
      line: `replay ${r.capture}: cannot read the capture: ${r.unreadable}`,
      exitCode: 1,
    };
  const line =
    total === 0
      ? `replay ${r.capture}: no TFTP or DHCP conversation to replay${damage}`
      : `replay ${r.capture}: ${total} conversation${total === 1 ? '' : 's'}: ${ok} ok, ${skipped}` +
        ` skipped, ${different} different${damage}`;
  return { ok, skipped, different, line, exitCode: different > 0 ? 1 : 0 };
}

/** Every line to print: warnings first (prefixed), then one per conversation, then the summary. */
export function formatReport(r: ReplayReport): string[] {
  return [
    ...r.warnings.map((w) => `warning: ${w}`),
    ...(r.notes ?? []).map((n) => `note: ${n}`),
    ...r.outcomes.map(formatOutcome),
    summarize(r).line,
  ];
}

/** Short hex of a digest for messages. */
export const shortHash = (hex: string): string => hex.slice(0, 16);
