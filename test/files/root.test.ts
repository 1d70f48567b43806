import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openRoot, resolveForRead, resolveForWrite, type Resolved } from '../../packages/core/src/files/root.js';

let base: string; // holds root/ and outside/
let root: string; // real path of the served root
let outside: string;

beforeAll(async () => {
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'bootwire-root-'));
  const rootDir = path.join(base, 'root');
  outside = path.join(base, 'outside');
  await fs.mkdir(path.join(rootDir, 'sub', 'deeper'), { recursive: true });
  await fs.mkdir(outside);
  await fs.writeFile(path.join(rootDir, 'file.txt'), 'top');
  await fs.writeFile(path.join(rootDir, 'sub', 'file.bin'), 'sub');
  await fs.writeFile(path.join(rootDir, 'sub', 'deeper', 'x'), 'deep');
  await fs.writeFile(path.join(rootDir, 'back\\slash'), 'posix allows it');
  await fs.writeFile(path.join(outside, 'secret.txt'), 'secret');
  await fs.symlink('file.txt', path.join(rootDir, 'link-in')); // relative, inside
  await fs.symlink(path.join(rootDir, 'sub', 'file.bin'), path.join(rootDir, 'link-in-abs')); // absolute, inside
  await fs.symlink(path.join(outside, 'secret.txt'), path.join(rootDir, 'link-out'));
  await fs.symlink('../outside/secret.txt', path.join(rootDir, 'link-out-rel'));
  await fs.symlink('/etc/hostname', path.join(rootDir, 'hostname'));
  await fs.symlink(outside, path.join(rootDir, 'dir-out')); // a directory outside
  await fs.symlink('sub', path.join(rootDir, 'dir-in')); // a directory inside
  await fs.symlink('missing-target', path.join(rootDir, 'dangling'));
  // A sibling whose name starts with the root's name: `${root}-evil` is not inside `${root}`.
  await fs.mkdir(path.join(base, 'root-evil'));
  await fs.writeFile(path.join(base, 'root-evil', 'file.txt'), 'evil');
  await fs.mkdir(path.join(rootDir, '-evil'));
  await fs.writeFile(path.join(rootDir, '-evil', 'file.txt'), 'decoy');
  await fs.symlink(path.join(base, 'root-evil', 'file.txt'), path.join(rootDir, 'link-sibling'));
  await fs.symlink(path.join(base, 'root-evil'), path.join(rootDir, 'dir-sibling'));
  root = await openRoot(rootDir);
});

afterAll(async () => {
  if (base) await fs.rm(base, { recursive: true, force: true });
});

function expectOk(r: Resolved, relative: string): void {
  expect(r).toEqual({ ok: true, path: path.join(root, relative), relative });
}

function expectFail(r: Resolved, reason: 'forbidden' | 'not-found'): void {
  expect(r.ok).toBe(false);
  if (!r.ok) {
    expect(r.reason).toBe(reason);
    expect(r.message.length).toBeGreaterThan(0);
  }
}

describe('openRoot', () => {
  it('returns the real path of a directory', async () => {
    expect(root).toBe(await fs.realpath(path.join(base, 'root')));
    expect(path.isAbsolute(root)).toBe(true);
  });

  it('follows a symlinked root to its real path', async () => {
    const link = path.join(base, 'root-link');
    await fs.symlink(path.join(base, 'root'), link);
    expect(await openRoot(link)).toBe(root);
  });

  it('throws a clear message for a missing directory', async () => {
    const missing = path.join(base, 'nope');
    await expect(openRoot(missing)).rejects.toThrow(`root ${missing} does not exist`);
  });

  it('throws a clear message for a file', async () => {
    const file = path.join(base, 'root', 'file.txt');
    await expect(openRoot(file)).rejects.toThrow(`root ${file} is not a directory`);
  });
});

