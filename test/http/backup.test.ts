/**
 * Backup areas of the HTTP server (Avaya BRURI): curl PUT/GET/HEAD/DELETE with and without Basic
 * auth, the size cap, hostile names, nothing half-written ever visible, HTTPS, and a server killed
 * with SIGKILL right after a 201 that still has the whole file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTargetOf, normalizePrefix } from '../../packages/http/src/backup-target.js';
import { HttpBackupStore } from '../../packages/http/src/backup.js';
import { HttpFileServer } from '../../packages/http/src/server.js';
import { needBinary, PEERS, run, sha256 } from '../helpers/peers.js';
import { curl, rawRequest, scratchDir, selfSigned } from './helpers.js';

const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));
const OPENSSL = needBinary('openssl', 'openssl');

let dir: string;
let root: string;
let open: string;
let locked: string;
let server: HttpFileServer;
let base: string;
const MAX = 64 * 1024;

/** Files in a backup directory, hidden ones (temporary files) included. */
const listing = async (d: string) => (await fs.readdir(d)).sort();

beforeAll(async () => {
  dir = await scratchDir('bw-backup-');
  root = path.join(dir, 'root');
  open = path.join(dir, 'open');
  locked = path.join(dir, 'locked');
  for (const d of [root, open, locked]) await fs.mkdir(d);
  await fs.writeFile(path.join(root, '46xxsettings.txt'), 'SET BRURI http://10.77.0.1/backup/\n');
  const backup = await HttpBackupStore.open({
    areas: [
      { prefix: '/backup/', dir: open },
      { prefix: '/secure', dir: locked, users: [{ user: '299', password: 'p:a:ss' }] },
    ],
    maxBytes: MAX,
  });
  server = await HttpFileServer.start({ root, http: { host: '127.0.0.1', port: 0 }, backup });
  base = `http://127.0.0.1:${server.address('http')!.port}`;
});

afterAll(async () => {
  await server?.close(0);
  await fs.rm(dir, { recursive: true, force: true });
});

describe('names (pure)', () => {
  const P = ['/backup/', '/a/b/'];
  it('maps one segment below a prefix, and nothing else', () => {
    expect(backupTargetOf('/backup/299_16xxdata.txt', P)).toEqual({ ok: true, area: 0, name: '299_16xxdata.txt' });
    expect(backupTargetOf('http://10.77.0.1:80/a/b/x.txt?q=1', P)).toEqual({ ok: true, area: 1, name: 'x.txt' });
    expect(backupTargetOf('/backupx/y', P)).toBeUndefined();
    expect(backupTargetOf('/46xxsettings.txt', P)).toBeUndefined();
    expect(backupTargetOf('/backup', P)).toMatchObject({ ok: false, status: 404 });
  });
  it('refuses hostile names with 400 or 403', () => {
    const st = (t: string) => (backupTargetOf(t, P) as { status?: number }).status;
    expect(st('/backup/a/b')).toBe(403);
    expect(st('/backup/a%2Fb')).toBe(403);
    expect(st('/backup/..%2Fetc')).toBe(403);
    expect(st('/backup/%2e%2e')).toBe(403);
    expect(st('/backup/.bootwire-x.part')).toBe(403);
    expect(st('/backup/a%5Cb')).toBe(403);
    expect(st('/backup/a%00b')).toBe(400);
    expect(st('/backup/a%0Ab')).toBe(400);
    expect(st('/backup/a%7Fb')).toBe(400);
    expect(st('/backup/%zz')).toBe(400);
    expect(st(`/backup/${'x'.repeat(256)}`)).toBe(400);
  });
  it('normalizes prefixes and refuses the root', () => {
    expect(normalizePrefix('backup')).toBe('/backup/');
    expect(() => normalizePrefix('/')).toThrow(/root/);
    expect(() => normalizePrefix('/a/../b')).toThrow();
  });
});

