/**
 * TFTP replay, the pure part: what each recorded conversation should replay as (the request to send,
 * the bytes or ERROR code expected, the options our policy grants), where the rebuilt files go in the
 * built-in server's root, and the verdict on what actually came back.
 */
import { createHash } from 'node:crypto';
import { negotiate, type OptionPolicy } from '@bootwire/tftp';
import { netasciiEncodedLength } from '@bootwire/tftp';
import { BLKSIZE_MAX, type KnownOptions, Opcode, type RequestPacket, type TftpOption } from '@bootwire/tftp';
import type { RecordedTransfer } from './files-from-capture.js';
import { type Outcome, shortHash } from './report.js';

/** The built-in server's option policy during a replay (the `serve` defaults). */
export const BUILTIN_POLICY: OptionPolicy = { maxBlksize: BLKSIZE_MAX, maxWindowsize: 64 };

/** The request to send, as the TFTP client takes it. */
export interface ReplayRequest {
  readonly filename: string;
  readonly mode: 'octet' | 'netascii';
  readonly blksize?: number;
  readonly windowsize?: number;
  readonly timeout?: number;
  readonly tsize: boolean;
  /** Recorded options the client cannot send (unknown to it), as `name=value`. */
  readonly notReplayed: readonly string[];
}

export interface Negotiation {
  readonly blksize: number;
  readonly windowsize: number;
  readonly tsize?: number;
}

export type TftpPlan =
  | { readonly kind: 'skip'; readonly reason: string }
  | {
      readonly kind: 'read';
      readonly request: ReplayRequest;
      readonly file: Buffer;
      readonly sha256: string;
      /** What our policy grants, when the server is the built-in one. */
      readonly expect?: Negotiation;
    }
  | {
      readonly kind: 'write';
      readonly request: ReplayRequest;
      readonly file: Buffer;
      readonly sha256: string;
      readonly expect?: Negotiation;
    }
  | {
      readonly kind: 'error';
      readonly direction: 'read' | 'write';
      readonly request: ReplayRequest;
      readonly code: number;
      readonly message: string;
    };

export interface PlannedTransfer {
  readonly transfer: RecordedTransfer;
  readonly what: string;
  readonly plan: TftpPlan;
}

export interface TftpPlanSet {
  readonly planned: PlannedTransfer[];
  /** Files to put in the built-in server's root: path segments below the root, and the bytes. */
  readonly files: { readonly segments: string[]; readonly bytes: Buffer }[];
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** `#3 RRQ "46xxupgrade.scr" from 10.0.0.5:2001` */
export function describeTransfer(t: RecordedTransfer): string {
  const c = t.conversation;
  return `#${c.id} ${c.kind === 'read' ? 'RRQ' : 'WRQ'} ${JSON.stringify(c.filename)} from ${c.client}`;
}

/** The options the replayed request carries: the recorded ones the client knows, with their values. */
export function replayRequest(req: RequestPacket): ReplayRequest | { unsupported: string } {
  if (req.mode === 'mail') return { unsupported: 'mail mode (obsolete, RFC 1350) is not replayed' };
  const k = req.known;
  const seen = new Set<string>();
  const notReplayed: string[] = [];
  for (const o of req.options) {
    if (seen.has(o.key)) continue;
    seen.add(o.key);
    if (!['blksize', 'windowsize', 'timeout', 'tsize'].includes(o.key)) notReplayed.push(`${o.name}=${o.value}`);
  }
  return {
    filename: req.filename,
    mode: req.mode,
    ...(k.blksize !== undefined ? { blksize: k.blksize } : {}),
    ...(k.windowsize !== undefined ? { windowsize: k.windowsize } : {}),
    ...(k.timeout !== undefined ? { timeout: k.timeout } : {}),
    tsize: k.tsize !== undefined,
    notReplayed,
  };
}

/** The request our client sends, as the server decodes it: the input to our own negotiation. */
function sentRequest(kind: 'read' | 'write', r: ReplayRequest, size: number): RequestPacket {
  const options: TftpOption[] = [];
  const known: KnownOptions = {};
  const add = (key: 'blksize' | 'windowsize' | 'timeout' | 'tsize', value: number | undefined) => {
    if (value === undefined) return;
    options.push({ name: key, key, value: String(value) });
    known[key] = value;
  };
  add('blksize', r.blksize);
  add('windowsize', r.windowsize);
  add('timeout', r.timeout);
  add('tsize', r.tsize ? (kind === 'read' ? 0 : size) : undefined);
  return { opcode: kind === 'read' ? Opcode.RRQ : Opcode.WRQ, filename: r.filename, mode: r.mode, options, known };
}

/** What the policy grants the replayed request for a file of `file.length` bytes. */
export function expectedNegotiation(
  kind: 'read' | 'write',
  r: ReplayRequest,
  file: Buffer,
  policy: OptionPolicy,
): Negotiation {
  const size = r.mode === 'netascii' ? netasciiEncodedLength(file) : file.length;
  const n = negotiate(sentRequest(kind, r, size), policy, size);
  return { blksize: n.blksize, windowsize: n.windowsize, ...(n.tsize !== undefined ? { tsize: n.tsize } : {}) };
}

/** Where a file name lands below a root, by the server's rules (src/files/root.ts); a reason when it cannot. */
export function placeInRoot(name: string): { ok: true; segments: string[] } | { ok: false; reason: string } {
  if (name.includes('\0')) return { ok: false, reason: 'its name contains NUL' };
  if (name.split(/[/\\]/).includes('..')) return { ok: false, reason: 'its name leaves the root (..)' };
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0) return { ok: false, reason: 'its name names no file' };
  return { ok: true, segments };
}