describe('resolveForRead', () => {
  it('a plain file', async () => {
    expectOk(await resolveForRead(root, 'file.txt'), 'file.txt');
  });

  it('a file in a subdirectory', async () => {
    expectOk(await resolveForRead(root, 'sub/file.bin'), path.join('sub', 'file.bin'));
    expectOk(await resolveForRead(root, 'sub/deeper/x'), path.join('sub', 'deeper', 'x'));
  });

  it('redundant slashes and `.` segments are ignored', async () => {
    expectOk(await resolveForRead(root, './file.txt'), 'file.txt');
    expectOk(await resolveForRead(root, 'sub//./file.bin'), path.join('sub', 'file.bin'));
  });

  it('a leading / is relative to the root', async () => {
    expectOk(await resolveForRead(root, '/file.txt'), 'file.txt');
    expectOk(await resolveForRead(root, '/sub/file.bin'), path.join('sub', 'file.bin'));
    expectOk(await resolveForRead(root, '//sub/file.bin'), path.join('sub', 'file.bin'));
  });

  it("the root's own absolute path as a prefix is accepted", async () => {
    expectOk(await resolveForRead(root, `${root}/file.txt`), 'file.txt');
    expectOk(await resolveForRead(root, `${root}/sub/file.bin`), path.join('sub', 'file.bin'));
  });

  it('a name that only starts like the root is not the root', async () => {
    // `${root}x/...` is not below the root: it is taken as root-relative and does not exist there.
    expectFail(await resolveForRead(root, `${root}x/file.txt`), 'forbidden');
  });

  it("a sibling directory sharing the root's name as a prefix is outside", async () => {
    // Must not be read as `${root}` + '-evil/file.txt' (which exists inside the root as a decoy).
    expectFail(await resolveForRead(root, `${root}-evil/file.txt`), 'forbidden');
    expectOk(await resolveForRead(root, '-evil/file.txt'), path.join('-evil', 'file.txt'));
    expectFail(await resolveForRead(root, 'link-sibling'), 'forbidden');
    expectFail(await resolveForRead(root, 'dir-sibling/file.txt'), 'forbidden');
    expectFail(await resolveForWrite(root, 'dir-sibling/new.bin'), 'forbidden');
  });

  it('the root itself, through its absolute path, is forbidden', async () => {
    expectFail(await resolveForRead(root, root), 'forbidden');
    expectFail(await resolveForRead(root, `${root}/`), 'forbidden');
  });

  it('`..` anywhere is forbidden', async () => {
    for (const name of [
      '..',
      '../x',
      'a/../../x',
      'sub/../file.txt',
      '/../etc/passwd',
      `${root}/../outside/secret.txt`,
      'sub/..',
    ]) {
      expectFail(await resolveForRead(root, name), 'forbidden');
    }
  });

  it('a Windows-style `..\\` is forbidden', async () => {
    for (const name of ['..\\x', 'sub\\..\\..\\outside\\secret.txt', '\\..\\x', 'a/..\\b']) {
      expectFail(await resolveForRead(root, name), 'forbidden');
    }
  });

  it('a backslash is otherwise an ordinary file name character', async () => {
    expectOk(await resolveForRead(root, 'back\\slash'), 'back\\slash');
  });

  it('a NUL is forbidden', async () => {
    expectFail(await resolveForRead(root, 'file.txt\0'), 'forbidden');
    expectFail(await resolveForRead(root, 'fi\0le.txt'), 'forbidden');
    expectFail(await resolveForRead(root, '\0'), 'forbidden');
  });

  it('a missing relative name is not found', async () => {
    expectFail(await resolveForRead(root, 'missing.bin'), 'not-found');
    expectFail(await resolveForRead(root, 'sub/missing.bin'), 'not-found');
    expectFail(await resolveForRead(root, 'nodir/missing.bin'), 'not-found');
    expectFail(await resolveForRead(root, 'file.txt/x'), 'not-found'); // ENOTDIR
  });

  it('a missing absolute name is forbidden (it names something outside the root)', async () => {
    expectFail(await resolveForRead(root, '/etc/passwd'), 'forbidden');
    expectFail(await resolveForRead(root, '/missing.bin'), 'forbidden');
    expectFail(await resolveForRead(root, `${root}/missing.bin`), 'forbidden');
  });

  it('a symlink to a file inside the root resolves to the target', async () => {
    expectOk(await resolveForRead(root, 'link-in'), 'file.txt');
    expectOk(await resolveForRead(root, 'link-in-abs'), path.join('sub', 'file.bin'));
    expectOk(await resolveForRead(root, 'dir-in/deeper/x'), path.join('sub', 'deeper', 'x'));
  });

  it('a symlink leading outside the root is forbidden', async () => {
    expectFail(await resolveForRead(root, 'link-out'), 'forbidden');
    expectFail(await resolveForRead(root, 'link-out-rel'), 'forbidden');
    expectFail(await resolveForRead(root, 'hostname'), 'forbidden'); // -> /etc/hostname
    expectFail(await resolveForRead(root, 'dir-out/secret.txt'), 'forbidden');
    expectFail(await resolveForRead(root, '/dir-out/secret.txt'), 'forbidden');
  });

  it('a dangling symlink is not found', async () => {
    expectFail(await resolveForRead(root, 'dangling'), 'not-found');
  });

  it('a directory is forbidden', async () => {
    expectFail(await resolveForRead(root, 'sub'), 'forbidden');
    expectFail(await resolveForRead(root, 'sub/deeper/'), 'forbidden');
    expectFail(await resolveForRead(root, 'dir-in'), 'forbidden');
  });

  it('the empty name and / are forbidden', async () => {
    for (const name of ['', '/', '//', '.', './', '/./']) {
      expectFail(await resolveForRead(root, name), 'forbidden');
    }
  });
});