describe('curl PUT, GET, HEAD, DELETE', () => {
  it('stores a PUT (201), replaces it (204), reads it back, deletes it', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const local = path.join(dir, 'data1.txt');
    const v1 = Buffer.from('ABKNAME001=Reception\r\nABKNUMBER001=2000\r\n');
    await fs.writeFile(local, v1);
    const put = await curl(bin, ['-T', local, `${base}/backup/299_16xxdata.txt`], dir);
    expect(put.status).toBe(201);
    expect((await fs.readFile(path.join(open, '299_16xxdata.txt'))).equals(v1)).toBe(true);
    const get = await curl(bin, [`${base}/backup/299_16xxdata.txt`], dir);
    expect(get.status).toBe(200);
    expect(get.body.equals(v1)).toBe(true);
    const v2 = randomBytes(MAX); // exactly the cap
    await fs.writeFile(local, v2);
    expect((await curl(bin, ['-T', local, `${base}/backup/299_16xxdata.txt`], dir)).status).toBe(204);
    const head = await curl(bin, ['-I', `${base}/backup/299_16xxdata.txt`], dir);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(MAX));
    expect(sha256((await curl(bin, [`${base}/backup/299_16xxdata.txt`], dir)).body)).toBe(sha256(v2));
    expect((await curl(bin, ['-X', 'DELETE', `${base}/backup/299_16xxdata.txt`], dir)).status).toBe(204);
    expect((await curl(bin, [`${base}/backup/299_16xxdata.txt`], dir)).status).toBe(404);
    expect((await curl(bin, ['-X', 'DELETE', `${base}/backup/299_16xxdata.txt`], dir)).status).toBe(404);
    expect(await listing(open)).toEqual([]);
  });

  it('refuses a PUT over the cap with 413 and stores nothing (Content-Length and chunked)', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const local = path.join(dir, 'big.txt');
    await fs.writeFile(local, randomBytes(MAX + 1));
    const a = await curl(bin, ['-T', local, `${base}/backup/big.txt`], dir);
    expect(a.status).toBe(413);
    const b = await run(
      bin,
      ['-sS', '-m', '20', '-o', '/dev/null', '-w', '%{http_code}', '-T', '-', `${base}/backup/chunked.txt`],
      { input: randomBytes(4 * MAX) },
    );
    expect(b.stdout.toString()).toBe('413');
    expect(await listing(open)).toEqual([]);
  });

  it('answers Expect: 100-continue only for a PUT it may store (413 and 401 come before the body)', async () => {
    const port = server.address('http')!.port;
    const big = await rawRequest(
      port,
      `PUT /backup/e.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${MAX + 1}\r\n\r\n`,
    );
    expect(big.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(big.closedByServer).toBe(true);
    const noAuth = await rawRequest(
      port,
      'PUT /secure/e.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n',
    );
    expect(noAuth.head).toMatch(/^HTTP\/1\.1 401 /);
    const ok = await rawRequest(
      port,
      'PUT /backup/e.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n',
      { waitMs: 500 },
    );
    expect(ok.raw.toString('latin1')).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
    // That client then left without its body: the temporary file goes with it.
    for (let i = 0; i < 50 && (await listing(open)).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await listing(open)).toEqual([]);
  });

  it('refuses hostile names (400/403) and writes nothing anywhere', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const local = path.join(dir, 'small.txt');
    await fs.writeFile(local, 'x=1\n');
    const cases: [string, number][] = [
      ['/backup/a%2Fb', 403],
      ['/backup/../46xxsettings.txt', 403],
      ['/backup/%2e%2e', 403],
      ['/backup/.hidden', 403],
      ['/backup/a%00b', 400],
      ['/backup/a%01b', 400],
      ['/backup/', 404],
    ];
    for (const [target, status] of cases) {
      // -X PUT with a body: `-T` would append the local name to a URL ending in `/`.
      const r = await curl(bin, ['--path-as-is', '-X', 'PUT', '--data-binary', `@${local}`, `${base}${target}`], dir);
      expect(r.status, target).toBe(status);
    }
    expect(await listing(open)).toEqual([]);
    expect(await fs.readFile(path.join(root, '46xxsettings.txt'), 'utf8')).toBe('SET BRURI http://10.77.0.1/backup/\n');
  });

  it('keeps every other path read-only: 405 with Allow', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const local = path.join(dir, 'small.txt');
    await fs.writeFile(local, 'x=1\n');
    for (const target of ['/46xxsettings.txt', '/new.txt', '/backupx/a.txt']) {
      const r = await curl(bin, ['-T', local, `${base}${target}`], dir);
      expect(r.status, target).toBe(405);
      expect(r.headers['allow']).toBe('GET, HEAD');
      const d = await curl(bin, ['-X', 'DELETE', `${base}${target}`], dir);
      expect(d.status).toBe(405);
    }
    expect(await listing(root)).toEqual(['46xxsettings.txt']);
    const post = await curl(bin, ['-X', 'POST', `${base}/backup/x.txt`], dir);
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, HEAD, PUT, DELETE');
  });
});

