import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../packages/tftp/src/rate-limit.js';
import { intToIp, ipToInt } from '../../packages/core/src/ipv4.js';

const TEN = ipToInt('10.0.0.0');

describe('RateLimiter (per-source token buckets, injected clock)', () => {
  it('allows a burst, then the rate, per source', () => {
    const r = new RateLimiter(10, 5);
    const taken = (source: string, now: number, n: number) =>
      Array.from({ length: n }, () => r.take(source, now)).filter(Boolean).length;
    expect(taken('a', 0, 20)).toBe(5);
    expect(taken('b', 0, 20)).toBe(5); // another source has its own bucket
    expect(taken('a', 100, 20)).toBe(1); // 10 a second: one token per 100 ms
    expect(taken('a', 1100, 20)).toBe(5); // refilled to the burst, no more
  });

  it('rate 0 means no limit', () => {
    const r = new RateLimiter(0);
    for (let i = 0; i < 10_000; i++) expect(r.take('a', 0)).toBe(true);
    expect(r.sources).toBe(0);
  });

  it('remembers a bounded number of sources, whatever a flood of new ones does', () => {
    const r = new RateLimiter(2, 2, 1000);
    for (let i = 0; i < 100_000; i++) r.take(intToIp(TEN + i), i / 1000);
    expect(r.sources).toBeLessThanOrEqual(1000);
    // Forgetting a source only lets it send again: a fresh source is never refused.
    expect(r.take('192.0.2.1', 100)).toBe(true);
  });
});
