/**
 * Reloading on SIGHUP: the signals are coalesced (one reload runs at a time; signals that arrive
 * meanwhile ask for one more, which rereads the file as it is then), and what changed between two
 * configurations is said by field (`tftp.maxBlksize`, `dhcp.subnets[0].pool`).
 */

/**
 * Runs `reload` for requests, never two at once: a request during a run asks for exactly one more run
 * after it, however many arrive. A storm of 100 SIGHUPs in a second is at most two reloads in a row,
 * each reading the newest file.
 */
export class ReloadQueue {
  private running: Promise<void> | undefined;
  private again = false;
  /** Runs done (for tests and the log). */
  runs = 0;

  constructor(private readonly reload: () => Promise<void>) {}

  request(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => (this.running = undefined));
  }

  /** Resolves when no reload runs or waits. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      this.runs++;
      try {
        await this.reload();
      } catch {
        /* the reload reports its own failures */
      }
    } while (this.again);
  }
}

/** At most this many fields are named; the rest are counted. */
const MAX_NAMED = 40;

/**
 * The fields that differ between two JSON-like values, as paths (`dhcp.subnets[1]` for an entry
 * added or removed, every differing leaf otherwise). Empty when they are equal.
 */
export function configChanges(before: unknown, after: unknown): string[] {
  const out: string[] = [];
  walk(before, after, '', out);
  if (out.length > MAX_NAMED) return [...out.slice(0, MAX_NAMED), `and ${out.length - MAX_NAMED} more`];
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function walk(a: unknown, b: unknown, at: string, out: string[]): void {
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (i >= a.length || i >= b.length) out.push(`${at}[${i}]`);
      else walk(a[i], b[i], `${at}[${i}]`, out);
    }
    return;
  }
  if (isObject(a) && isObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], at ? `${at}.${k}` : k, out);
    return;
  }
  if (!Object.is(a, b)) out.push(at || '(top level)');
}
