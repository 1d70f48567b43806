/**
 * Requests per source address, as token buckets: `rate` a second, in bursts of up to `burst`. A
 * request from a spoofable address is answered (a DATA or OACK, with retries), so this bounds what a
 * forged flood can make the server send to its victim. Pure: the caller passes the time.
 *
 * Memory is bounded: at most `maxSources` buckets. When full, buckets that have refilled are dropped
 * (a full bucket is the same as none), then the oldest ones: forgetting a source only ever lets it
 * send more, never less.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(
    readonly rate: number,
    readonly burst = rate,
    private readonly maxSources = 65536,
  ) {
    this.perMs = rate / 1000;
  }

  /** Takes a token for `source` at `nowMs`; false when its bucket is empty (or rate is 0: no limit → true). */
  take(source: string, nowMs: number): boolean {
    if (this.rate <= 0) return true;
    const b = this.buckets.get(source);
    if (!b) {
      if (this.buckets.size >= this.maxSources) this.prune(nowMs);
      this.buckets.set(source, { tokens: this.burst - 1, at: nowMs });
      return true;
    }
    b.tokens = Math.min(this.burst, b.tokens + (nowMs - b.at) * this.perMs);
    b.at = nowMs;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  get sources(): number {
    return this.buckets.size;
  }

  private prune(nowMs: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + (nowMs - b.at) * this.perMs >= this.burst) this.buckets.delete(k);
    }
    // Still full: a flood of new sources. Forget the oldest quarter.
    if (this.buckets.size >= this.maxSources) {
      let drop = Math.ceil(this.maxSources / 4);
      for (const k of this.buckets.keys()) {
        if (drop-- <= 0) break;
        this.buckets.delete(k);
      }
    }
  }
}
