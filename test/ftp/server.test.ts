/**
 * The read-only FTP server on loopback, driven by curl's FTP client (passive, active, SIZE, LIST,
 * NLST), busybox ftpget, and raw control connections for what no client sends (bounce attempts,
 * writes, junk, a client that never reads its data connection, a flood of connections).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageCache } from '../../packages/core/src/files/image-cache.js';
import { type FtpTransferRecord, FtpServer } from '../../packages/ftp/src/server.js';
import { HttpFileServer } from '../../packages/http/src/server.js';
import { PEERS, run, sha256 } from '../helpers/peers.js';
import { scratchDir } from '../http/helpers.js';
import { epsvPort, login, pasvPort, rawControl } from './helpers.js';

let dir: string;
let root: string;
let server: FtpServer;
let port: number;
let base: string;
const records: FtpTransferRecord[] = [];
const img = randomBytes(3 * 1024 * 1024 + 17);
const big = randomBytes(32 * 1024 * 1024);
const script = Buffer.from('[FW]\nVERSION SIP12x004.04.09.00\nPROTOCOL FTP\n');

beforeAll(async () => {
  dir = await scratchDir('bw-ftp-');
  root = path.join(dir, 'root');
  await fs.mkdir(path.join(root, 'sub'), { recursive: true });
  await fs.writeFile(path.join(root, 'img.bin'), img);
  await fs.writeFile(path.join(root, 'big.bin'), big);
  await fs.writeFile(path.join(root, 'sub', '1230SIP.cfg'), script);
  await fs.writeFile(path.join(root, '.hidden'), 'x');
  await fs.writeFile(path.join(dir, 'secret.txt'), 'secret\n');
  await fs.symlink(path.join(dir, 'secret.txt'), path.join(root, 'escape.txt'));
  server = await FtpServer.start({
    host: '127.0.0.1',
    port: 0,
    root,
    users: [{ user: 'phone', password: 'pw:with:colons' }],
    dataIdleTimeoutMs: 1500,
    dataConnectTimeoutMs: 3000,
  });
  server.on('transfer', (r) => records.push(r));
  port = server.address().port;
  base = `ftp://127.0.0.1:${port}`;
});

afterAll(async () => {
  await server?.close(0);
  await fs.rm(dir, { recursive: true, force: true });
});

const curl = (args: string[], timeoutMs = 30_000) => run(PEERS.curl.path!, ['-sS', '-m', '25', ...args], { timeoutMs });

describe('curl', () => {
  it('downloads over passive FTP (EPSV) byte for byte', async (ctx) => {
    PEERS.curl.use(ctx);
    const r = await curl([`${base}/img.bin`]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(r.stdout)).toBe(sha256(img));
  });

  it('downloads with --ftp-pasv and --disable-epsv (PASV), from a subdirectory (CWD)', async (ctx) => {
    PEERS.curl.use(ctx);
    const r = await curl(['--ftp-pasv', '--disable-epsv', '-v', `${base}/sub/1230SIP.cfg`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.equals(script)).toBe(true);
    expect(r.stderr).toMatch(/< 227 Entering Passive Mode \(127,0,0,1,/);
    expect(r.stderr).toMatch(/> CWD sub/);
  });

  it('downloads over active FTP (--ftp-port: EPRT, and PORT with --disable-eprt)', async (ctx) => {
    PEERS.curl.use(ctx);
    const a = await curl(['--ftp-port', '127.0.0.1', '-v', `${base}/img.bin`]);
    expect(a.code, a.stderr).toBe(0);
    expect(sha256(a.stdout)).toBe(sha256(img));
    expect(a.stderr).toMatch(/> EPRT \|1\|127\.0\.0\.1\|/);
    const b = await curl(['--ftp-port', '127.0.0.1', '--disable-eprt', '-v', `${base}/sub/1230SIP.cfg`]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout.equals(script)).toBe(true);
    expect(b.stderr).toMatch(/> PORT 127,0,0,1,/);
    expect(records.some((r) => r.mode === 'active' && r.ok && r.bytes === img.length)).toBe(true);
  });

  it('-I reads SIZE and MDTM', async (ctx) => {
    PEERS.curl.use(ctx);
    const r = await curl(['-I', `${base}/img.bin`]);
    expect(r.code, r.stderr).toBe(0);
    const head = r.stdout.toString();
    expect(head).toMatch(new RegExp(`Content-Length: ${img.length}\\r?\\n`));
    expect(head).toMatch(/Last-Modified: \w{3}, \d{2} \w{3} \d{4}/);
  });

  it('lists with LIST and NLST (--list-only), hiding dot files and links out of the root', async (ctx) => {
    PEERS.curl.use(ctx);
    const list = await curl([`${base}/`]);
    expect(list.code, list.stderr).toBe(0);
    // curl turns the CRLF of an ASCII-mode listing into LF.
    const lines = list.stdout.toString().trim().split(/\r?\n/);
    expect(lines.map((l) => l.split(/\s+/).pop())).toEqual(['big.bin', 'img.bin', 'sub']);
    expect(lines[1]).toMatch(
      new RegExp(`^-rw-r--r-- 1 ftp ftp +${img.length} \\w{3} [ \\d]\\d [\\d ]\\d[:\\d]\\d+ img\\.bin$`),
    );
    expect(lines[2]).toMatch(/^drwxr-xr-x /);
    const names = await curl(['--list-only', `${base}/sub/`]);
    expect(names.code, names.stderr).toBe(0);
    expect(names.stdout.toString().trim()).toBe('1230SIP.cfg');
  });

  it('logs in as a configured user', async (ctx) => {
    PEERS.curl.use(ctx);
    const ok = await curl(['-u', 'phone:pw:with:colons', `${base}/sub/1230SIP.cfg`]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.equals(script)).toBe(true);
    const bad = await curl(['-u', 'phone:wrong', `${base}/sub/1230SIP.cfg`]);
    expect(bad.code).toBe(67); // CURLE_LOGIN_DENIED
  });

  it('gets 550 for missing files and files outside the root', async (ctx) => {
    PEERS.curl.use(ctx);
    for (const name of ['missing.bin', 'escape.txt', '../secret.txt', '.hidden/../../secret.txt']) {
      const r = await curl(['--path-as-is', `${base}/${name}`]);
      expect([78, 9], `${name}: ${r.stderr}`).toContain(r.code); // REMOTE_FILE_NOT_FOUND / ACCESS_DENIED
      expect(r.stdout.toString()).not.toContain('secret');
    }
  });

  it('refuses uploads and leaves the root untouched', async (ctx) => {
    PEERS.curl.use(ctx);
    const local = path.join(dir, 'upload.txt');
    await fs.writeFile(local, 'not for the server\n');
    const before = (await fs.readdir(root)).sort();
    const r = await curl(['-T', local, `${base}/upload.txt`]);
    expect(r.code).toBe(25); // CURLE_UPLOAD_FAILED: STOR got 550
    const mk = await curl(['--ftp-create-dirs', '-T', local, `${base}/newdir/upload.txt`]);
    expect(mk.code).not.toBe(0);
    expect((await fs.readdir(root)).sort()).toEqual(before);
  });
});

describe('busybox ftpget', () => {
  it('downloads anonymously and as a user', async (ctx) => {
    const bb = PEERS.busybox.use(ctx);
    const out = path.join(dir, 'ftpget.bin');
    const r = await run(bb, ['ftpget', '-P', String(port), '127.0.0.1', out, 'img.bin'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(out)).toBe(sha256(img));
    const out2 = path.join(dir, 'ftpget.cfg');
    const u = await run(
      bb,
      ['ftpget', '-u', 'phone', '-p', 'pw:with:colons', '-P', String(port), '127.0.0.1', out2, 'sub/1230SIP.cfg'],
      { timeoutMs: 30_000 },
    );
    expect(u.code, u.stderr).toBe(0);
    expect((await fs.readFile(out2)).equals(script)).toBe(true);
    const missing = await run(bb, ['ftpget', '-P', String(port), '127.0.0.1', path.join(dir, 'x'), 'missing.bin'], {
      timeoutMs: 30_000,
    });
    expect(missing.code).not.toBe(0);
  });
});

describe('raw control connections', () => {
  it('refuses PORT and EPRT naming another address (no FTP bounce) and privileged ports', async () => {
    const c = await rawControl(port);
    expect((await login(c)).code).toBe(230);
    expect((await c.cmd('PORT 10,1,2,3,0,25')).code).toBe(500);
    expect((await c.cmd('PORT 127,0,0,2,19,137')).code).toBe(500);
    expect((await c.cmd('EPRT |1|192.0.2.7|6000|')).code).toBe(500);
    expect((await c.cmd('PORT 127,0,0,1,0,22')).code).toBe(500);
    // Nothing was connected to: a RETR has no data channel.
    expect((await c.cmd('RETR img.bin')).code).toBe(425);
    expect(server.stats().bounceRefused).toBeGreaterThanOrEqual(4);
    c.close();
  });

  it('refuses writes with 550 and unknown commands with 502; junk gets 500 and the session goes on', async () => {
    const c = await rawControl(port);
    await login(c);
    for (const w of [
      'STOR x',
      'DELE img.bin',
      'MKD d',
      'RMD sub',
      'RNFR img.bin',
      'APPE img.bin',
      'SITE CHMOD 777 img.bin',
    ])
      expect((await c.cmd(w)).code, w).toBe(550);
    expect((await c.cmd('XYZZ')).code).toBe(502);
    c.send(Buffer.from([0x00, 0x01, 0x02, 0xfe, 0x80, 0x0d, 0x0a]));
    expect((await c.reply()).code).toBe(500);
    expect((await c.cmd('SIZE img.bin')).code).toBe(213);
    expect((await c.cmd('QUIT')).code).toBe(221);
    await c.closed;
    expect((await fs.stat(path.join(root, 'img.bin'))).size).toBe(img.length);
  });

  it('closes a connection sending an overlong line', async () => {
    const c = await rawControl(port);
    await c.reply();
    c.socket.write(`USER ${'a'.repeat(100_000)}`);
    const r = await c.reply();
    expect(r.code).toBe(500);
    expect(r.text).toMatch(/too long/);
    await c.closed;
  });

  it('accepts a passive data connection only from the client, and only once', async () => {
    const c = await rawControl(port);
    await login(c);
    const p = epsvPort((await c.cmd('EPSV')).text);
    // Another address (127.0.0.2 is local too) is refused: it would steal the file.
    const thief = net.connect({ host: '127.0.0.1', port: p, localAddress: '127.0.0.2' });
    const thiefGot: Buffer[] = [];
    thief.on('data', (d) => thiefGot.push(d));
    thief.on('error', () => {});
    await new Promise((r) => thief.once('close', r));
    const data = net.connect({ host: '127.0.0.1', port: p });
    const got: Buffer[] = [];
    data.on('data', (d) => got.push(d));
    const done = new Promise((r) => data.once('close', r));
    expect((await c.cmd('RETR sub/1230SIP.cfg')).code).toBe(150);
    await done;
    expect((await c.reply()).code).toBe(226);
    expect(Buffer.concat(got).equals(script)).toBe(true);
    expect(Buffer.concat(thiefGot).length).toBe(0);
    c.close();
  });

  it(
    'gives a client that never reads its data connection a bounded time, then 426, while others are ' + 'served',
    async (ctx) => {
      PEERS.curl.use(ctx);
      const c = await rawControl(port);
      await login(c);
      expect((await c.cmd('TYPE I')).code).toBe(200);
      const p = pasvPort((await c.cmd('PASV')).text);
      const data = net.connect({ host: '127.0.0.1', port: p });
      await new Promise((r) => data.once('connect', r));
      data.pause(); // never reads: the kernel buffers fill and the server's writes stop draining
      const started = Date.now();
      expect((await c.cmd('RETR big.bin')).code).toBe(150);
      // Meanwhile another client downloads.
      const other = await curl([`${base}/img.bin`]);
      expect(other.code, other.stderr).toBe(0);
      expect(sha256(other.stdout)).toBe(sha256(img));
      const end = await c.reply(20_000);
      expect(end.code).toBe(426);
      expect(Date.now() - started).toBeLessThan(15_000);
      const rec = records.find((r) => r.path === '/big.bin')!;
      expect(rec.ok).toBe(false);
      expect(rec.error).toBe('timeout');
      expect(rec.bytes).toBeLessThan(big.length);
      // The control connection goes on.
      expect((await c.cmd('NOOP')).code).toBe(200);
      data.destroy();
      c.close();
    },
  );

  it('ABOR during a transfer: 426, then 226', async () => {
    const c = await rawControl(port);
    await login(c);
    const p = pasvPort((await c.cmd('PASV')).text);
    const data = net.connect({ host: '127.0.0.1', port: p });
    await new Promise((r) => data.once('connect', r));
    data.pause();
    expect((await c.cmd('RETR big.bin')).code).toBe(150);
    await new Promise((r) => setTimeout(r, 200));
    c.send('ABOR');
    expect((await c.reply()).code).toBe(426);
    expect((await c.reply()).code).toBe(226);
    data.destroy();
    c.close();
  });
});

describe('bounds', () => {
  it(
    'a flood of 1,000 control connections is bounded per address and overall, and timed out; another ' +
      'client is served meanwhile',
    async (ctx) => {
      PEERS.curl.use(ctx);
      // 1,000 connections from ten addresses: 100 each, over the per-address cap (50) and together
      // over the global one (300).
      const flooded = await FtpServer.start({
        host: '127.0.0.1',
        port: 0,
        root,
        maxConnectionsPerClient: 50,
        maxConnections: 300,
        loginTimeoutMs: 3000,
      });
      const fport = flooded.address().port;
      const sockets: net.Socket[] = [];
      try {
        await Promise.all(
          Array.from(
            { length: 1000 },
            (_, i) =>
              new Promise<void>((resolve) => {
                const s = net.connect({ host: '127.0.0.1', port: fport, localAddress: `127.0.1.${1 + (i % 10)}` });
                sockets.push(s);
                s.on('error', () => {});
                s.once('connect', () => resolve());
                s.once('error', () => resolve());
              }),
          ),
        );
        // The server accepts what the kernel queued: wait until it has seen all 1,000.
        for (let i = 0; i < 100 && flooded.stats().connections + flooded.stats().connectionsDropped < 1000; i++)
          await new Promise((r) => setTimeout(r, 20));
        const st = flooded.stats();
        expect(st.activeConnections).toBeLessThanOrEqual(300);
        expect(st.idleClosed + st.connectionsDropped).toBeGreaterThanOrEqual(700);
        // A phone from another address gets its file while the flood holds.
        const r = await run(
          PEERS.curl.path!,
          ['-sS', '-m', '20', '--interface', '127.0.0.3', `ftp://127.0.0.1:${fport}/img.bin`],
          { timeoutMs: 25_000 },
        );
        expect(r.code, r.stderr).toBe(0);
        expect(sha256(r.stdout)).toBe(sha256(img));
        // The flood never logs in: the login timeout (3 s) closes what is left, at the latest 2 s after
        // its 421 (the flood does not read, so it never answers the close).
        for (let i = 0; i < 100 && flooded.stats().activeConnections > 0; i++)
          await new Promise((r) => setTimeout(r, 100));
        expect(flooded.stats().activeConnections).toBe(0);
        expect(flooded.stats().loginTimeouts).toBeGreaterThan(0);
      } finally {
        for (const s of sockets) s.destroy();
        await flooded.close(0);
      }
    },
  );

  it('passive ports come from the configured range; PASV announces the advertised address', async () => {
    const s = await FtpServer.start({
      host: '127.0.0.1',
      port: 0,
      root,
      passivePorts: { from: 47000, to: 47002 },
      advertise: '192.0.2.10',
    });
    try {
      const c = await rawControl(s.address().port);
      await login(c);
      const r = await c.cmd('PASV');
      expect(r.text).toMatch(/\(192,0,2,10,\d+,\d+\)/);
      const p = pasvPort(r.text);
      expect(p).toBeGreaterThanOrEqual(47000);
      expect(p).toBeLessThanOrEqual(47002);
      expect(epsvPort((await c.cmd('EPSV')).text)).toBeGreaterThanOrEqual(47000);
      c.close();
    } finally {
      await s.close(0);
    }
  });

  it('serves the same shared copy as HTTP (one load for both)', async (ctx) => {
    PEERS.curl.use(ctx);
    const cache = new ImageCache();
    const f = await FtpServer.start({ host: '127.0.0.1', port: 0, root, cache });
    const h = await HttpFileServer.start({ root, cache, http: { host: '127.0.0.1', port: 0 } });
    try {
      const a = await curl([`ftp://127.0.0.1:${f.address().port}/img.bin`]);
      const b = await curl([`http://127.0.0.1:${h.address('http')!.port}/img.bin`]);
      expect(sha256(a.stdout)).toBe(sha256(img));
      expect(sha256(b.stdout)).toBe(sha256(img));
      expect(cache.stats().loads).toBe(1);
    } finally {
      await f.close(0);
      await h.close(0);
    }
  });
});
