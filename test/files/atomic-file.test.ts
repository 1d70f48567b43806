import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AtomicFile, FileExistsError } from '../../packages/core/src/files/atomic-file.js';
import { mountTmpfs } from '../helpers/tmpfs.js';

let base: string;
let n = 0;

beforeAll(async () => {
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'bootwire-atomic-'));
});

afterAll(async () => {
  if (base) await fs.rm(base, { recursive: true, force: true });
});

/** A fresh empty directory for one test, so directory listings are exact. */
async function freshDir(): Promise<string> {
  const d = path.join(base, `t${n++}`);
  await fs.mkdir(d);
  return d;
}

const exists = (p: string) =>
  fs.lstat(p).then(
    () => true,
    () => false,
  );
const list = async (d: string) => (await fs.readdir(d)).sort();
/** Lets queued writes reach the disk. */
const settle = () => new Promise((r) => setTimeout(r, 20));

describe('AtomicFile', () => {
  it('nothing appears under the target name until commit', async () => {
    const d = await freshDir();
    const target = path.join(d, 'upload.bin');
    const f = await AtomicFile.create(target, { overwrite: false });
    expect(f.target).toBe(target);
    expect(path.dirname(f.tempPath)).toBe(d);
    expect(path.basename(f.tempPath)).not.toBe('upload.bin');
    expect(path.basename(f.tempPath).startsWith('.')).toBe(true); // hidden
    void f.write(Buffer.from('part one, '));
    void f.write(Buffer.from('part two'));
    await settle();
    expect(await exists(target)).toBe(false);
    expect(await list(d)).toEqual([path.basename(f.tempPath)]);
    await f.commit();
    expect(await list(d)).toEqual(['upload.bin']);
    expect(await fs.readFile(target, 'utf8')).toBe('part one, part two');
  });

  it('commit puts the exact bytes of many writes in order', async () => {
    const d = await freshDir();
    const target = path.join(d, 'image.sbn');
    const f = await AtomicFile.create(target, { overwrite: false });
    const chunks: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      const c = randomBytes(1 + ((i * 7919) % 1500));
      chunks.push(c);
      void f.write(c);
    }
    void f.write(new Uint8Array(0)); // empty writes are ignored
    void f.write(new Uint8Array([1, 2, 3])); // plain Uint8Array
    chunks.push(Buffer.from([1, 2, 3]));
    await f.commit();
    const got = await fs.readFile(target);
    expect(got.equals(Buffer.concat(chunks))).toBe(true);
    expect(await list(d)).toEqual(['image.sbn']);
  });

  it('commit of nothing written makes an empty file', async () => {
    const d = await freshDir();
    const target = path.join(d, 'empty');
    const f = await AtomicFile.create(target, { overwrite: true });
    await f.commit();
    expect((await fs.readFile(target)).length).toBe(0);
    expect(await list(d)).toEqual(['empty']);
  });

  it('abort leaves no file and no temporary file', async () => {
    const d = await freshDir();
    const target = path.join(d, 'upload.bin');
    const f = await AtomicFile.create(target, { overwrite: false });
    void f.write(Buffer.alloc(10_000, 1));
    void f.write(Buffer.alloc(10_000, 2));
    await f.abort();
    expect(await list(d)).toEqual([]);
    await f.abort(); // safe twice
    expect(await list(d)).toEqual([]);
  });

  it('writes and commit after abort do nothing', async () => {
    const d = await freshDir();
    const target = path.join(d, 'upload.bin');
    const f = await AtomicFile.create(target, { overwrite: true });
    await f.abort();
    void f.write(Buffer.from('late'));
    await f.commit();
    expect(await list(d)).toEqual([]);
  });

  it('a second commit is a no-op', async () => {
    const d = await freshDir();
    const target = path.join(d, 'x');
    const f = await AtomicFile.create(target, { overwrite: false });
    void f.write(Buffer.from('x'));
    await f.commit();
    void f.write(Buffer.from('more'));
    await f.commit();
    expect(await fs.readFile(target, 'utf8')).toBe('x');
    expect(await list(d)).toEqual(['x']);
  });

  it('create with overwrite=false on an existing file throws FileExistsError and creates nothing', async () => {
    const d = await freshDir();
    const target = path.join(d, 'existing.cfg');
    await fs.writeFile(target, 'original');
    const err = await AtomicFile.create(target, { overwrite: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileExistsError);
    expect(err).toBeInstanceOf(Error);
    expect((err as FileExistsError).code).toBe('EEXIST');
    expect(await list(d)).toEqual(['existing.cfg']);
    expect(await fs.readFile(target, 'utf8')).toBe('original');
  });

  it('create with overwrite=false refuses a dangling symlink too', async () => {
    const d = await freshDir();
    const target = path.join(d, 'link');
    await fs.symlink(path.join(d, 'nowhere'), target);
    await expect(AtomicFile.create(target, { overwrite: false })).rejects.toBeInstanceOf(FileExistsError);
  });

  it(
    'commit with overwrite=false when the target appeared meanwhile throws FileExistsError and ' + 'cleans up',
    async () => {
      const d = await freshDir();
      const target = path.join(d, 'race.bin');
      const f = await AtomicFile.create(target, { overwrite: false });
      void f.write(Buffer.from('mine'));
      await fs.writeFile(target, 'theirs'); // another writer got there first
      await expect(f.commit()).rejects.toBeInstanceOf(FileExistsError);
      expect(await fs.readFile(target, 'utf8')).toBe('theirs');
      expect(await list(d)).toEqual(['race.bin']); // no temporary file left
    },
  );

  it('overwrite=true replaces an existing file atomically', async () => {
    const d = await freshDir();
    const target = path.join(d, 'SEP0011.cnf.xml');
    await fs.writeFile(target, 'old configuration');
    const f = await AtomicFile.create(target, { overwrite: true });
    void f.write(Buffer.from('new '));
    void f.write(Buffer.from('configuration'));
    await settle();
    expect(await fs.readFile(target, 'utf8')).toBe('old configuration'); // untouched until commit
    await f.commit();
    expect(await fs.readFile(target, 'utf8')).toBe('new configuration');
    expect(await list(d)).toEqual(['SEP0011.cnf.xml']);
  });

  it('overwrite=true also succeeds when the target appears meanwhile', async () => {
    const d = await freshDir();
    const target = path.join(d, 't');
    const f = await AtomicFile.create(target, { overwrite: true });
    void f.write(Buffer.from('final'));
    await fs.writeFile(target, 'intermediate');
    await f.commit();
    expect(await fs.readFile(target, 'utf8')).toBe('final');
    expect(await list(d)).toEqual(['t']);
  });

  it('two uploads to the same name use different temporary files', async () => {
    const d = await freshDir();
    const target = path.join(d, 'same');
    const a = await AtomicFile.create(target, { overwrite: true });
    const b = await AtomicFile.create(target, { overwrite: true });
    expect(a.tempPath).not.toBe(b.tempPath);
    void a.write(Buffer.from('a'));
    void b.write(Buffer.from('b'));
    await a.commit();
    await b.commit();
    expect(await fs.readFile(target, 'utf8')).toBe('b');
    expect(await list(d)).toEqual(['same']);
  });

  it('create in a missing directory rejects', async () => {
    const d = await freshDir();
    await expect(AtomicFile.create(path.join(d, 'nodir', 'x'), { overwrite: true })).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});

describe('AtomicFile: durability, reservations and names', () => {
  it('write resolves once its bytes are in the temporary file', async () => {
    const d = await freshDir();
    const f = await AtomicFile.create(path.join(d, 'w.bin'), { overwrite: false });
    const a = randomBytes(3000);
    const b = randomBytes(5000);
    const pa = f.write(a);
    const pb = f.write(b);
    await pa;
    // Read at once, synchronously: nothing else may run between the resolution and the check.
    expect(readFileSync(f.tempPath).subarray(0, 3000).equals(a)).toBe(true);
    await pb;
    expect(readFileSync(f.tempPath).equals(Buffer.concat([a, b]))).toBe(true);
    await f.abort();
  });

  it('a new name is reserved from create: a second writer is refused at once, until the first ends', async () => {
    const d = await freshDir();
    const target = path.join(d, 'new.cfg');
    const first = await AtomicFile.create(target, { overwrite: false });
    await expect(AtomicFile.create(target, { overwrite: false })).rejects.toBeInstanceOf(FileExistsError);
    expect(await list(d)).toEqual([path.basename(first.tempPath)]); // the refused one made nothing
    await first.abort();
    const second = await AtomicFile.create(target, { overwrite: false });
    await second.write(Buffer.from('second'));
    await second.commit();
    await expect(AtomicFile.create(target, { overwrite: false })).rejects.toBeInstanceOf(FileExistsError);
    expect(await fs.readFile(target, 'utf8')).toBe('second');
  });

  it('names of 237 to 255 bytes work; 256 bytes is refused at create, not at commit', async () => {
    const d = await freshDir();
    for (const n of [237, 250, 255]) {
      const target = path.join(d, 'n'.repeat(n));
      const f = await AtomicFile.create(target, { overwrite: false });
      expect(path.basename(f.tempPath).length).toBeLessThan(40);
      await f.write(Buffer.from(String(n)));
      await f.commit();
      expect(await fs.readFile(target, 'utf8')).toBe(String(n));
    }
    await expect(AtomicFile.create(path.join(d, 'n'.repeat(256)), { overwrite: false })).rejects.toMatchObject({
      code: 'ENAMETOOLONG',
    });
    await expect(AtomicFile.create(path.join(d, 'm'.repeat(256)), { overwrite: true })).rejects.toMatchObject({
      code: 'ENAMETOOLONG',
    });
    expect((await list(d)).filter((x) => x.startsWith('.'))).toEqual([]);
  });

  it('commit fsyncs the file before it appears and the directory after', async () => {
    const d = await freshDir();
    const target = path.join(d, 'durable.bin');
    const f = await AtomicFile.create(target, { overwrite: false });
    const proto = Object.getPrototypeOf((f as unknown as { handle: object }).handle) as { sync: () => Promise<void> };
    const events: string[] = [];
    const realSync = proto.sync;
    proto.sync = async function (this: unknown) {
      events.push(`sync, target ${(await exists(target)) ? 'present' : 'absent'}`);
      return realSync.call(this);
    };
    try {
      void f.write(Buffer.from('bytes'));
      await f.commit();
    } finally {
      proto.sync = realSync;
    }
    expect(events).toEqual(['sync, target absent', 'sync, target present']);
  });
});

describe('AtomicFile on a full disk', () => {
  it('ENOSPC fails the write and the commit, and leaves nothing behind', async (ctx) => {
    const fsmall = mountTmpfs(ctx, 500);
    try {
      const target = path.join(fsmall.dir, 'big.bin');
      const f = await AtomicFile.create(target, { overwrite: false });
      const writes = Array.from({ length: 64 }, () => f.write(randomBytes(16 * 1024)));
      const outcomes = await Promise.allSettled(writes);
      const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(failed.length).toBeGreaterThan(0);
      expect((failed[0]!.reason as NodeJS.ErrnoException).code).toBe('ENOSPC');
      // Writes before the disk filled succeeded; none after the first failure did.
      const firstFail = outcomes.findIndex((o) => o.status === 'rejected');
      expect(outcomes.slice(firstFail).every((o) => o.status === 'rejected')).toBe(true);
      await expect(f.commit()).rejects.toMatchObject({ code: 'ENOSPC' });
      expect(await fs.readdir(fsmall.dir)).toEqual([]);
      // The name is free again.
      const again = await AtomicFile.create(target, { overwrite: false });
      await again.write(Buffer.from('small'));
      await again.commit();
      expect(await fs.readFile(target, 'utf8')).toBe('small');
    } finally {
      fsmall.unmount();
    }
  });
});
