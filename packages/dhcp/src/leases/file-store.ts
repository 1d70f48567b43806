/**
 * Leases in a plain file, for where SQLite is not installed (better-sqlite3 is optional: it needs a C
 * compiler): a journal of JSON lines, one per change, appended by each flush and made durable by one
 * fdatasync in libuv's pool before any reply of that flush leaves, as the SQLite store does. The
 * journal is rewritten (temporary file, fsync, rename, directory fsync) when it holds four times more
 * lines than leases, and recreated from memory when the file was deleted or replaced while running.
 *
 * A crash can leave the last line half written: it is dropped at the next start (it was never
 * acknowledged). Any other line that does not parse stops the start with the file's name.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Lease, LeaseFileError, type LeaseStore, MemoryLeaseStore } from './store.js';

type Line = Lease | { delete: string };

/** Rewrite the journal once it has this many times more lines than leases (and at least COMPACT_MIN). */
const COMPACT_RATIO = 4;
const COMPACT_MIN = 1000;

export interface FileLeaseStoreOptions {
  onAlert?: (message: string) => void;
}

export class FileLeaseStore extends MemoryLeaseStore implements LeaseStore {
  private fd: number;
  private dev = 0;
  private ino = 0;
  private lines = 0;
  private pending: string[] = [];
  private syncing = false;
  private waiters: ((err?: Error) => void)[] = [];
  private closed = false;

  constructor(
    readonly file: string,
    private readonly options: FileLeaseStoreOptions = {},
  ) {
    super();
    this.load();
    this.fd = this.openAppend();
  }

  private load(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new LeaseFileError(`cannot read leases file ${this.file}: ${(e as Error).message}`);
    }
    if (text.startsWith('SQLite format 3\0')) {
      throw new LeaseFileError(
        `leases file ${this.file} is an SQLite database, and SQLite (the optional better-sqlite3) is not ` +
          `installed here: install it, or give another file`,
      );
    }
    const rows = text.split('\n');
    const last = rows.length - 1;
    for (let i = 0; i <= last; i++) {
      const row = rows[i]!;
      if (row === '') continue;
      let line: Line;
      try {
        line = JSON.parse(row) as Line;
      } catch {
        if (i === last) break; // the half-written tail of a crash: never acknowledged
        throw new LeaseFileError(`leases file ${this.file} is damaged at line ${i + 1}: not a lease`);
      }
      if ('delete' in line) super.delete(line.delete);
      else super.put(line);
      this.lines++;
    }
  }

  private openAppend(): number {
    try {
      const fd = fs.openSync(this.file, 'a', 0o600);
      const st = fs.fstatSync(fd);
      this.dev = st.dev;
      this.ino = st.ino;
      return fd;
    } catch (e) {
      throw new LeaseFileError(`cannot open leases file ${this.file}: ${(e as Error).message}`);
    }
  }

  override put(lease: Lease): void {
    super.put(lease);
    this.pending.push(JSON.stringify(lease));
  }

  override delete(address: string): void {
    if (!this.byAddress.has(address)) return;
    super.delete(address);
    this.pending.push(JSON.stringify({ delete: address }));
  }

  /** Appends what is pending (or rewrites the journal when it has grown); true when there was something. */
  flush(): boolean {
    if (this.pending.length === 0) return false;
    const moved = this.moved();
    if (moved || this.lines + this.pending.length > Math.max(COMPACT_MIN, COMPACT_RATIO * this.byAddress.size)) {
      this.rewrite(moved);
      return true;
    }
    const text = `${this.pending.join('\n')}\n`;
    try {
      fs.writeSync(this.fd, text);
    } catch (e) {
      throw new LeaseFileError(`cannot write leases file ${this.file}: ${(e as Error).message}`);
    }
    this.lines += this.pending.length;
    this.pending = [];
    return true;
  }

  /** Deleted or replaced by another file since it was opened? */
  private moved(): string | undefined {
    const st = fs.statSync(this.file, { throwIfNoEntry: false });
    if (!st) return 'deleted';
    return st.dev === this.dev && st.ino === this.ino ? undefined : 'replaced by another file';
  }

  /** The leases held in memory, written to a new file put in place durably. */
  private rewrite(moved: string | undefined): void {
    if (this.syncing)
      throw new LeaseFileError(`leases file ${this.file}: cannot rewrite it during a sync; the next flush does`);
    const tmp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.${process.pid}.tmp`);
    const all = [...this.byAddress.values()];
    try {
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        if (all.length) fs.writeSync(fd, `${all.map((l) => JSON.stringify(l)).join('\n')}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
      const dir = fs.openSync(path.dirname(this.file), 'r');
      try {
        fs.fsyncSync(dir);
      } finally {
        fs.closeSync(dir);
      }
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw new LeaseFileError(`cannot write leases file ${this.file}: ${(e as Error).message}`);
    }
    fs.closeSync(this.fd);
    this.fd = this.openAppend();
    this.lines = all.length;
    this.pending = [];
    if (moved)
      this.options.onAlert?.(
        `leases file ${this.file} was ${moved} while running: recreated from the ${all.length} leases held in memory`,
      );
  }

  /** Calls `done` once everything flushed so far is on disk: one fdatasync for all who wait. */
  durable(done: (err?: Error) => void): void {
    this.waiters.push(done);
    if (!this.syncing) this.sync();
  }

  private sync(): void {
    const waiters = this.waiters;
    this.waiters = [];
    if (waiters.length === 0) return;
    this.syncing = true;
    fs.fdatasync(this.fd, (err) => {
      this.syncing = false;
      const e = err ? new LeaseFileError(`cannot sync leases file ${this.file}: ${err.message}`) : undefined;
      for (const w of waiters) w(e);
      if (this.closed) this.closeFd();
      else if (this.waiters.length) this.sync();
    });
  }

  private closeFd(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      /* closed */
    }
  }

  override close(): void {
    if (this.closed) return;
    this.closed = true;
    let failure: Error | undefined;
    try {
      this.flush();
      fs.fdatasyncSync(this.fd);
    } catch (e) {
      failure = e as Error;
    }
    if (!this.syncing) this.closeFd();
    if (failure) throw failure;
  }
}
