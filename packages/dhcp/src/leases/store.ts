/**
 * Lease storage. The engine works against `LeaseStore` (synchronous: the engine stays a plain function
 * of its inputs); `SqliteLeaseStore` keeps leases in SQLite through better-sqlite3, `MemoryLeaseStore`
 * serves tests and throwaway servers.
 *
 * Durability: the changes of one event-loop turn are committed in one SQLite transaction, and the
 * replies of that turn leave only once the WAL holding it is on disk (fdatasync), so an acknowledged
 * lease survives `kill -9`, an OS crash and a power loss (the very event that makes hundreds of
 * phones boot at once). This is what `synchronous=FULL` does in WAL mode (sync the WAL at each commit,
 * and the directory of a new WAL), done off the main thread: the commit itself runs with
 * `synchronous=NORMAL` (SQLite still syncs around its checkpoints), then `durable()` runs one
 * fdatasync in libuv's pool for every commit made before it starts (group commit across turns),
 * while the event loop goes on deciding the next requests. A synchronous FULL commit held the whole
 * process (TFTP and HTTP included) for the 3 ms of each fsync on this machine's disk.
 *
 * The lease files are the server's alone (`locking_mode=EXCLUSIVE`): SQLite then keeps the WAL index
 * in the heap instead of a `-shm` file mapped into memory. With that mapping, a write the kernel
 * refuses (the files made immutable with `chattr +i`, ext4) kills the process with SIGBUS at the
 * next commit; without it every failure is an error that the server reports and retries. mmap of
 * the database itself stays off (`mmap_size=0`) for the same reason.
 *
 * Each commit batch also checks that `leases.db` is still the file it opened (device and inode): a
 * file deleted or replaced while running is recreated from the leases held in memory, and said so.
 */
