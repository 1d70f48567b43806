/**
 * The SQLite lease file under trouble (issue 13): full durability settings, the file deleted or
 * replaced while running, the files made immutable (no SIGBUS: no -shm mapping), a corrupt file
 * (refused, untouched, named), and close() when the last commit cannot be written.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fsDefault, { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Lease, LeaseFileError, SqliteLeaseStore } from '../../packages/dhcp/src/leases/store.js';
import { IS_ROOT } from '../helpers/peers.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-lease-store-'));
});
afterEach(async () => {
  spawnSync('chattr', ['-R', '-i', dir]);
  await fs.rm(dir, { recursive: true, force: true });
});

const lease = (i: number, more: Partial<Lease> = {}): Lease => ({
  address: `10.77.0.${100 + i}`,
  clientKey: `mac:00:04:0d:00:00:${i.toString(16).padStart(2, '0')}`,
  mac: `00:04:0d:00:00:${i.toString(16).padStart(2, '0')}`,
  subnet: '10.77.0.0/24',
  state: 'bound',
  expiresAt: 1e12 + i,
  ...more,
});

/** What a fresh store on the file holds (the previous one must be closed: the file is locked). */
function reread(file: string): Lease[] {
  const s = new SqliteLeaseStore(file);
  try {
    return s.all().sort((a, b) => a.address.localeCompare(b.address));
  } finally {
    s.close();
  }
}

/** Can this filesystem make a file immutable (ext4 and others as root; not tmpfs before Linux 6.0, not overlayfs)? */
function chattrWorks(): string | undefined {
  if (!IS_ROOT) return 'needs root (chattr +i)';
  const probe = path.join(dir, 'probe');
  spawnSync('touch', [probe]);
  const r = spawnSync('chattr', ['+i', probe], { encoding: 'utf8' });
  if (r.error) return `chattr missing: ${r.error.message}`;
  if (r.status !== 0) return `the filesystem of ${os.tmpdir()} does not support chattr +i: ${r.stderr.trim()}`;
  spawnSync('chattr', ['-i', probe]);
  return undefined;
}

/**
 * A store on `leases.db` holding lease 1, whose files are then made immutable; undefined (skipped) where chattr cannot.
 */
function immutableStore(ctx: {
  skip: (why: string) => void;
}): { s: SqliteLeaseStore; file: string; writable: () => void } | undefined {
  const why = chattrWorks();
  if (why) return void ctx.skip(why);
  const file = path.join(dir, 'leases.db');
  const s = new SqliteLeaseStore(file);
  s.put(lease(1));
  s.flush();
  expect(spawnSync('sh', ['-c', `chattr +i ${file}*`]).status).toBe(0);
  return { s, file, writable: () => void spawnSync('sh', ['-c', `chattr -i ${file}*`]) };
}

