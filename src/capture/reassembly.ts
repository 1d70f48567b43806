/**
 * IP fragment reassembly for IPv4 (key: src, dst, ID, protocol) and IPv6 (key: src, dst, ID of the
 * Fragment header), in capture time.
 *
 * Fragments may come in any order and be duplicated. A set completes when the last fragment (More
 * Fragments clear) has fixed the length and the pieces cover it without a hole; only then are the pieces
 * (views of the capture) copied into one buffer. The table is bounded: a set older than its timeout (in
 * capture time), the oldest sets past `maxSets`, and the oldest past `maxBytes` of buffered fragments are
 * dropped with a warning, as are the sets still open at the end of the capture.
 */

export interface FragmentLimits {
  /** Seconds of capture time a set may stay incomplete: IPv4 default 30 (Linux ipfrag_time), IPv6 60 (RFC 8200). */
  readonly timeoutSec?: number;
  /** Open sets at once (default 1024). */
  readonly maxSets?: number;
  /** Fragment bytes held in open sets (default 16 MiB). */
  readonly maxBytes?: number;
}

export interface Fragment {
  readonly key: string;
  /** For warnings, e.g. "IPv4 10.0.0.1 > 10.0.0.2 id 0x1c46". */
  readonly label: () => string;
  readonly ipVersion: 4 | 6;
  readonly offset: number;
  readonly data: Buffer;
  readonly more: boolean;
  readonly frame: number;
  readonly timeNs: bigint;
  /** IPv4: the protocol. IPv6: the Fragment header's next header (only meaningful at offset 0). */
  readonly next: number;
}

export interface Reassembled {
  readonly data: Buffer;
  /** The protocol of the reassembled payload (IPv6: the first fragment's next header). */
  readonly next: number;
  /** Record numbers of the fragments in offset order. */
  readonly fragments: number[];
}

interface Part {
  readonly offset: number;
  readonly data: Buffer;
  readonly frame: number;
}

interface FragmentSet {
  readonly key: string;
  readonly label: () => string;
  readonly deadlineNs: bigint;
  readonly parts: Part[];
  total: number | undefined;
  next: number | undefined;
  bytes: number;
  /** An IPv6 set whose first fragment shows a protocol that is never UDP: later pieces are dropped silently. */
  ignored: boolean;
}

const MAX_DATAGRAM = 65535;
// IPv6 protocols after a Fragment header that cannot lead to UDP: TCP, ICMPv6, ESP, no next header.
const NEVER_UDP = new Set([6, 58, 50, 59]);

export class Reassembler {
  private readonly sets = new Map<string, FragmentSet>(); // in creation order: the oldest first
  private bytes = 0;
  private readonly timeoutNs: { 4: bigint; 6: bigint };
  private readonly maxSets: number;
  private readonly maxBytes: number;

  constructor(
    limits: FragmentLimits,
    private readonly warn: (message: string) => void,
  ) {
    const t = (def: number) => BigInt(Math.round((limits.timeoutSec ?? def) * 1e9));
    this.timeoutNs = { 4: t(30), 6: t(60) };
    this.maxSets = limits.maxSets ?? 1024;
    this.maxBytes = limits.maxBytes ?? 16 * 1024 * 1024;
  }

  get size(): number {
    return this.sets.size;
  }

