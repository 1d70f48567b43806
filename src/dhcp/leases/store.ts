/**
 * Lease storage. The engine works against `LeaseStore` (synchronous: the engine stays a plain function
 * of its inputs); `SqliteLeaseStore` keeps leases in SQLite through better-sqlite3, `MemoryLeaseStore`
 * serves tests and throwaway servers.
 *
 * Durability: SQLite in WAL mode commits each lease change before the reply is sent. A committed
 * transaction is in the WAL file, so an acknowledged lease survives `kill -9` of the server (the OS
 * holds the data); `synchronous=NORMAL` leaves only an OS crash or power loss able to lose the last
 * changes, as with dnsmasq's and Kea's default lease files.
 */
import Database from 'better-sqlite3';

export type LeaseState = 'bound' | 'released' | 'declined';

export interface Lease {
  address: string;
  /** What identifies the client: `id:<hex of option 61>` or `mac:<aa:bb:..>`. */
  clientKey: string;
  mac: string;
  subnet: string;
  state: LeaseState;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  hostname?: string;
}

export interface LeaseStore {
  /**
   * Makes every put() so far durable. A server calls it before sending the ACKs of those leases, so
   * that one transaction can commit a whole burst of them (group commit).
   */
  flush?(): void;
  get(address: string): Lease | undefined;
  /** The newest lease of a client in a subnet, whatever its state. */
  byClient(clientKey: string, subnet: string): Lease | undefined;
  put(lease: Lease): void;
  all(): Lease[];
  close(): void;
}

export class MemoryLeaseStore implements LeaseStore {
  protected readonly byAddress = new Map<string, Lease>();
  protected readonly clients = new Map<string, string>();

  get(address: string): Lease | undefined {
    return this.byAddress.get(address);
  }
  byClient(clientKey: string, subnet: string): Lease | undefined {
    const a = this.clients.get(`${subnet}\0${clientKey}`);
    const l = a === undefined ? undefined : this.byAddress.get(a);
    return l && l.clientKey === clientKey ? l : undefined;
  }
  put(lease: Lease): void {
    this.keep({ ...lease });
  }
  /** Stores `lease` itself (already a private copy). */
  protected keep(lease: Lease): void {
    this.byAddress.set(lease.address, lease);
    this.clients.set(`${lease.subnet}\0${lease.clientKey}`, lease.address);
  }
  all(): Lease[] {
    return [...this.byAddress.values()].map((l) => ({ ...l }));
  }
  close(): void {}
}

interface Row {
  address: string;
  client_key: string;
  mac: string;
  subnet: string;
  state: LeaseState;
  expires_at: number;
  hostname: string | null;
}

/** SQLite-backed, with every lease also held in memory for lookups. */
export class SqliteLeaseStore extends MemoryLeaseStore {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement;
  private readonly commit: (rows: Lease[]) => void;
  private pending: Lease[] = [];

  constructor(readonly file: string) {
    super();
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS leases (
      address TEXT PRIMARY KEY,
      client_key TEXT NOT NULL,
      mac TEXT NOT NULL,
      subnet TEXT NOT NULL,
      state TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      hostname TEXT,
      updated_at INTEGER NOT NULL
    )`);
    this.upsert = this.db.prepare(`INSERT INTO leases (address, client_key, mac, subnet, state, expires_at, hostname, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(address) DO UPDATE SET client_key = excluded.client_key, mac = excluded.mac, subnet = excluded.subnet,
        state = excluded.state, expires_at = excluded.expires_at, hostname = excluded.hostname, updated_at = excluded.updated_at`);
    const now = () => Date.now();
    this.commit = this.db.transaction((rows: Lease[]) => {
      const t = now();
      // Positional parameters: binding by name costs an object per row and a lookup per column.
      for (const l of rows) this.upsert.run(l.address, l.clientKey, l.mac, l.subnet, l.state, l.expiresAt, l.hostname ?? null, t);
    });
    for (const r of this.db.prepare('SELECT * FROM leases ORDER BY updated_at').all() as Row[]) {
      super.put({ address: r.address, clientKey: r.client_key, mac: r.mac, subnet: r.subnet, state: r.state, expiresAt: r.expires_at, ...(r.hostname ? { hostname: r.hostname } : {}) });
    }
  }

  /** Held in memory at once; written to SQLite by the next flush(). */
  override put(lease: Lease): void {
    const copy = { ...lease };
    this.pending.push(copy); // never mutated: a later put replaces the object
    this.keep(copy);
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const rows = this.pending;
    this.pending = [];
    try {
      this.commit(rows);
    } catch (e) {
      this.pending = rows.concat(this.pending); // kept for the next flush
      throw e;
    }
  }

  override close(): void {
    if (!this.db.open) return;
    this.flush();
    this.db.close();
  }
}
