/**
 * Which connections a listener keeps: a cap on all of them and on those of one client address, and
 * which connection gives way when a new one would pass a cap.
 *
 * A connection is idle while no response is running on it: a fresh connection that has not finished
 * its request yet, or a keep-alive one between requests. Idle connections cost the server nothing but
 * a slot, so when a new connection would pass a cap, the oldest idle connection (of the same address
 * for the per-client cap, of any for the global one) is closed to make room; only when none is idle is
 * the new one refused. A flood of connections that send nothing, from one address or many, then
 * recycles its own slots and cannot lock clients out: a client's connection is closed only if a full
 * cap's worth of newer idle connections arrives before its request does.
 *
 * Pure bookkeeping over opaque connection handles: every operation is O(1) (insertion-ordered sets),
 * and closing is the caller's `close` callback.
 */
export interface ConnectionCaps {
  /** Connections at once. */
  readonly maxConnections: number;
  /** Connections at once from one client address. */
  readonly maxPerClient: number;
}

export type Admission = 'admitted' | 'refused';

interface Client {
  count: number;
  /** This address's idle connections, the longest idle first. */
  readonly idle: Set<unknown>;
}

interface Entry {
  readonly client: Client;
  readonly address: string;
  /** Responses running on the connection (pipelining can make it more than one). */
  busy: number;
}

export class ConnectionTable<C> {
  private readonly entries = new Map<C, Entry>();
  /** Every idle connection, the longest idle first. */
  private readonly idle = new Set<C>();
  private readonly clients = new Map<string, Client>();

  constructor(
    private readonly caps: ConnectionCaps,
    /** Closes a connection chosen to make room (it has already left the table). */
    private readonly close: (conn: C, reason: 'client-cap' | 'global-cap') => void,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  idleCount(): number {
    return this.idle.size;
  }

  clientCount(address: string): number {
    return this.clients.get(address)?.count ?? 0;
  }

  /** A new connection from `address`: admitted as idle (maybe closing an older idle one), or refused. */
  admit(conn: C, address: string): Admission {
    const known = this.clients.get(address);
    if (known && known.count >= this.caps.maxPerClient) {
      const victim = first(known.idle) as C | undefined;
      if (victim === undefined) return 'refused';
      this.evict(victim, 'client-cap');
    }
    if (this.entries.size >= this.caps.maxConnections) {
      const victim = first(this.idle);
      if (victim === undefined) return 'refused';
      this.evict(victim, 'global-cap');
    }
    let client = this.clients.get(address);
    if (!client) this.clients.set(address, (client = { count: 0, idle: new Set() }));
    client.count++;
    this.entries.set(conn, { client, address, busy: 0 });
    this.idle.add(conn);
    client.idle.add(conn);
    return 'admitted';
  }

  /** A response starts on `conn`. */
  busy(conn: C): void {
    const e = this.entries.get(conn);
    if (!e) return;
    e.busy++;
    this.idle.delete(conn);
    e.client.idle.delete(conn);
  }

  /** A response on `conn` has ended; with none left the connection is the newest idle one. */
  done(conn: C): void {
    const e = this.entries.get(conn);
    if (!e || e.busy === 0) return;
    if (--e.busy > 0) return;
    this.idle.add(conn);
    e.client.idle.add(conn);
  }

  /** The connection has closed. */
  remove(conn: C): void {
    const e = this.entries.get(conn);
    if (!e) return;
    this.entries.delete(conn);
    this.idle.delete(conn);
    e.client.idle.delete(conn);
    if (--e.client.count === 0) this.clients.delete(e.address);
  }

  private evict(conn: C, reason: 'client-cap' | 'global-cap'): void {
    this.remove(conn);
    this.close(conn, reason);
  }
}

function first<T>(set: Set<T>): T | undefined {
  const it = set.values().next();
  return it.done ? undefined : it.value;
}