  /** Adds a fragment; returns the datagram when this fragment completes its set. */
  add(f: Fragment): Reassembled | undefined {
    const end = f.offset + f.data.length;
    const where = `frame ${f.frame}: ${f.label()} fragment at ${f.offset}`;
    if (f.more && f.data.length % 8 !== 0) {
      this.warn(`${where}: ${f.data.length} bytes, not a multiple of 8 before the last fragment: dropped`);
      return undefined;
    }
    if (end > MAX_DATAGRAM) {
      this.warn(`${where}: ends at ${end}, past the largest datagram (${MAX_DATAGRAM}): dropped`);
      return undefined;
    }
    let set = this.sets.get(f.key);
    if (!set) {
      while (this.sets.size >= this.maxSets) this.evictOldest(`more than ${this.maxSets} open fragment sets`);
      set = {
        key: f.key,
        label: f.label,
        deadlineNs: f.timeNs + this.timeoutNs[f.ipVersion],
        parts: [],
        total: undefined,
        next: undefined,
        bytes: 0,
        ignored: false,
      };
      this.sets.set(f.key, set);
    }
    if (set.ignored) return undefined;
    if (!f.more) {
      if (set.total !== undefined && set.total !== end) {
        this.drop(set, `last fragments disagree on the length (${set.total}, and ${end} in frame ${f.frame})`);
        return undefined;
      }
      set.total = end;
    }
    if (set.total !== undefined && (end > set.total || set.parts.some((p) => p.offset + p.data.length > (set.total ?? 0)))) {
      this.drop(set, `fragment data past the datagram's end (${set.total}) in frame ${f.frame}`);
      return undefined;
    }
    if (set.parts.some((p) => p.offset === f.offset && p.data.length === f.data.length)) return undefined; // a duplicate
    if (f.offset === 0) set.next = f.next;
    if (f.ipVersion === 6 && set.next !== undefined && NEVER_UDP.has(set.next)) {
      this.release(set);
      set.parts.length = 0;
      set.ignored = true;
      return undefined;
    }
    set.parts.push({ offset: f.offset, data: f.data, frame: f.frame });
    set.bytes += f.data.length;
    this.bytes += f.data.length;
    const done = this.complete(set, f.frame);
    if (done) return done;
    while (this.bytes > this.maxBytes && this.sets.size > 0) this.evictOldest(`more than ${this.maxBytes} bytes of fragments held`);
    return undefined;
  }

  /** Drops the sets whose deadline has passed at `nowNs` (capture time). */
  expire(nowNs: bigint): void {
    for (const set of this.sets.values()) {
      if (set.deadlineNs >= nowNs) break; // creation order is near enough to deadline order
      this.drop(set, 'incomplete after the reassembly timeout');
    }
  }

  /** Drops every open set: the capture has ended. */
  finish(): void {
    for (const set of [...this.sets.values()]) this.drop(set, 'incomplete at the end of the capture');
  }

  private complete(set: FragmentSet, frame: number): Reassembled | undefined {
    if (set.total === undefined || set.next === undefined) return undefined;
    const parts = [...set.parts].sort((a, b) => a.offset - b.offset);
    let covered = 0;
    let overlap = false;
    for (const p of parts) {
      if (p.offset > covered) return undefined; // a hole
      if (p.offset < covered) overlap = true;
      covered = Math.max(covered, p.offset + p.data.length);
    }
    if (covered < set.total) return undefined;
    const data = Buffer.allocUnsafe(set.total);
    for (const p of parts) p.data.copy(data, p.offset); // overlapping bytes: the later offset's copy wins
    if (overlap) this.warn(`frame ${frame}: ${set.label()}: overlapping fragments`);
    this.release(set);
    this.sets.delete(set.key);
    return { data, next: set.next, fragments: parts.map((p) => p.frame) };
  }

  private evictOldest(reason: string): void {
    const oldest = this.sets.values().next();
    if (!oldest.done) this.drop(oldest.value, `dropped, ${reason}`);
  }

  private drop(set: FragmentSet, message: string): void {
    this.release(set);
    this.sets.delete(set.key);
    if (set.ignored) return;
    const frames = set.parts.map((p) => p.frame);
    const have = set.parts.reduce((n, p) => n + p.data.length, 0);
    const prefix = frames.length === 0 ? '' : `frame${frames.length > 1 ? 's' : ''} ${frames.join(', ')}: `;
    this.warn(`${prefix}${set.label()}: ${message} (${have} of ${set.total ?? '?'} bytes): not reassembled`);
  }

  private release(set: FragmentSet): void {
    this.bytes -= set.bytes;
    set.bytes = 0;
  }
}