/**
 * Plans every recorded transfer. With `policy` (the built-in server), also decides which files its root
 * holds and what negotiation to expect; without it (another server), the server is expected to hold the
 * same files already.
 */
export function planTftp(transfers: readonly RecordedTransfer[], policy?: OptionPolicy): TftpPlanSet {
  const files: { segments: string[]; bytes: Buffer }[] = [];
  const placed = new Map<string, { bytes: Buffer; id: number }>(); // joined path -> file
  const planned: PlannedTransfer[] = [];
  for (const t of transfers) {
    const what = describeTransfer(t);
    planned.push({ transfer: t, what, plan: planOne(t, policy, (bytes) => place(t, bytes)) });
  }
  return { planned, files };

  /** Puts a read transfer's file in the root; a reason when it cannot go there. */
  function place(t: RecordedTransfer, bytes: Buffer): string | undefined {
    const p = placeInRoot(t.conversation.filename);
    if (!p.ok) return `the file cannot be served from a root: ${p.reason}`;
    const key = p.segments.join('/');
    const same = placed.get(key);
    if (same)
      return same.bytes.equals(bytes)
        ? undefined
        : `the file changed during the capture (conversation #${same.id} got other bytes)`;
    for (const other of placed.keys()) {
      if (other.startsWith(`${key}/`) || key.startsWith(`${other}/`))
        return `the file cannot be served next to ${JSON.stringify(other)} (a file and a directory of one name)`;
    }
    placed.set(key, { bytes, id: t.conversation.id });
    files.push({ segments: p.segments, bytes });
    return undefined;
  }
}

function planOne(
  t: RecordedTransfer,
  policy: OptionPolicy | undefined,
  place: (bytes: Buffer) => string | undefined,
): TftpPlan {
  if (t.requestError)
    return {
      kind: 'skip',
      reason: `the request does not decode (${t.requestError}), so it cannot be sent as recorded`,
    };
  const r = replayRequest(t.request);
  if ('unsupported' in r) return { kind: 'skip', reason: r.unsupported };
  switch (t.status) {
    case 'unanswered':
      return { kind: 'skip', reason: 'no answer in the capture' };
    case 'incomplete':
      return { kind: 'skip', reason: `incomplete (${t.damage.join('; ')})` };
    case 'refused': {
      const e = t.error!;
      if (e.by === 'client')
        return { kind: 'skip', reason: `the recorded client gave up: ERROR ${e.code} ${JSON.stringify(e.message)}` };
      if (policy && e.code === 8) {
        return {
          kind: 'skip',
          reason:
            `the recorded server refused the options (ERROR 8 ${JSON.stringify(e.message)}); bootwire's ` +
            `policy accepts them`,
        };
      }
      return { kind: 'error', direction: t.conversation.kind, request: r, code: e.code, message: e.message };
    }
    case 'complete': {
      const file = t.file!;
      const base = {
        request: r,
        file,
        sha256: sha256(file),
        ...(policy ? { expect: expectedNegotiation(t.conversation.kind, r, file, policy) } : {}),
      };
      if (t.conversation.kind === 'write') return { kind: 'write', ...base };
      if (policy) {
        const why = place(file);
        if (why) return { kind: 'skip', reason: why };
      }
      return { kind: 'read', ...base };
    }
  }
}

/** What came back from the replayed request. */
export type TftpActual =
  | {
      readonly ok: true;
      /** read: the bytes received; write: the bytes the server stored, when they can be read back. */
      readonly bytes?: Buffer;
      readonly blksize: number;
      readonly windowsize: number;
      readonly tsize?: number;
    }
  | { readonly ok: false; readonly code: number; readonly message: string; readonly by: 'peer' | 'local' };

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

