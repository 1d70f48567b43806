/**
 * bootwire's TFTP server against real clients from Debian's packages: curl, tftp-hpa, atftp and
 * busybox. Files are compared by sha256; refusals by each client's own report of the error code.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toNetascii } from '../../packages/tftp/src/netascii.js';
import { TftpServer } from '../../packages/tftp/src/server.js';
import { PEERS, run, sha256 } from '../helpers/peers.js';

let root: string;
let out: string;
let server: TftpServer;
let port: number;
const files: Record<string, Buffer> = {};
let outSeq = 0;
const outFile = (name: string) => path.join(out, `${outSeq++}-${name}`);

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-interop-root-'));
  out = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-interop-out-'));
  files['image.bin'] = randomBytes(3 * 1024 * 1024 + 123);
  files['exact.bin'] = randomBytes(1428 * 512); // an exact multiple of blksize 1428: ends with an empty block
  files['small.scr'] = Buffer.from('SET APPNAME a10d01b2_9.bin\nGET 46xxsettings.txt\n');
  files['settings.txt'] = Buffer.from('## settings\nSET SIPDOMAIN example.test\r\nraw\rCR\n'.repeat(300));
  // 70,000 blocks of 512 bytes: lock-step clients roll the block number over past 65535.
  files['rollover.bin'] = randomBytes(512 * 70_000 + 17);
  for (const [n, b] of Object.entries(files)) await fs.writeFile(path.join(root, n), b);
  await fs.mkdir(path.join(root, 'upload'));
  server = await TftpServer.start({ root, host: '127.0.0.1', port: 0, allowWrite: true });
  port = server.address().port;
});

afterAll(async () => {
  await server?.close(0);
  await fs.rm(root, { recursive: true, force: true });
  await fs.rm(out, { recursive: true, force: true });
});

const url = (name: string) => `tftp://127.0.0.1:${port}/${name}`;

describe('bootwire server with curl', () => {
  it('fetches with tsize and blksize (curl sends tsize=0 and blksize on every request)', async (ctx) => {
    const curl = PEERS.curl.use(ctx);
    for (const blksize of ['512', '1468', '8192']) {
      const o = outFile('image.bin');
      const r = await run(curl, ['-sS', '-m', '60', '--tftp-blksize', blksize, url('image.bin'), '-o', o]);
      expect(r.code, r.stderr).toBe(0);
      expect(sha256(o)).toBe(sha256(files['image.bin']!));
    }
    const o = outFile('exact.bin');
    expect((await run(curl, ['-sS', '-m', '60', '--tftp-blksize', '1428', url('exact.bin'), '-o', o])).code).toBe(0);
    expect(sha256(o)).toBe(sha256(files['exact.bin']!));
  });

  it('fetches without options (plain RFC 1350) and rolls block numbers over past 65535', async (ctx) => {
    const curl = PEERS.curl.use(ctx);
    const o = outFile('rollover.bin');
    const r = await run(curl, ['-sS', '-m', '120', '--tftp-no-options', url('rollover.bin'), '-o', o], {
      timeoutMs: 130_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(o)).toBe(sha256(files['rollover.bin']!));
  });

  it('fetches netascii (curl keeps the wire form)', async (ctx) => {
    const curl = PEERS.curl.use(ctx);
    const o = outFile('settings.txt');
    const r = await run(curl, ['-sS', '-m', '30', `${url('settings.txt')};mode=netascii`, '-o', o]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(o)).toBe(sha256(toNetascii(files['settings.txt']!)));
  });

  it('40 curl clients at once all get whole files', async (ctx) => {
    const curl = PEERS.curl.use(ctx);
    const outs = Array.from({ length: 40 }, () => outFile('image.bin'));
    const results = await Promise.all(
      outs.map((o) =>
        run(curl, ['-sS', '-m', '120', '--tftp-blksize', '1468', url('image.bin'), '-o', o], { timeoutMs: 130_000 }),
      ),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    for (const o of outs) expect(sha256(o)).toBe(sha256(files['image.bin']!));
  });

  it('refuses a missing file (ERROR 1), a ../ escape and an absolute path out of the root (ERROR 2)', async (ctx) => {
    const curl = PEERS.curl.use(ctx);
    // curl's exit codes: 68 = TFTP ERROR 1 (not found), 69 = ERROR 2 (permission).
    expect((await run(curl, ['-sS', '-m', '20', url('missing.bin'), '-o', outFile('x')])).code).toBe(68);
    expect(
      (await run(curl, ['-sS', '-m', '20', '--path-as-is', url('../../etc/passwd'), '-o', outFile('x')])).code,
    ).toBe(69);
    expect(
      (await run(curl, ['-sS', '-m', '20', `tftp://127.0.0.1:${port}//etc/passwd`, '-o', outFile('x')])).code,
    ).toBe(69);
  });

  it('uploads (curl -T) to a server that allows writes', async (ctx) => {
    const curl = PEERS.curl.use(ctx);
    const local = outFile('log.bin');
    const data = randomBytes(100_000);
    await fs.writeFile(local, data);
    const r = await run(curl, ['-sS', '-m', '30', '-T', local, url('upload/log.bin')]);
    expect(r.code, r.stderr).toBe(0);
    // No wait: the final ACK follows the durable commit.
    expect(sha256(path.join(root, 'upload/log.bin'))).toBe(sha256(data));
  });
});

describe('bootwire server with tftp-hpa', () => {
  it('fetches in octet mode', async (ctx) => {
    const tftp = PEERS.tftp.use(ctx);
    const o = outFile('image.bin');
    const r = await run(tftp, ['127.0.0.1', String(port), '-m', 'binary', '-c', 'get', 'image.bin', o], {
      timeoutMs: 120_000,
    });
    expect(r.stdout.toString()).not.toMatch(/Error code/);
    expect(sha256(o)).toBe(sha256(files['image.bin']!));
  });

  it('fetches in netascii mode, converted back to local text', async (ctx) => {
    const tftp = PEERS.tftp.use(ctx);
    const o = outFile('settings.txt');
    const r = await run(tftp, ['127.0.0.1', String(port), '-m', 'netascii', '-c', 'get', 'settings.txt', o]);
    expect(r.stdout.toString()).not.toMatch(/Error code/);
    expect(sha256(o)).toBe(sha256(files['settings.txt']!));
  });

  it('reports the refusals with their codes', async (ctx) => {
    const tftp = PEERS.tftp.use(ctx);
    const get = async (name: string) =>
      (await run(tftp, ['127.0.0.1', String(port), '-m', 'binary', '-c', 'get', name, outFile('x')])).stdout.toString();
    expect(await get('missing.bin')).toMatch(/^Error code 1:/m);
    expect(await get('../etc/passwd')).toMatch(/^Error code 2:/m);
    expect(await get('/etc/passwd')).toMatch(/^Error code 2:/m);
  });
});

describe('bootwire server with atftp', () => {
  for (const blksize of [1428, 8192]) {
    it(`fetches with windowsize 16, blksize ${blksize} and tsize`, async (ctx) => {
      const atftp = PEERS.atftp.use(ctx);
      const o = outFile('image.bin');
      // 16 x 8 KiB overflows atftp's default socket buffer on loopback whichever server sends (atftpd
      // too): the client then waits for its retransmission timeout, so shorten it to 1 s.
      const r = await run(
        atftp,
        [
          '--tftp-timeout',
          '1',
          '--option',
          `blksize ${blksize}`,
          '--option',
          'windowsize 16',
          '--option',
          'tsize',
          '--get',
          '-r',
          'image.bin',
          '-l',
          o,
          '127.0.0.1',
          String(port),
        ],
        { timeoutMs: 60_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(sha256(o)).toBe(sha256(files['image.bin']!));
    });
  }

  it('fetches an exact multiple of blksize with windowsize 16', async (ctx) => {
    const atftp = PEERS.atftp.use(ctx);
    const o = outFile('exact.bin');
    const r = await run(atftp, [
      '--option',
      'blksize 1428',
      '--option',
      'windowsize 16',
      '--get',
      '-r',
      'exact.bin',
      '-l',
      o,
      '127.0.0.1',
      String(port),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(o)).toBe(sha256(files['exact.bin']!));
  });

  it('reports a missing file', async (ctx) => {
    const atftp = PEERS.atftp.use(ctx);
    const r = await run(atftp, ['--get', '-r', 'missing.bin', '-l', outFile('x'), '127.0.0.1', String(port)]);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/error received from server <.*not found>/);
  });
});

describe('bootwire server with busybox tftp', () => {
  for (const args of [[], ['-b', '1428'], ['-b', '65464']]) {
    it(`fetches ${args.join(' ') || 'with default blksize'} (busybox always sends tsize)`, async (ctx) => {
      const busybox = PEERS.busybox.use(ctx);
      const o = outFile('image.bin');
      const r = await run(busybox, ['tftp', '-g', '-r', 'image.bin', '-l', o, ...args, '127.0.0.1', String(port)], {
        timeoutMs: 120_000,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(sha256(o)).toBe(sha256(files['image.bin']!));
    });
  }

  it('reports a missing file with code 1', async (ctx) => {
    const busybox = PEERS.busybox.use(ctx);
    const r = await run(busybox, ['tftp', '-g', '-r', 'missing.bin', '-l', outFile('x'), '127.0.0.1', String(port)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/server error: \(1\)/);
  });
});
