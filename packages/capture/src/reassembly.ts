/**
 * IP fragment reassembly for IPv4 (key: src, dst, ID, protocol) and IPv6 (key: src, dst, ID of the
 * Fragment header), in capture time.
 *
 * Fragments may come in any order, be duplicated and overlap. A set completes when the last fragment
 * (More Fragments clear) has fixed the length and the pieces cover it without a hole; only then are the
 * pieces (views of the capture) sorted by offset and copied into one buffer, later offsets over earlier
 * ones where they overlap. Coverage is kept as a bitmap of 8-byte units (fragment offsets count in
 * them), so each fragment costs work in proportion to its length: a capture is reassembled in linear
 * time, however its fragments overlap.
 *
 * Everything is bounded: a set older than its timeout (in capture time), the oldest sets past `maxSets`
 * and past `maxBytes` of buffered fragments are dropped with a warning, as are the sets still open at
 * the end of the capture. One datagram holds at most `maxFragments` pieces and MAX_SET_BYTES bytes (a
 * real one, however fragmented, holds at most 65,535 bytes without overlap); past either it is dropped
 * with one warning, and the rest of its fragments until its timeout are dropped silently (counted).
 */

export interface FragmentLimits {
  /** Seconds of capture time a set may stay incomplete: IPv4 default 30 (Linux ipfrag_time), IPv6 60 (RFC 8200). */
  readonly timeoutSec?: number;
  /** Open sets at once (default 1024). */
  readonly maxSets?: number;
  /** Fragment bytes held in open sets (default 16 MiB). */
  readonly maxBytes?: number;
  /** Distinct fragments of one datagram (default 256: a 65,535-byte datagram over a 296-byte MTU). */
  readonly maxFragments?: number;
}

/** What became of the fragmented datagrams of a capture. */
export interface FragmentStats {
  /** Datagrams reassembled. */
  reassembled: number;
  /** Datagrams not reassembled, for any reason (each has a warning). */
  dropped: number;
  /** Of those, the ones dropped by a bound: maxSets, maxBytes, maxFragments or MAX_SET_BYTES. */
  droppedByLimits: number;
  /** Fragments of a datagram already dropped by a bound, dropped with no warning of their own. */
  fragmentsIgnored: number;
  /** The most fragment bytes held at once. */
  peakBytes: number;
}

export const DEFAULT_MAX_FRAGMENTS = 256;
/** Bytes one set may hold: twice the largest datagram, room for retransmitted pieces, not for a flood. */
export const MAX_SET_BYTES = 2 * 65535;

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
  /** In arrival order. */
  readonly parts: Part[];
  /** One bit per 8-byte unit of the datagram (65535 bytes: 8192 units). Recycled when the set goes. */
  readonly units: Uint32Array;
  coveredUnits: number;
  /** Where the furthest part held ends. */
  maxEnd: number;
  overlap: boolean;
  total: number | undefined;
  next: number | undefined;
  bytes: number;
  /**
   * Later pieces are dropped silently: an IPv6 set whose first fragment shows a protocol that is never
   * UDP ('other'), or a set already dropped by a bound ('bounded', counted in fragmentsIgnored).
   */
  ignored: 'other' | 'bounded' | undefined;
}

const MAX_DATAGRAM = 65535;
const UNIT_WORDS = Math.ceil(Math.ceil(MAX_DATAGRAM / 8) / 32);
// IPv6 protocols after a Fragment header that cannot lead to UDP: TCP, ICMPv6, ESP, no next header.
const NEVER_UDP = new Set([6, 58, 50, 59]);
/** Set bits of a 32-bit word. */
function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** Frames named in one warning; past it, a count. */
const FRAMES_LISTED = 16;

export class Reassembler {
  private readonly sets = new Map<string, FragmentSet>(); // in creation order: the oldest first
  private bytes = 0;
  private readonly timeoutNs: { 4: bigint; 6: bigint };
  private readonly maxSets: number;
  private readonly maxBytes: number;
  private readonly maxFragments: number;
  /** Bitmaps of sets that have gone, zeroed for the next ones (sets come and go at packet rate). */
  private readonly spare: Uint32Array[] = [];
  readonly stats: FragmentStats = { reassembled: 0, dropped: 0, droppedByLimits: 0, fragmentsIgnored: 0, peakBytes: 0 };