describe('SQLite lease store', () => {
  it(
    'commits in WAL mode and syncs the WAL before saying durable; holds the file exclusively and ' +
      'maps no -shm file',
    async () => {
      const file = path.join(dir, 'leases.db');
      const s = new SqliteLeaseStore(file);
      s.put(lease(1));
      expect(s.flush()).toBe(true);
      expect(s.flush()).toBe(false); // nothing new
      // Every waiter of one round is answered by one sync; a second round gets its own.
      const synced = vi.spyOn(fsDefault, 'fdatasync');
      try {
        await Promise.all([1, 2, 3].map(() => new Promise<void>((r, j) => s.durable((e) => (e ? j(e) : r())))));
        expect(synced.mock.calls.length).toBeLessThanOrEqual(2);
        expect(synced.mock.calls.length).toBeGreaterThanOrEqual(1);
      } finally {
        synced.mockRestore();
      }
      expect(s.durability()).toEqual({
        journalMode: 'wal',
        synchronous: 'NORMAL',
        lockingMode: 'exclusive',
        mmapSize: 0,
        walSync: 'fdatasync of the WAL after each commit batch, before its replies',
      });
      expect(existsSync(`${file}-wal`)).toBe(true);
      expect(existsSync(`${file}-shm`)).toBe(false);
      // A second server on the same file is refused instead of sharing it.
      expect(() => new SqliteLeaseStore(file)).toThrow(/cannot open leases file .*leases\.db: database is locked/);
      s.close();
      expect(reread(file)).toEqual([lease(1)]);
    },
  );

  it(
    'leases.db deleted while running: noticed at the next commit, said, recreated with every lease ' + 'in memory',
    async () => {
      const file = path.join(dir, 'leases.db');
      const alerts: string[] = [];
      const s = new SqliteLeaseStore(file, { onAlert: (m) => alerts.push(m) });
      s.put(lease(1));
      s.put(lease(2));
      s.flush();
      for (const f of [file, `${file}-wal`]) await fs.rm(f, { force: true });
      s.put(lease(3));
      s.flush();
      expect(alerts).toEqual([
        `leases file ${file} was deleted while running: recreated it with the 3 leases held in memory`,
      ]);
      s.put(lease(4));
      s.delete(lease(2).address);
      s.flush();
      s.close();
      expect(reread(file)).toEqual([lease(1), lease(3), lease(4)]);
    },
  );

  it('leases.db replaced by another file while running: rewritten from memory', async () => {
    const file = path.join(dir, 'leases.db');
    const alerts: string[] = [];
    const s = new SqliteLeaseStore(file, { onAlert: (m) => alerts.push(m) });
    s.put(lease(1));
    s.flush();
    // Another lease file (say, an old backup) moved over it.
    const other = path.join(dir, 'backup.db');
    const b = new SqliteLeaseStore(other);
    b.put(lease(9, { clientKey: 'mac:ff', mac: 'ff' }));
    b.close();
    await fs.rename(other, file);
    s.put(lease(2));
    s.flush();
    expect(alerts).toEqual([
      `leases file ${file} was replaced by another file while running: recreated it with the 2 leases held in memory`,
    ]);
    s.close();
    expect(reread(file)).toEqual([lease(1), lease(2)]);
  });

  it(
    'immutable lease files (chattr +i): a clear error, no SIGBUS, and the commit goes through once ' +
      'they can be written',
    (ctx) => {
      const t = immutableStore(ctx);
      if (!t) return;
      const { s, file } = t;
      s.put(lease(2));
      let err: unknown;
      try {
        s.flush();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LeaseFileError);
      expect((err as Error).message).toMatch(new RegExp(`^cannot write leases file ${file.replaceAll('.', '\\.')}: `));
      expect(() => s.flush()).toThrow(LeaseFileError); // still not writable: still an error, still alive
      t.writable();
      s.flush();
      s.close();
      expect(reread(file)).toEqual([lease(1), lease(2)]);
    },
  );

  it('a corrupt leases.db is refused with a message naming the file, and left untouched', async () => {
    const file = path.join(dir, 'leases.db');
    const junk = Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4080, 0x5a)]);
    await fs.writeFile(file, junk);
    const before = createHash('sha256')
      .update(await fs.readFile(file))
      .digest('hex');
    expect(() => new SqliteLeaseStore(file)).toThrow(
      new RegExp(`^cannot (open|read) leases file ${file.replaceAll('.', '\\.')}: `),
    );
    expect(
      createHash('sha256')
        .update(await fs.readFile(file))
        .digest('hex'),
    ).toBe(before);
    expect((await fs.readdir(dir)).sort()).toEqual(['leases.db']);
  });

  it('close() with a commit that cannot be written still closes the file, then says why', (ctx) => {
    const t = immutableStore(ctx);
    if (!t) return;
    const { s, file } = t;
    s.put(lease(2));
    expect(() => s.close()).toThrow(LeaseFileError);
    expect(() => s.close()).not.toThrow();
    t.writable();
    expect(reread(file)).toEqual([lease(1)]); // the unacknowledged change is lost; the file is sound
  });
});