describe('Basic auth', () => {
  it('401 with WWW-Authenticate without or with wrong credentials; stored with the right ones', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const local = path.join(dir, 'auth.txt');
    await fs.writeFile(local, 'OPTCLICKS=1\r\n');
    const none = await curl(bin, ['-T', local, `${base}/secure/299_96xxdata.txt`], dir);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm="bootwire backup"/);
    const wrong = await curl(bin, ['-u', '299:p:a:sS', '-T', local, `${base}/secure/299_96xxdata.txt`], dir);
    expect(wrong.status).toBe(401);
    const otherUser = await curl(bin, ['-u', '300:p:a:ss', '-T', local, `${base}/secure/299_96xxdata.txt`], dir);
    expect(otherUser.status).toBe(401);
    expect(await listing(locked)).toEqual([]);
    const ok = await curl(bin, ['-u', '299:p:a:ss', '-T', local, `${base}/secure/299_96xxdata.txt`], dir);
    expect(ok.status).toBe(201);
    expect((await curl(bin, [`${base}/secure/299_96xxdata.txt`], dir)).status).toBe(401);
    const get = await curl(bin, ['-u', '299:p:a:ss', `${base}/secure/299_96xxdata.txt`], dir);
    expect(get.status).toBe(200);
    expect(get.body.toString()).toBe('OPTCLICKS=1\r\n');
    expect((await curl(bin, ['-X', 'DELETE', `${base}/secure/299_96xxdata.txt`], dir)).status).toBe(401);
    expect((await curl(bin, ['-u', '299:p:a:ss', '-X', 'DELETE', `${base}/secure/299_96xxdata.txt`], dir)).status).toBe(
      204,
    );
  });
});

