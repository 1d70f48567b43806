/**
 * Keeps per-packet and per-request log records quiet at high rates: each kind of record (DHCP
 * messages, refused requests, HTTP client errors) gets `rate` records a second, in bursts of up to
 * twice that (the TFTP server's token buckets, src/tftp/rate-limit.ts, keyed by kind); the rest are
 * counted, and `drain()` says how many of each were left out since it was last asked (the caller logs
 * that as one summary line every few seconds). A flood then costs a bucket update per packet, never a
 * write. Pure: the caller passes the time. A rate of 0 lets everything through.
 */
import { RateLimiter } from '@bootwire/tftp/internal/rate-limit.js';

export class LogGate {
  private readonly limiter: RateLimiter;
  private suppressed = new Map<string, number>();

  constructor(readonly rate: number) {
    this.limiter = new RateLimiter(rate, Math.max(1, 2 * rate));
  }

  /** May a record of `kind` be written at `nowMs`? Counts it as left out when not. */
  take(kind: string, nowMs: number): boolean {
    if (this.limiter.take(kind, nowMs)) return true;
    this.suppressed.set(kind, (this.suppressed.get(kind) ?? 0) + 1);
    return false;
  }

  /** Records left out since the last drain, by kind (empty when none). */
  drain(): Record<string, number> {
    const out = Object.fromEntries(this.suppressed);
    this.suppressed = new Map();
    return out;
  }
}
