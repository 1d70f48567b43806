/**
 * Which address of a subnet's pool to offer next, without scanning the pool: amortized O(1) for an
 * address never leased, O(log n) for one whose lease ran out. The engine tells it what happens to
 * each address (offered, leased, offer withdrawn, row deleted); it keeps no clock and no leases.
 *
 * Preference (as before): never-used addresses first, in pool order from where the last one was
 * taken; only when none is left, an address whose lease expired or was released, the one that has
 * been free the longest first (so that clients that come back still find theirs).
 *
 *   state[i]  FREE (no lease row, no live offer), USED (a row or a live offer), EXCLUDED (network,
 *             broadcast, the server's own address, a reserved address: never from the pool)
 *   cursor    every index below it has been handed out or was USED when passed: the never-touched part
 *   returned  indexes that became FREE again (offer withdrawn, quarantine row pruned), oldest first
 *   heap      (expiresAt, index) of leased addresses; entries go stale when the lease changes and are
 *             dropped when they surface (the engine checks them against the store)
 */

const FREE = 0;
const USED = 1;
const EXCLUDED = 2;

export class PoolAllocator {
  readonly size: number;
  private readonly firsts: number[];
  private readonly offsets: number[];
  private readonly state: Uint8Array;
  private cursor = 0;
  private returned: number[] = [];
  private returnedHead = 0;
  private heapKeys: number[] = [];
  private heapIdx: number[] = [];
  private excludedCount = 0;

  constructor(readonly ranges: readonly [number, number][]) {
    this.firsts = ranges.map(([a]) => a);
    this.offsets = [];
    let n = 0;
    for (const [a, b] of ranges) {
      this.offsets.push(n);
      n += b - a + 1;
    }
    this.size = n;
    this.state = new Uint8Array(n);
  }

  /** The pool index of `ip`, or -1 when it is not in the pool. */
  indexOf(ip: number): number {
    for (let r = 0; r < this.firsts.length; r++) {
      const a = this.firsts[r]!;
      if (ip >= a && ip <= this.ranges[r]![1]) return this.offsets[r]! + (ip - a);
    }
    return -1;
  }

  ipAt(i: number): number {
    let r = this.offsets.length - 1;
    while (this.offsets[r]! > i) r--;
    return this.firsts[r]! + (i - this.offsets[r]!);
  }

  exclude(ip: number): void {
    const i = this.indexOf(ip);
    if (i >= 0 && this.state[i] !== EXCLUDED) {
      this.state[i] = EXCLUDED;
      this.excludedCount++;
    }
  }

  /** Addresses the pool can hand out: its size less the excluded ones. */
  get usable(): number {
    return this.size - this.excludedCount;
  }

  isExcluded(i: number): boolean {
    return this.state[i] === EXCLUDED;
  }

  /** The address has a lease row or a live offer. */
  markUsed(i: number): void {
    if (this.state[i] === FREE) this.state[i] = USED;
  }

  /** Neither row nor offer any more: it goes back behind the other free addresses. */
  markFree(i: number): void {
    if (this.state[i] !== USED) return;
    this.state[i] = FREE;
    if (i < this.cursor) this.returned.push(i);
  }

  /** A never-used (or returned) FREE index, or -1. The caller marks it used when it offers it. */
  nextFree(): number {
    while (this.cursor < this.size) {
      const i = this.cursor++;
      if (this.state[i] === FREE) return i;
    }
    while (this.returnedHead < this.returned.length) {
      const i = this.returned[this.returnedHead++]!;
      if (this.state[i] === FREE) {
        this.compactReturned();
        return i;
      }
    }
    this.returned = [];
    this.returnedHead = 0;
    return -1;
  }

  private compactReturned(): void {
    if (this.returnedHead > 1024 && this.returnedHead * 2 > this.returned.length) {
      this.returned = this.returned.slice(this.returnedHead);
      this.returnedHead = 0;
    }
  }

  /** How many entries the expiry heap holds (stale ones included). */
  get heapSize(): number {
    return this.heapKeys.length;
  }

  /** Records that the lease on index `i` runs out at `expiresAt` (a later change makes this stale). */
  pushExpiry(expiresAt: number, i: number): void {
    const k = this.heapKeys;
    const v = this.heapIdx;
    let n = k.length;
    k.push(expiresAt);
    v.push(i);
    while (n > 0) {
      const p = (n - 1) >> 1;
      if (k[p]! <= expiresAt) break;
      k[n] = k[p]!;
      v[n] = v[p]!;
      n = p;
    }
    k[n] = expiresAt;
    v[n] = i;
  }

  /**
   * The index whose lease ran out first, if it ran out by `now` and `check` takes it; entries that
   * `check` calls stale are dropped on the way. Returns -1 when none has run out.
   */
  popExpired(now: number, check: (i: number, expiresAt: number) => boolean): number {
    while (this.heapKeys.length > 0 && this.heapKeys[0]! <= now) {
      const expiresAt = this.heapKeys[0]!;
      const i = this.heapIdx[0]!;
      this.popTop();
      if (this.state[i] !== EXCLUDED && check(i, expiresAt)) return i;
    }
    return -1;
  }

  /** Drops every heap entry and starts again from `entries` (when stale ones pile up). */
  rebuildHeap(entries: Iterable<[number, number]>): void {
    this.heapKeys = [];
    this.heapIdx = [];
    for (const [expiresAt, i] of entries) this.pushExpiry(expiresAt, i);
  }

  private popTop(): void {
    const k = this.heapKeys;
    const v = this.heapIdx;
    const lastK = k.pop()!;
    const lastV = v.pop()!;
    const n = k.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && k[l + 1]! < k[l]! ? l + 1 : l;
      if (k[c]! >= lastK) break;
      k[i] = k[c]!;
      v[i] = v[c]!;
      i = c;
    }
    k[i] = lastK;
    v[i] = lastV;
  }
}