/** Index of the first differing byte (or the shorter length). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function showError(a: Extract<TftpActual, { ok: false }>): string {
  return a.by === 'peer' ? `ERROR ${a.code} ${JSON.stringify(a.message)}` : `no transfer (${a.message})`;
}

function negotiationText(n: Negotiation): string {
  return [
    `blksize ${n.blksize}`,
    ...(n.windowsize !== 1 ? [`windowsize ${n.windowsize}`] : []),
    ...(n.tsize !== undefined ? [`tsize ${n.tsize}`] : []),
  ].join(', ');
}

/** How the recorded server's answer to the options differs from what we got: notes, never differences. */
export function negotiationNotes(t: RecordedTransfer, r: ReplayRequest, got: Negotiation): string[] {
  const notes: string[] = [];
  if (r.notReplayed.length) notes.push(`not replayed: ${r.notReplayed.join(' ')}`);
  const asked = r.blksize !== undefined || r.windowsize !== undefined || r.timeout !== undefined || r.tsize;
  if (!asked) return notes;
  if (!t.oack) {
    notes.push(
      `the recorded server ignored the options` +
        `${got.blksize !== 512 || got.windowsize !== 1 ? `; now ${negotiationText(got)}` : ''}`,
    );
    return notes;
  }
  const rec = new Map(t.oack.map((o) => [o.key, o.value]));
  const cmp = (key: 'blksize' | 'windowsize', now: number, dflt: number) => {
    const was = rec.get(key);
    const wasN = was === undefined ? dflt : Number(was);
    if (wasN !== now)
      notes.push(`${key} ${now}, the recorded server gave ${was === undefined ? `none (${dflt})` : was}`);
  };
  if (r.blksize !== undefined) cmp('blksize', got.blksize, 512);
  if (r.windowsize !== undefined) cmp('windowsize', got.windowsize, 1);
  if (r.tsize && t.conversation.kind === 'read' && !rec.has('tsize') && got.tsize !== undefined)
    notes.push(`tsize ${got.tsize}, the recorded server gave none`);
  return notes;
}

/** The verdict on one replayed conversation. */
export function judgeTftp(p: PlannedTransfer, actual: TftpActual | undefined): Outcome {
  const base = { proto: 'tftp' as const, what: p.what };
  const plan = p.plan;
  if (plan.kind === 'skip') return { ...base, verdict: 'skipped', detail: plan.reason };
  if (!actual) return { ...base, verdict: 'different', detail: 'not replayed' };
  if (plan.kind === 'error') {
    const recorded = `ERROR ${plan.code} ${JSON.stringify(plan.message)}`;
    if (actual.ok)
      return {
        ...base,
        verdict: 'different',
        detail: `the ${plan.direction === 'read' ? 'download' : 'upload'} was accepted, recorded ${recorded}`,
      };
    if (actual.by !== 'peer' || actual.code !== plan.code)
      return { ...base, verdict: 'different', detail: `got ${showError(actual)}, recorded ${recorded}` };
    return {
      ...base,
      verdict: 'ok',
      detail: `ERROR ${actual.code} as recorded`,
      ...(actual.message !== plan.message ? { notes: [`message ${JSON.stringify(actual.message)}`] } : {}),
    };
  }
  const size = `${plural(plan.file.length, 'byte')}`;
  if (!actual.ok)
    return {
      ...base,
      verdict: 'different',
      detail: `got ${showError(actual)}, recorded a ${plan.kind === 'read' ? 'download' : 'upload'} of ${size}`,
    };
  const got: Negotiation = {
    blksize: actual.blksize,
    windowsize: actual.windowsize,
    ...(actual.tsize !== undefined ? { tsize: actual.tsize } : {}),
  };
  if (actual.bytes) {
    const h = sha256(actual.bytes);
    if (h !== plan.sha256) {
      const at = firstDifference(actual.bytes, plan.file);
      const what = plan.kind === 'read' ? 'received' : 'stored';
      return {
        ...base,
        verdict: 'different',
        detail:
          `bytes differ from byte ${at}: ${what} ${plural(actual.bytes.length, 'byte')} sha256 ` +
          `${shortHash(h)}, recorded ${size} sha256 ${shortHash(plan.sha256)}`,
      };
    }
  }
  if (plan.expect) {
    const e = plan.expect;
    // The upload client does not report the tsize the server echoed.
    const keys =
      plan.kind === 'read' ? (['blksize', 'windowsize', 'tsize'] as const) : (['blksize', 'windowsize'] as const);
    for (const key of keys) {
      if (got[key] !== e[key]) {
        return {
          ...base,
          verdict: 'different',
          detail: `negotiated ${key} ${got[key] ?? 'none'}, bootwire's policy grants ${e[key] ?? 'none'}`,
        };
      }
    }
  }
  const checked = actual.bytes
    ? `${size}, sha256 ${shortHash(plan.sha256)}`
    : `${size} uploaded (stored bytes not checked)`;
  const notes = negotiationNotes(p.transfer, plan.request, got);
  return { ...base, verdict: 'ok', detail: `${checked}; ${negotiationText(got)}`, ...(notes.length ? { notes } : {}) };
}