describe('atomicity', () => {
  it('never shows a PUT in progress: the old version until the new one is whole', async () => {
    await fs.writeFile(path.join(open, 'slow.txt'), 'old\n');
    const body = randomBytes(20_000);
    const s = net.connect(server.address('http')!.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const answer: Buffer[] = [];
    s.on('data', (d) => answer.push(d));
    s.write(`PUT /backup/slow.txt HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
    s.write(body.subarray(0, 10_000));
    await new Promise((r) => setTimeout(r, 200));
    const mid = await rawRequest(
      server.address('http')!.port,
      'GET /backup/slow.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(mid.status).toBe(200);
    expect(mid.body.toString()).toBe('old\n');
    expect((await listing(open)).filter((n) => !n.startsWith('.'))).toEqual(['slow.txt']);
    s.write(body.subarray(10_000));
    await new Promise<void>((r) => {
      const check = () => (Buffer.concat(answer).includes('\r\n\r\n') ? r() : setTimeout(check, 20));
      check();
    });
    expect(Buffer.concat(answer).toString('latin1')).toMatch(/^HTTP\/1\.1 204 /);
    s.destroy();
    expect((await fs.readFile(path.join(open, 'slow.txt'))).equals(body)).toBe(true);
    expect(await listing(open)).toEqual(['slow.txt']);
    await fs.rm(path.join(open, 'slow.txt'));
  });

  it('drops a PUT whose client goes away: no file, no temporary file', async () => {
    const s = net.connect(server.address('http')!.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write('PUT /backup/cut.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n');
    s.write(randomBytes(1000));
    await new Promise((r) => setTimeout(r, 200));
    s.destroy();
    await new Promise((r) => setTimeout(r, 300));
    expect(await listing(open)).toEqual([]);
  });
});

describe('bootwire serve --backup (a process)', () => {
  let proc: ChildProcess | undefined;
  afterAll(() => proc?.kill('SIGKILL'));

  async function start(args: string[]): Promise<{ proc: ChildProcess; port: number; https?: number }> {
    const p = spawn(
      process.execPath,
      [CLI, 'serve', '--root', root, '--workers', '0', '--log-level', 'warn', '--tftp', '127.0.0.1:0', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc = p;
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const m = /bootwire: http listening on \S+:(\d+),/.exec(out);
      const b = /http backups under \/backup\//.test(out);
      const s = /bootwire: https listening on \S+:(\d+),/.exec(out);
      if (m && b && (!args.includes('--https') || s))
        return { proc: p, port: Number(m[1]), ...(s ? { https: Number(s[1]) } : {}) };
      if (p.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('loses no acknowledged backup when killed with SIGKILL right after the 201', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const store = path.join(dir, 'kill');
    await fs.mkdir(store);
    const s = await start(['--http', '127.0.0.1:0', '--backup', `/backup/=${store}`, '--backup-max-kb', '1024']);
    const body = randomBytes(900 * 1024);
    const local = path.join(dir, 'kill.txt');
    await fs.writeFile(local, body);
    const r = await run(bin, [
      '-sS',
      '-m',
      '20',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-T',
      local,
      `http://127.0.0.1:${s.port}/backup/299_96xxdata.txt`,
    ]);
    s.proc.kill('SIGKILL'); // at once: whatever was acknowledged must be there
    expect(r.stdout.toString()).toBe('201');
    await new Promise((res) => s.proc.once('exit', res));
    expect(sha256(await fs.readFile(path.join(store, '299_96xxdata.txt')))).toBe(sha256(body));
    // A new server serves it.
    const again = await start(['--http', '127.0.0.1:0', '--backup', `/backup/=${store}`]);
    const g = await curl(bin, [`http://127.0.0.1:${again.port}/backup/299_96xxdata.txt`], dir);
    expect(sha256(g.body)).toBe(sha256(body));
    again.proc.kill('SIGTERM');
    await new Promise((res) => again.proc.once('exit', res));
    // Closer still: killed the moment the first byte of its answer arrives, five times over.
    for (let round = 0; round < 5; round++) {
      const k = await start(['--http', '127.0.0.1:0', '--backup', `/backup/=${store}`, '--backup-max-kb', '1024']);
      const data = randomBytes(900 * 1024);
      const answer = await new Promise<string>((resolve, reject) => {
        const c = net.connect(k.port, '127.0.0.1', () => {
          c.write(`PUT /backup/round-${round}.txt HTTP/1.1\r\nHost: x\r\nContent-Length: ${data.length}\r\n\r\n`);
          c.write(data);
        });
        c.once('data', (d: Buffer) => {
          k.proc.kill('SIGKILL');
          resolve(d.toString('latin1'));
        });
        c.on('error', reject);
      });
      await new Promise((res) => k.proc.once('exit', res));
      expect(answer).toMatch(/^HTTP\/1\.1 201 /);
      expect(sha256(await fs.readFile(path.join(store, `round-${round}.txt`)))).toBe(sha256(data));
    }
  });

  it('serves backups over HTTPS with --backup-user', async (ctx) => {
    const [bin, openssl] = [PEERS.curl.use(ctx), OPENSSL.use(ctx)];
    const store = path.join(dir, 'tls');
    await fs.mkdir(store);
    const { cert, key } = await selfSigned(openssl, dir);
    const s = await start([
      '--http',
      '127.0.0.1:0',
      '--https',
      '127.0.0.1:0',
      '--cert',
      cert,
      '--key',
      key,
      '--backup',
      `/backup/=${store}`,
      '--backup-user',
      '299:secret',
    ]);
    const local = path.join(dir, 'tls.txt');
    await fs.writeFile(local, 'PHNLABEL01=299\r\n');
    const url = `https://127.0.0.1:${s.https}/backup/299_16xxdata.txt`;
    expect((await curl(bin, ['--cacert', cert, '-T', local, url], dir)).status).toBe(401);
    expect((await curl(bin, ['--cacert', cert, '-u', '299:secret', '-T', local, url], dir)).status).toBe(201);
    const g = await curl(bin, ['--cacert', cert, '-u', '299:secret', url], dir);
    expect(g.body.toString()).toBe('PHNLABEL01=299\r\n');
    s.proc.kill('SIGTERM');
    await new Promise((res) => s.proc.once('exit', res));
  });

  it('refuses a backup area it cannot use, and --backup without HTTP (exit 2)', async () => {
    const missing = await run(process.execPath, [
      CLI,
      'serve',
      '--root',
      root,
      '--tftp',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--backup',
      `/backup/=${path.join(dir, 'nope')}`,
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/backup directory .*nope.*ENOENT/);
    const noHttp = await run(process.execPath, [
      CLI,
      'serve',
      '--root',
      root,
      '--tftp',
      '127.0.0.1:0',
      '--backup',
      `/backup/=${open}`,
    ]);
    expect(noHttp.code).toBe(2);
    expect(noHttp.stderr).toMatch(/--http/);
    const rootPrefix = await run(process.execPath, [
      CLI,
      'serve',
      '--root',
      root,
      '--tftp',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--backup',
      `/=${open}`,
    ]);
    expect(rootPrefix.code).toBe(2);
  });
});