describe('resolveForWrite', () => {
  it('a new file in the root', async () => {
    expectOk(await resolveForWrite(root, 'upload.bin'), 'upload.bin');
    expectOk(await resolveForWrite(root, '/upload.bin'), 'upload.bin');
    expectOk(await resolveForWrite(root, `${root}/upload.bin`), 'upload.bin');
  });

  it('a new file in an existing subdirectory', async () => {
    expectOk(await resolveForWrite(root, 'sub/deeper/new.cfg'), path.join('sub', 'deeper', 'new.cfg'));
  });

  it('an existing regular file (to be replaced)', async () => {
    expectOk(await resolveForWrite(root, 'file.txt'), 'file.txt');
  });

  it('a file in a missing directory is forbidden', async () => {
    expectFail(await resolveForWrite(root, 'nodir/new.bin'), 'forbidden');
    expectFail(await resolveForWrite(root, 'sub/nodir/new.bin'), 'forbidden');
  });

  it('a symlink as the target is forbidden, wherever it points', async () => {
    expectFail(await resolveForWrite(root, 'link-in'), 'forbidden');
    expectFail(await resolveForWrite(root, 'link-out'), 'forbidden');
    expectFail(await resolveForWrite(root, 'dangling'), 'forbidden');
  });

  it('a directory as the target is forbidden', async () => {
    expectFail(await resolveForWrite(root, 'sub'), 'forbidden');
  });

  it('a directory symlinked outside the root is forbidden', async () => {
    expectFail(await resolveForWrite(root, 'dir-out/new.bin'), 'forbidden');
  });

  it('a directory symlinked inside the root resolves to its real path', async () => {
    expectOk(await resolveForWrite(root, 'dir-in/new.bin'), path.join('sub', 'new.bin'));
  });

  it('`..`, NUL, the empty name and / are forbidden', async () => {
    for (const name of ['..', '../new.bin', 'sub/../../new.bin', '..\\new.bin', 'new\0.bin', '', '/', '.']) {
      expectFail(await resolveForWrite(root, name), 'forbidden');
    }
  });

  it('resolving for write creates nothing', async () => {
    await resolveForWrite(root, 'never-created.bin');
    await expect(fs.lstat(path.join(root, 'never-created.bin'))).rejects.toThrow();
  });
});
