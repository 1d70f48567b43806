import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImageCache } from '../../packages/core/src/files/image-cache.js';

let dir: string;
let n = 0;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bootwire-cache-'));
});

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** A fresh file with the given contents. */
async function file(contents: string | Buffer): Promise<string> {
  const p = path.join(dir, `f${n++}.bin`);
  await fs.writeFile(p, contents);
  return p;
}

/** Replaces `p` the way an admin's tooling does: write a new file, rename it over the old one. */
async function replaceByRename(p: string, contents: string | Buffer): Promise<void> {
  const tmp = `${p}.new`;
  await fs.writeFile(tmp, contents);
  await fs.rename(tmp, p);
}

describe('ImageCache', () => {
  it('two acquires of an unchanged file share one copy in a SharedArrayBuffer, loaded once', async () => {
    const p = await file('firmware image v1');
    const cache = new ImageCache();
    const a = await cache.acquire(p);
    const b = await cache.acquire(p);
    expect(b.file).toBe(a.file);
    expect(b.file.bytes).toBe(a.file.bytes);
    expect(a.file.bytes.buffer).toBe(b.file.bytes.buffer);
    expect(a.file.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.file.bytes.toString()).toBe('firmware image v1');
    expect(a.file.size).toBe(17);
    expect(a.file.path).toBe(p);
    expect(cache.stats()).toEqual({ entries: 1, bytes: 17, loads: 1, hits: 1, derived: 0 });
    a.release();
    b.release();
    // still cached while unreferenced: the next acquire is another hit
    const c = await cache.acquire(p);
    expect(c.file.bytes).toBe(a.file.bytes);
    expect(cache.stats()).toMatchObject({ entries: 1, loads: 1, hits: 2 });
    c.release();
  });

  it('concurrent acquires of the same file share a single load', async () => {
    const p = await file(Buffer.alloc(100_000, 0x5a));
    const cache = new ImageCache();
    const leases = await Promise.all([cache.acquire(p), cache.acquire(p), cache.acquire(p)]);
    expect(leases[1].file.bytes).toBe(leases[0].file.bytes);
    expect(leases[2].file.bytes).toBe(leases[0].file.bytes);
    expect(cache.stats()).toEqual({ entries: 1, bytes: 100_000, loads: 1, hits: 2, derived: 0 });
    expect(leases[0].file.bytes.equals(Buffer.alloc(100_000, 0x5a))).toBe(true);
    for (const l of leases) l.release();
  });

  it('an empty file is cached too', async () => {
    const p = await file('');
    const cache = new ImageCache();
    const l = await cache.acquire(p);
    expect(l.file.size).toBe(0);
    expect(l.file.bytes.length).toBe(0);
    l.release();
  });

  it('a file replaced by rename gets a new entry; a lease on the old one keeps the old bytes', async () => {
    const p = await file('old contents');
    const cache = new ImageCache();
    const old = await cache.acquire(p);
    const oldBytes = old.file.bytes;

    await replaceByRename(p, 'new contents, longer');
    const fresh = await cache.acquire(p);
    expect(fresh.file.bytes).not.toBe(oldBytes);
    expect(fresh.file.bytes.toString()).toBe('new contents, longer');
    expect(fresh.file.ino).not.toBe(old.file.ino);
    expect(old.file.bytes.toString()).toBe('old contents');
    expect(cache.stats()).toMatchObject({ entries: 2, loads: 2, hits: 0, bytes: 12 + 20 });

    // the superseded entry goes as soon as its last lease ends
    old.release();
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 20 });
    expect(old.file.bytes.toString()).toBe('old contents'); // the lease's view stays valid memory

    // the current one stays cached after release
    fresh.release();
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 20 });
    const again = await cache.acquire(p);
    expect(again.file.bytes).toBe(fresh.file.bytes);
    expect(cache.stats()).toMatchObject({ loads: 2, hits: 1 });
    again.release();
  });

  it('a file rewritten in place with new content and mtime gets a new entry', async () => {
    const p = await file('AAAA-version-1');
    await fs.utimes(p, new Date('2024-01-01T00:00:00Z'), new Date('2024-01-01T00:00:00Z'));
    const cache = new ImageCache();
    const old = await cache.acquire(p);
    const ino = old.file.ino;

    await fs.writeFile(p, 'BBBB-version-2'); // same size, same inode
    await fs.utimes(p, new Date('2024-06-01T00:00:00Z'), new Date('2024-06-01T00:00:00Z'));
    const fresh = await cache.acquire(p);
    expect(fresh.file.ino).toBe(ino);
    expect(fresh.file.bytes.toString()).toBe('BBBB-version-2');
    expect(fresh.file.mtimeMs).not.toBe(old.file.mtimeMs);
    expect(old.file.bytes.toString()).toBe('AAAA-version-1');
    expect(cache.stats()).toMatchObject({ entries: 2, loads: 2 });

    old.release();
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 14 });
    fresh.release();
  });

  it('a superseded entry with no lease is dropped when the new one is acquired', async () => {
    const p = await file('v1');
    const cache = new ImageCache();
    (await cache.acquire(p)).release();
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 2 });
    await replaceByRename(p, 'v2!');
    const l = await cache.acquire(p);
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 3, loads: 2 });
    l.release();
  });

  it('a superseded entry is kept while any of several leases holds it', async () => {
    const p = await file('one');
    const cache = new ImageCache();
    const a = await cache.acquire(p);
    const b = await cache.acquire(p);
    await replaceByRename(p, 'two');
    const c = await cache.acquire(p);
    expect(cache.stats().entries).toBe(2);
    a.release();
    a.release(); // a second release is a no-op, not a second decrement
    expect(cache.stats().entries).toBe(2);
    expect(b.file.bytes.toString()).toBe('one');
    b.release();
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 3 });
    c.release();
  });

  it('past maxBytes the least recently used unreferenced entries are evicted', async () => {
    const [pa, pb, pc] = [
      await file(Buffer.alloc(60, 1)),
      await file(Buffer.alloc(60, 2)),
      await file(Buffer.alloc(60, 3)),
    ];
    const cache = new ImageCache(150);
    (await cache.acquire(pa)).release(); // 60
    (await cache.acquire(pb)).release(); // 120
    (await cache.acquire(pa)).release(); // a is now more recent than b
    expect(cache.stats()).toEqual({ entries: 2, bytes: 120, loads: 2, hits: 1, derived: 0 });
    (await cache.acquire(pc)).release(); // 180 > 150: b (least recent) goes
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 120, loads: 3 });

    // a and c are still cached, b is loaded again
    (await cache.acquire(pa)).release();
    (await cache.acquire(pc)).release();
    expect(cache.stats()).toMatchObject({ loads: 3, hits: 3 });
    (await cache.acquire(pb)).release(); // b again; a is now the least recent
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 120, loads: 4 });
    (await cache.acquire(pc)).release();
    expect(cache.stats()).toMatchObject({ loads: 4, hits: 4 });
  });

  it('eviction never drops an entry that is leased', async () => {
    const [pa, pb, pc] = [
      await file(Buffer.alloc(80, 1)),
      await file(Buffer.alloc(80, 2)),
      await file(Buffer.alloc(80, 3)),
    ];
    const cache = new ImageCache(100);
    const a = await cache.acquire(pa); // oldest, but held
    const b = await cache.acquire(pb); // held
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 160 });
    const c = await cache.acquire(pc);
    c.release(); // over budget: only c is unreferenced, so only c goes
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 160 });
    expect(a.file.bytes.equals(Buffer.alloc(80, 1))).toBe(true);
    expect(b.file.bytes.equals(Buffer.alloc(80, 2))).toBe(true);
    const a2 = await cache.acquire(pa);
    expect(a2.file.bytes).toBe(a.file.bytes); // still the cached copy
    expect(cache.stats()).toMatchObject({ loads: 3, hits: 1 });
    a.release();
    a2.release(); // now a is unreferenced and the cache is over budget: a goes, b (leased) stays
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 80 });
    b.release(); // 80 <= 100: b stays cached
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 80 });
    (await cache.acquire(pb)).release();
    expect(cache.stats()).toMatchObject({ loads: 3, hits: 2 });
  });

  it('memo computes a derived value once per file version, kept with its copy', async () => {
    const p = await file('a\nb\nc\n');
    const cache = new ImageCache();
    let scans = 0;
    const lines = (b: Buffer) => (scans++, b.filter((c) => c === 10).length);
    const leases = await Promise.all(Array.from({ length: 50 }, () => cache.acquire(p)));
    for (const l of leases) expect(l.file.memo('lines', lines)).toBe(3);
    expect(scans).toBe(1);
    // A new version of the file gets its own value.
    await replaceByRename(p, 'one line\n');
    const fresh = await cache.acquire(p);
    expect(fresh.file.memo('lines', lines)).toBe(1);
    expect(leases[0]!.file.memo('lines', lines)).toBe(3); // old transfers keep the old version's
    expect(scans).toBe(2);
    expect(cache.stats().derived).toBe(2);
    for (const l of [...leases, fresh]) l.release();
  });

  it('a missing file rejects and leaves the cache unchanged', async () => {
    const cache = new ImageCache();
    await expect(cache.acquire(path.join(dir, 'missing.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(cache.stats()).toEqual({ entries: 0, bytes: 0, loads: 0, hits: 0, derived: 0 });
  });

  it('a file deleted after being cached rejects on the next acquire', async () => {
    const p = await file('here today');
    const cache = new ImageCache();
    (await cache.acquire(p)).release();
    await fs.unlink(p);
    await expect(cache.acquire(p)).rejects.toThrow();
  });
});