  constructor(
    limits: FragmentLimits,
    private readonly warn: (message: string) => void,
  ) {
    const t = (def: number) => BigInt(Math.round((limits.timeoutSec ?? def) * 1e9));
    this.timeoutNs = { 4: t(30), 6: t(60) };
    this.maxSets = limits.maxSets ?? 1024;
    this.maxBytes = limits.maxBytes ?? 16 * 1024 * 1024;
    this.maxFragments = limits.maxFragments ?? DEFAULT_MAX_FRAGMENTS;
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
        units: this.spare.pop() ?? new Uint32Array(UNIT_WORDS),
        coveredUnits: 0,
        maxEnd: 0,
        overlap: false,
        total: undefined,
        next: undefined,
        bytes: 0,
        ignored: undefined,
      };
      this.sets.set(f.key, set);
    }
    if (set.ignored) {
      if (set.ignored === 'bounded') this.stats.fragmentsIgnored++;
      return undefined;
    }
    if (!f.more) {
      if (set.total !== undefined && set.total !== end) {
        this.drop(set, `last fragments disagree on the length (${set.total}, and ${end} in frame ${f.frame})`);
        return undefined;
      }
      set.total = end;
    }
    if (set.total !== undefined && Math.max(end, set.maxEnd) > set.total) {
      this.drop(set, `fragment data past the datagram's end (${set.total}) in frame ${f.frame}`);
      return undefined;
    }
    // A copy of a piece held covers no unit for the first time, so only then are the pieces searched
    // (at most maxFragments of them).
    const overlapBefore = set.overlap;
    if (
      this.cover(set, f.offset, end) === 0 &&
      set.parts.some((p) => p.offset === f.offset && p.data.length === f.data.length)
    ) {
      set.overlap = overlapBefore;
      return undefined; // a duplicate
    }
    if (f.offset === 0) set.next = f.next;
    if (f.ipVersion === 6 && set.next !== undefined && NEVER_UDP.has(set.next)) {
      this.release(set);
      set.parts.length = 0;
      set.ignored = 'other';
      return undefined;
    }
    if (set.parts.length >= this.maxFragments) return this.bound(set, `more than ${this.maxFragments} fragments`);
    if (set.bytes + f.data.length > MAX_SET_BYTES)
      return this.bound(set, `more than ${MAX_SET_BYTES} bytes of fragments (overlapping)`);
    set.parts.push({ offset: f.offset, data: f.data, frame: f.frame });
    set.maxEnd = Math.max(set.maxEnd, end);
    set.bytes += f.data.length;
    this.bytes += f.data.length;
    if (this.bytes > this.stats.peakBytes) this.stats.peakBytes = this.bytes;
    const done = this.complete(set, f.frame);
    if (done) return done;
    while (this.bytes > this.maxBytes && this.sets.size > 0)
      this.evictOldest(`more than ${this.maxBytes} bytes of fragments held`);
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

  /**
   * Marks the 8-byte units of [from, to) covered, a 32-unit word at a time; a unit covered before means
   * overlap. Returns the units covered for the first time.
   */
  private cover(set: FragmentSet, from: number, to: number): number {
    const u = set.units;
    const first = from >>> 3;
    const last = ((to + 7) >>> 3) - 1; // inclusive
    let count = 0;
    for (let w = first >>> 5; first <= last && w <= last >>> 5; w++) {
      const lo = w === first >>> 5 ? first & 31 : 0;
      const hi = w === last >>> 5 ? last & 31 : 31;
      const mask = hi - lo === 31 ? 0xffffffff : (((1 << (hi - lo + 1)) - 1) << lo) >>> 0;
      const had = u[w]!;
      if ((had & mask) !== 0) set.overlap = true;
      const added = (mask & ~had) >>> 0;
      if (added !== 0) {
        u[w] = had | added;
        count += popcount(added);
      }
    }
    set.coveredUnits += count;
    return count;
  }

  private complete(set: FragmentSet, frame: number): Reassembled | undefined {
    if (set.total === undefined || set.next === undefined || set.coveredUnits < (set.total + 7) >>> 3) return undefined;
    // Stable: of two pieces at one offset, the later arrival is copied last and wins.
    const parts = [...set.parts].sort((a, b) => a.offset - b.offset);
    const data = Buffer.allocUnsafe(set.total);
    for (const p of parts) p.data.copy(data, p.offset); // overlapping bytes: the later offset's copy wins
    if (set.overlap) this.warn(`frame ${frame}: ${set.label()}: overlapping fragments`);
    this.forget(set);
    this.stats.reassembled++;
    return { data, next: set.next, fragments: parts.map((p) => p.frame) };
  }

  /**
   * A set past a per-datagram bound: warned about once, then kept empty until its deadline so its other fragments are
   * dropped.
   */
  private bound(set: FragmentSet, reason: string): undefined {
    this.report(set, `dropped, ${reason}`);
    this.stats.droppedByLimits++;
    this.stats.fragmentsIgnored++;
    this.release(set);
    set.parts.length = 0;
    set.ignored = 'bounded';
    return undefined;
  }

  private evictOldest(reason: string): void {
    const oldest = this.sets.values().next();
    if (oldest.done) return;
    if (!oldest.value.ignored) this.stats.droppedByLimits++;
    this.drop(oldest.value, `dropped, ${reason}`);
  }

  private drop(set: FragmentSet, message: string): void {
    this.forget(set);
    if (set.ignored) return;
    this.report(set, message);
  }

  private report(set: FragmentSet, message: string): void {
    this.stats.dropped++;
    const frames = set.parts.map((p) => p.frame);
    const have = set.parts.reduce((n, p) => n + p.data.length, 0);
    const listed =
      frames.length > FRAMES_LISTED
        ? `${frames.slice(0, FRAMES_LISTED).join(', ')}, ... (${frames.length} in all)`
        : frames.join(', ');
    const prefix = frames.length === 0 ? '' : `frame${frames.length > 1 ? 's' : ''} ${listed}: `;
    this.warn(`${prefix}${set.label()}: ${message} (${have} of ${set.total ?? '?'} bytes): not reassembled`);
  }

  /** The set leaves the table (once: completed or dropped); its bitmap goes back to the spares. */
  private forget(set: FragmentSet): void {
    this.release(set);
    this.sets.delete(set.key);
    if (this.spare.length < 64) this.spare.push(set.units.fill(0));
  }

  private release(set: FragmentSet): void {
    this.bytes -= set.bytes;
    set.bytes = 0;
  }
}
