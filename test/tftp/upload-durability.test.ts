/**
 * Issue 13, TFTP uploads: an ACK is a promise that what it acknowledges is stored. A disk that fills
 * gets ERROR 3 and leaves nothing; two WRQs for one new name cannot both be told "done"; names up to
 * 255 bytes upload; and the moment a client exits 0 the file is there, whole (no waiting in here).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AtomicFile } from '../../packages/core/src/files/atomic-file.js';
import { decodeTftp, encodeRequest } from '../../packages/tftp/src/codec.js';
import { TftpError, tftpPut } from '../../packages/tftp/src/client.js';
import { ErrorCode, Opcode, type TftpPacket } from '../../packages/tftp/src/packet.js';
import { type TransferRecord, TftpServer, type TftpServerOptions } from '../../packages/tftp/src/server.js';
import { PEERS, run, sha256 } from '../helpers/peers.js';
import { RawUdp } from '../helpers/raw-udp.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

let scratch: string;
const servers: TftpServer[] = [];
const mounts: Tmpfs[] = [];

beforeAll(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-upload-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
  for (const m of mounts.splice(0)) m.unmount();
  vi.restoreAllMocks();
});
afterAll(async () => {
  await fs.rm(scratch, { recursive: true, force: true });
});

async function serve(root: string, o: Partial<TftpServerOptions> = {}) {
  const server = await TftpServer.start({
    root,
    host: '127.0.0.1',
    port: 0,
    allowWrite: true,
    workers: 0,
    timeoutMs: 500,
    ...o,
  });
  servers.push(server);
  const records: TransferRecord[] = [];
  server.on('transfer', (r) => records.push(r));
  return { server, port: server.address().port, records };
}

async function freshRoot(name: string): Promise<string> {
  const d = path.join(scratch, name);
  await fs.mkdir(d);
  return d;
}

function decoded(d: { msg: Buffer } | undefined): TftpPacket {
  if (!d) throw new Error('no answer');
  const r = decodeTftp(d.msg);
  if (!r.ok) throw new Error(r.error.message);
  return r.packet;
}

describe('a disk that fills: 1 MiB into a 500 KiB tmpfs', () => {
  it('bootwire put: ERROR 3, nothing stored, no temporary file, a record that says so', async (ctx) => {
    const disk = mountTmpfs(ctx, 500);
    mounts.push(disk);
    const { server, port, records } = await serve(disk.dir);
    for (const o of [{}, { blksize: 1428, windowsize: 16 }]) {
      const err = await tftpPut({ host: '127.0.0.1', port, filename: 'big.bin', ...o }, randomBytes(1024 * 1024)).catch(
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(o)).toBeInstanceOf(TftpError);
      expect((err as TftpError).code).toBe(ErrorCode.DISK_FULL);
      expect((err as TftpError).tftpMessage).toBe('disk full or allocation exceeded');
      await server.idle();
      expect(await fs.readdir(disk.dir)).toEqual([]);
    }
    expect(records.map((r) => [r.ok, r.error?.code, r.error?.by])).toEqual([
      [false, 3, 'local'],
      [false, 3, 'local'],
    ]);
    // The disk is usable again: a small upload fits and is stored.
    await tftpPut({ host: '127.0.0.1', port, filename: 'small.bin' }, Buffer.from('fits'));
    expect(await fs.readFile(path.join(disk.dir, 'small.bin'), 'utf8')).toBe('fits');
  });

  it('atftp -p: fails (the server said ERROR 3), nothing stored, no temporary file', async (ctx) => {
    const atftp = PEERS.atftp.use(ctx);
    const disk = mountTmpfs(ctx, 500);
    mounts.push(disk);
    const { server, port } = await serve(disk.dir);
    const local = path.join(scratch, 'atftp-1m.bin');
    await fs.writeFile(local, randomBytes(1024 * 1024));
    for (const options of [[], ['--option', 'blksize 1428', '--option', 'windowsize 16']]) {
      const r = await run(atftp, [...options, '--put', '-l', local, '-r', 'big.bin', '127.0.0.1', String(port)], {
        timeoutMs: 60_000,
      });
      expect(r.code, r.stdout.toString() + r.stderr.toString()).not.toBe(0);
      expect(r.stderr).toMatch(/disk full or allocation exceeded/);
      await server.idle();
      expect(await fs.readdir(disk.dir)).toEqual([]);
    }
  });
});

describe('two WRQs for one new name', () => {
  it('the second gets ERROR 6 before any data; the first is stored whole', async () => {
    const root = await freshRoot('race');
    const { port } = await serve(root);
    const a = await RawUdp.open();
    const b = await RawUdp.open();
    a.send(encodeRequest(Opcode.WRQ, 'same.cfg', 'octet'), port);
    b.send(encodeRequest(Opcode.WRQ, 'same.cfg', 'octet'), port);
    const got = [await a.next(), await b.next()];
    const answers = got.map(decoded);
    const accepted = answers.findIndex((p) => p.opcode === Opcode.ACK);
    expect(accepted).toBeGreaterThanOrEqual(0);
    expect(answers[1 - accepted]).toMatchObject({ opcode: Opcode.ERROR, code: ErrorCode.FILE_EXISTS });
    // The accepted one finishes its upload: ACK 1 means stored.
    const winner = [a, b][accepted]!;
    winner.send(Buffer.concat([Buffer.from([0, Opcode.DATA, 0, 1]), Buffer.from('first')]), got[accepted]!.port);
    expect(decoded(await winner.next())).toEqual({ opcode: Opcode.ACK, block: 1 });
    expect(await fs.readFile(path.join(root, 'same.cfg'), 'utf8')).toBe('first');
    a.close();
    b.close();

    // With real clients racing, 10 rounds: exactly one is told "done" each time, and its bytes are the file's.
    for (let round = 0; round < 10; round++) {
      const name = `r${round}.bin`;
      const datas = [randomBytes(20_000), randomBytes(20_000)];
      const results = await Promise.allSettled(
        datas.map((d) => tftpPut({ host: '127.0.0.1', port, filename: name, blksize: 1024 }, d)),
      );
      const ok = results.map((r) => r.status === 'fulfilled');
      expect(ok.filter(Boolean).length, `round ${round}`).toBe(1);
      const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect((loser.reason as TftpError).code).toBe(ErrorCode.FILE_EXISTS);
      expect(sha256(path.join(root, name))).toBe(sha256(datas[ok.indexOf(true)]!));
    }
    expect((await fs.readdir(root)).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});

describe('long names', () => {
  it('names of 237 to 255 characters upload; 256 gets ERROR 4 with a short message', async () => {
    const root = await freshRoot('names');
    const { port } = await serve(root);
    for (const n of [237, 246, 255]) {
      const name = 'L'.repeat(n - 4) + '.cfg';
      const data = randomBytes(3000);
      await tftpPut({ host: '127.0.0.1', port, filename: name, blksize: 1024 }, data);
      expect(sha256(path.join(root, name))).toBe(sha256(data));
    }
    const err = (await tftpPut({ host: '127.0.0.1', port, filename: 'L'.repeat(256) }, Buffer.from('x')).catch(
      (e: unknown) => e,
    )) as TftpError;
    expect(err).toBeInstanceOf(TftpError);
    expect(err.code).toBe(ErrorCode.ILLEGAL_OPERATION);
    expect(err.tftpMessage.length).toBeLessThan(160);
    expect((await fs.readdir(root)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('atftp uploads a 255-character name', async (ctx) => {
    const atftp = PEERS.atftp.use(ctx);
    const root = await freshRoot('names-atftp');
    const { port } = await serve(root);
    const local = path.join(scratch, 'atftp-name.bin');
    await fs.writeFile(local, randomBytes(10_000));
    const name = 'A'.repeat(255);
    const r = await run(atftp, ['--put', '-l', local, '-r', name, '127.0.0.1', String(port)]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(path.join(root, name))).toBe(sha256(local));
  });
});

describe('the ACK means stored: the file is whole the moment the client exits 0', () => {
  it('atftp, blksize 1428, windowsize 32, 24 MiB', async (ctx) => {
    const atftp = PEERS.atftp.use(ctx);
    const root = await freshRoot('big-atftp');
    await serve(root, { workers: 2, maxUploadBytes: 64 * 1024 * 1024 });
    const port = servers.at(-1)!.address().port;
    const local = path.join(scratch, 'atftp-24m.bin');
    await fs.writeFile(local, randomBytes(24 * 1024 * 1024));
    const r = await run(
      atftp,
      [
        '--option',
        'blksize 1428',
        '--option',
        'windowsize 32',
        '--put',
        '-l',
        local,
        '-r',
        'image.bin',
        '127.0.0.1',
        String(port),
      ],
      { timeoutMs: 120_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(path.join(root, 'image.bin'))).toBe(sha256(local));
  });

  it('bootwire put, windowed and lock-step, netascii too', async () => {
    const root = await freshRoot('big-bootwire');
    const { port } = await serve(root, { maxUploadBytes: 64 * 1024 * 1024 });
    const big = randomBytes(16 * 1024 * 1024);
    await tftpPut({ host: '127.0.0.1', port, filename: 'w.bin', blksize: 1428, windowsize: 32 }, big);
    expect(sha256(path.join(root, 'w.bin'))).toBe(sha256(big));
    const small = randomBytes(300_000);
    await tftpPut({ host: '127.0.0.1', port, filename: 'l.bin' }, small);
    expect(sha256(path.join(root, 'l.bin'))).toBe(sha256(small));
    const text = Buffer.from('SET A 1\nSET B 2\r\nraw\rCR\n'.repeat(2000));
    await tftpPut({ host: '127.0.0.1', port, filename: 't.txt', mode: 'netascii', windowsize: 4 }, text);
    expect((await fs.readFile(path.join(root, 't.txt'))).equals(text)).toBe(true);
  });
});

describe('a slow disk', () => {
  it('slows the ACKs: the upload completes with at most a window of blocks waiting for the disk', async () => {
    const root = await freshRoot('slow');
    const { port, records } = await serve(root, { timeoutMs: 50 });
    // The disk: every writev takes 60 ms more, longer than both sides' 50 ms timeout.
    const probe = await fs.open(path.join(scratch, 'probe'), 'w');
    const handleProto = Object.getPrototypeOf(probe) as { writev: (...a: unknown[]) => Promise<unknown> };
    await probe.close();
    const realWritev = handleProto.writev;
    vi.spyOn(handleProto, 'writev').mockImplementation(async function (this: unknown, ...a: unknown[]) {
      await new Promise((r) => setTimeout(r, 60));
      return realWritev.apply(this, a);
    });
    // Payloads handed to the file and not yet written.
    let waiting = 0;
    let most = 0;
    const realWrite = AtomicFile.prototype.write;
    vi.spyOn(AtomicFile.prototype, 'write').mockImplementation(function (this: AtomicFile, bytes: Uint8Array) {
      most = Math.max(most, ++waiting);
      const p = realWrite.call(this, bytes);
      p.then(
        () => waiting--,
        () => waiting--,
      );
      return p;
    });
    const data = randomBytes(60 * 1024);
    const client = await tftpPut(
      { host: '127.0.0.1', port, filename: 'slow.bin', blksize: 1024, windowsize: 8, timeoutMs: 50, maxRetries: 8 },
      data,
    );
    expect(sha256(path.join(root, 'slow.bin'))).toBe(sha256(data));
    expect(most).toBeLessThanOrEqual(8);
    expect(client.stats.retransmits).toBeGreaterThan(0); // the client resent while the server wrote
    await servers[0]!.idle();
    expect(records[0]).toMatchObject({ ok: true, bytes: data.length });
  });
});

describe('any other write error', () => {
  it(
    'is ERROR 0 with a short message naming the request; the temporary file is removed; the record ' + 'says so',
    async () => {
      const root = await freshRoot('eio');
      const { server, port, records } = await serve(root);
      let n = 0;
      const real = AtomicFile.prototype.write;
      vi.spyOn(AtomicFile.prototype, 'write').mockImplementation(function (this: AtomicFile, bytes: Uint8Array) {
        if (++n === 3)
          return Promise.reject(Object.assign(new Error(`EIO: i/o error, write '${this.tempPath}'`), { code: 'EIO' }));
        return real.call(this, bytes);
      });
      const err = (await tftpPut({ host: '127.0.0.1', port, filename: 'x.bin' }, randomBytes(5000)).catch(
        (e: unknown) => e,
      )) as TftpError;
      expect(err).toBeInstanceOf(TftpError);
      expect(err.code).toBe(ErrorCode.NOT_DEFINED);
      expect(err.tftpMessage).toBe('cannot store "x.bin": EIO');
      await server.idle();
      expect(await fs.readdir(root)).toEqual([]);
      expect(records.map((r) => [r.ok, r.error?.code, r.bytes])).toEqual([[false, 0, 3 * 512]]);
    },
  );
});