import fs, { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type Database from 'better-sqlite3';

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
   * Commits every put() so far; true when there was something to commit. A server calls it before
   * sending the ACKs of those leases, so that one transaction commits a whole burst (group commit).
   */
  flush?(): boolean;
  /**
   * Calls `done` once every commit so far is on disk (a store without it is durable at flush()).
   * A server sends the replies of a flush only then.
   */
  durable?(done: (err?: Error) => void): void;
  get(address: string): Lease | undefined;
  /** The newest lease of a client in a subnet, whatever its state. */
  byClient(clientKey: string, subnet: string): Lease | undefined;
  put(lease: Lease): void;
  /** Forgets the row of an address (an expired quarantine). */
  delete(address: string): void;
  all(): Lease[];
  /** Visits every lease without copying it (the caller must not keep or change it). */
  forEach?(visit: (lease: Readonly<Lease>) => void): void;
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
  delete(address: string): void {
    const l = this.byAddress.get(address);
    if (!l) return;
    this.byAddress.delete(address);
    const k = `${l.subnet}\0${l.clientKey}`;
    if (this.clients.get(k) === address) this.clients.delete(k);
  }
  all(): Lease[] {
    return [...this.byAddress.values()].map((l) => ({ ...l }));
  }
  forEach(visit: (lease: Readonly<Lease>) => void): void {
    for (const l of this.byAddress.values()) visit(l);
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

/** A lease file that cannot be opened or used; the message names the file. */
export class LeaseFileError extends Error {
  override name = 'LeaseFileError';
}

let Sqlite: typeof Database | undefined;

/**
 * better-sqlite3, loaded with the first SQLite store: it is an optional dependency (it builds with a C
 * compiler), and a user of the DHCP codec alone never loads it.
 */
function sqlite(): typeof Database {
  return (Sqlite ??= createRequire(import.meta.url)('better-sqlite3') as typeof Database);
}

/** Whether better-sqlite3 is installed and loads (it is optional). */
export function sqliteAvailable(): boolean {
  try {
    sqlite();
    return true;
  } catch {
    return false;
  }
}

export interface SqliteLeaseStoreOptions {
  /** Said when the file was deleted or replaced under the server and has been recreated. */
  onAlert?: (message: string) => void;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS leases (
  address TEXT PRIMARY KEY,
  client_key TEXT NOT NULL,
  mac TEXT NOT NULL,
  subnet TEXT NOT NULL,
  state TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  hostname TEXT,
  updated_at INTEGER NOT NULL
)`;

/** One open lease file: the connection, its statements, and which file it is. */
interface OpenFile {
  db: Database.Database;
  upsert: Database.Statement;
  remove: Database.Statement;
  commit: (rows: (Lease | string)[]) => void;
  dev: number;
  ino: number;
}

/** SQLite-backed, with every lease also held in memory for lookups. */
export class SqliteLeaseStore extends MemoryLeaseStore {
  private open: OpenFile;
  /** Changes not yet committed, in order: a lease to write, or an address to delete. */
  private pending: (Lease | string)[] = [];
  private closed = false;
  /** The WAL file of the open file, for fdatasync (opened at the first sync). */
  private walFd: number | undefined;
  /** A new WAL's directory entry has been synced (once per opened file). */
  private dirSynced = false;
  private syncing = false;
  /** Callers waiting for the next sync, which covers every commit made before it starts. */
  private waiters: ((err?: Error) => void)[] = [];

  constructor(
    readonly file: string,
    private readonly options: SqliteLeaseStoreOptions = {},
  ) {
    super();
    this.open = this.openFile();
    let rows: Row[];
    try {
      rows = this.open.db.prepare('SELECT * FROM leases ORDER BY updated_at').all() as Row[];
    } catch (e) {
      this.open.db.close();
      throw new LeaseFileError(`cannot read leases file ${file}: ${(e as Error).message}`);
    }
    for (const r of rows) {
      super.put({
        address: r.address,
        clientKey: r.client_key,
        mac: r.mac,
        subnet: r.subnet,
        state: r.state,
        expiresAt: r.expires_at,
        ...(r.hostname ? { hostname: r.hostname } : {}),
      });
    }
  }

  private openFile(): OpenFile {
    const file = this.file;
    let db: Database.Database | undefined;
    try {
      const Sqlite = sqlite();
      // A second server on the same file fails at once instead of waiting for a lock never released.
      db = new Sqlite(file, { timeout: 1000 });
      // Before the first access: WAL index in the heap, no -shm mapping (see the top of this file).
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('mmap_size = 0');
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`journal mode is ${String(mode)}, not wal`);
      // NORMAL: no fsync inside the commit; durable() syncs the WAL before any reply (see the top).
      db.pragma('synchronous = NORMAL');
      db.exec(SCHEMA);
      const upsert =
        db.prepare(`INSERT INTO leases (address, client_key, mac, subnet, state, expires_at, hostname, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(address) DO UPDATE SET client_key = excluded.client_key, mac = excluded.mac,
          subnet = excluded.subnet, state = excluded.state, expires_at = excluded.expires_at,
          hostname = excluded.hostname, updated_at = excluded.updated_at`);
      const remove = db.prepare('DELETE FROM leases WHERE address = ?');
      const commit = db.transaction((rows: (Lease | string)[]) => {
        const t = Date.now();
        // Positional parameters: binding by name costs an object per row and a lookup per column.
        for (const l of rows) {
          if (typeof l === 'string') remove.run(l);
          else upsert.run(l.address, l.clientKey, l.mac, l.subnet, l.state, l.expiresAt, l.hostname ?? null, t);
        }
      });
      const st = statSync(file);
      return { db, upsert, remove, commit, dev: st.dev, ino: st.ino };
    } catch (e) {
      try {
        db?.close();
      } catch {
        /* already failed */
      }
      const m = (e as Error).message;
      throw new LeaseFileError(
        `cannot open leases file ${file}: ${m}${/locked|busy/i.test(m) ? ' (another process holds it: another server on the same file?)' : ''}`,
      );
    }
  }

  /** The settings that make a commit durable, as SQLite reports them (for tests and diagnostics). */
  durability(): { journalMode: string; synchronous: string; lockingMode: string; mmapSize: number; walSync: string } {
    const db = this.open.db;
    const sync = Number(db.pragma('synchronous', { simple: true }));
    return {
      journalMode: String(db.pragma('journal_mode', { simple: true })),
      synchronous: ['OFF', 'NORMAL', 'FULL', 'EXTRA'][sync] ?? String(sync),
      lockingMode: String(db.pragma('locking_mode', { simple: true })),
      mmapSize: Number(db.pragma('mmap_size', { simple: true }) ?? 0),
      walSync: 'fdatasync of the WAL after each commit batch, before its replies',
    };
  }

  durable(done: (err?: Error) => void): void {
    this.waiters.push(done);
    if (!this.syncing) this.startSync();
  }

  /** One fdatasync of the WAL (and, the first time, of its directory) for everyone waiting now. */
  private startSync(): void {
    const waiters = this.waiters;
    this.waiters = [];
    if (waiters.length === 0) return;
    const fail = (e: Error) => new LeaseFileError(`cannot sync leases file ${this.file}: ${e.message}`);
    let fd: number;
    try {
      fd = this.walFd ??= fs.openSync(`${this.file}-wal`, 'r');
    } catch (e) {
      for (const w of waiters) w(fail(e as Error));
      return;
    }
    this.syncing = true;
    const finish = (err: Error | null) => {
      this.syncing = false;
      if (this.closed && this.walFd !== undefined) this.closeWal();
      for (const w of waiters) w(err ? fail(err) : undefined);
      if (this.waiters.length > 0) this.startSync();
    };
    fs.fdatasync(fd, (err) => {
      if (err || this.dirSynced) return finish(err);
      // A WAL created since the file was opened: its name must be on disk too (as SQLite's FULL does).
      fs.open(path.dirname(this.file), 'r', (e, dfd) => {
        if (e) return finish(e);
        fs.fsync(dfd, (e2) => {
          fs.close(dfd, () => {});
          if (!e2) this.dirSynced = true;
          finish(e2);
        });
      });
    });
  }

  private closeWal(): void {
    const fd = this.walFd;
    this.walFd = undefined;
    this.dirSynced = false;
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already gone */
      }
    }
  }

  /** Held in memory at once; written to SQLite by the next flush(). */
  override put(lease: Lease): void {
    const copy = { ...lease };
    this.pending.push(copy); // never mutated: a later put replaces the object
    this.keep(copy);
  }

  override delete(address: string): void {
    if (!this.byAddress.has(address)) return;
    super.delete(address);
    this.pending.push(address);
  }

  /** Commits what is pending; true when there was something to commit. */
  flush(): boolean {
    if (this.pending.length === 0) return false;
    this.checkIdentity();
    const rows = this.pending;
    this.pending = [];
    try {
      this.open.commit(rows);
    } catch (e) {
      this.pending = rows.concat(this.pending); // kept for the next flush
      throw new LeaseFileError(`cannot write leases file ${this.file}: ${(e as Error).message}`);
    }
    return true;
  }

  /**
   * Is `file` still the file we write to? Deleted or replaced (an inode of another file): open the
   * file at the path anew and write every lease held in memory into it, in one transaction.
   */
  private checkIdentity(): void {
    const st = statSync(this.file, { throwIfNoEntry: false });
    if (st && st.dev === this.open.dev && st.ino === this.open.ino) return;
    const what = st ? 'replaced by another file' : 'deleted';
    if (this.syncing)
      throw new LeaseFileError(
        `leases file ${this.file} was ${what} while running: recreating it after the sync under way`,
      );
    this.closeWal();
    // The old connection goes first: closing it checkpoints into the old inode and removes its WAL,
    // which would otherwise be taken for the new file's.
    try {
      if (this.open.db.open) this.open.db.close();
    } catch {
      /* the old file is gone anyway */
    }
    const next = this.openFile(); // on failure the next flush tries again
    try {
      const all: (Lease | string)[] = [...this.byAddress.values()];
      next.db.transaction(() => {
        next.db.exec('DELETE FROM leases');
        next.commit(all);
      })();
    } catch (e) {
      next.db.close();
      throw new LeaseFileError(
        `leases file ${this.file} was ${what} while running and cannot be rewritten: ` + `${(e as Error).message}`,
      );
    }
    this.open = next;
    this.pending = []; // all of it is in the new file
    this.options.onAlert?.(
      `leases file ${this.file} was ${what} while running: recreated it with the ${this.byAddress.size}` +
        ` leases held in memory`,
    );
  }

  /** Commits what is pending and closes; the file is closed even when the last commit fails (then it throws). */
  override close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.flush();
    } finally {
      if (this.open.db.open) this.open.db.close(); // checkpoints and syncs the WAL and the database
      if (!this.syncing) this.closeWal();
    }
  }
}
