/**
 * Packet faults injected at a simulator's sockets: loss, duplication and reordering, each with its own
 * probability, applied to every datagram a socket sends or receives. The storm uses one injector per
 * simulated phone so that a lossy network costs what it costs real phones (retries, timeouts).
 *
 * The randomness and the delay are injected, so tests can drive it exactly; the default delay is a
 * timer (this is the edge, next to the socket).
 */
export interface FaultOptions {
  /** Probability that a datagram is dropped. */
  loss?: number;
  /** Probability that a datagram is delivered twice. */
  duplicate?: number;
  /** Probability that a datagram is held back and delivered after later ones. */
  reorder?: number;
  /** How long a reordered datagram is held. Default 5 ms (a few packets' time on a LAN). */
  reorderDelayMs?: number;
  /** Uniform [0, 1). Default Math.random. */
  random?: () => number;
  /** Runs `fn` after `ms`. Default: an unref'd setTimeout. */
  later?: (fn: () => void, ms: number) => void;
}

export interface FaultCounters {
  passed: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

export class FaultInjector {
  readonly counters: FaultCounters = { passed: 0, dropped: 0, duplicated: 0, reordered: 0 };
  private readonly loss: number;
  private readonly duplicate: number;
  private readonly reorder: number;
  private readonly delay: number;
  private readonly random: () => number;
  private readonly later: (fn: () => void, ms: number) => void;

  constructor(o: FaultOptions = {}) {
    for (const k of ['loss', 'duplicate', 'reorder'] as const) {
      const p = o[k] ?? 0;
      if (!(p >= 0 && p <= 1)) throw new RangeError(`${k} must be a probability in 0..1, got ${p}`);
    }
    this.loss = o.loss ?? 0;
    this.duplicate = o.duplicate ?? 0;
    this.reorder = o.reorder ?? 0;
    this.delay = o.reorderDelayMs ?? 5;
    this.random = o.random ?? Math.random;
    this.later =
      o.later ??
      ((fn, ms) => {
        setTimeout(fn, ms).unref();
      });
  }

  /** True when this injector never changes anything (the caller can skip it). */
  get inert(): boolean {
    return this.loss === 0 && this.duplicate === 0 && this.reorder === 0;
  }

  /** Lets one datagram through `deliver` zero, one or two times, now or a little later. */
  apply(deliver: () => void): void {
    if (this.loss > 0 && this.random() < this.loss) {
      this.counters.dropped++;
      return;
    }
    this.counters.passed++;
    if (this.reorder > 0 && this.random() < this.reorder) {
      this.counters.reordered++;
      this.later(deliver, this.delay);
    } else deliver();
    if (this.duplicate > 0 && this.random() < this.duplicate) {
      this.counters.duplicated++;
      deliver();
    }
  }
}

/** Parses a probability given as `0.05` or `5%`. */
export function parseProbability(text: string, what: string): number {
  const t = text.trim();
  const n = t.endsWith('%') ? Number(t.slice(0, -1)) / 100 : Number(t);
  if (t === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new RangeError(`${what} must be a probability such as 0.05 or 5%, got ${JSON.stringify(text)}`);
  return n;
}

/** A small seeded PRNG (mulberry32), floats in [0, 1): the same seed loses the same packets. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
