import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeTftp, encodeAck, encodeRequest } from '../../packages/tftp/src/codec.js';
import { TftpError, tftpGetBuffer, tftpPut } from '../../packages/tftp/src/client.js';
import { ErrorCode, Opcode } from '../../packages/tftp/src/packet.js';
import { TftpServer, type TftpServerOptions } from '../../packages/tftp/src/server.js';
import { startLossyRelay } from '../helpers/lossy-relay.js';
import { RawUdp } from '../helpers/raw-udp.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let root: string;
const files: Record<string, Buffer> = {};
const servers: TftpServer[] = [];
/** The suite runs twice: transfers in the worker pool, and on the main thread. */
let workers = 2;

async function start(o: Partial<TftpServerOptions> = {}): Promise<{ server: TftpServer; port: number }> {
  const server = await TftpServer.start({
    root,
    host: '127.0.0.1',
    port: 0,
    timeoutMs: 200,
    maxRetries: 4,
    workers,
    ...o,
  });
  servers.push(server);
  return { server, port: server.address().port };
}

function rrq(name: string, opts: Record<string, string> = {}, mode = 'octet'): Buffer {
  return encodeRequest(
    Opcode.RRQ,
    name,
    mode,
    Object.entries(opts).map(([name, value]) => ({ name, value })),
  );
}

function decoded(d: { msg: Buffer } | undefined) {
  if (!d) throw new Error('no answer');
  const r = decodeTftp(d.msg);
  if (!r.ok) throw new Error(r.error.message);
  return r.packet;
}

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-server-'));
  files['small.txt'] = Buffer.from('hello phones\n');
  files['img.bin'] = randomBytes(200_000);
  files['exact.bin'] = randomBytes(512 * 8);
  files['text.txt'] = Buffer.from('SET A 1\nSET B 2\r\nraw\rCR\n'.repeat(50));
  for (const [n, b] of Object.entries(files)) await fs.writeFile(path.join(root, n), b);
  await fs.mkdir(path.join(root, 'sub'));
  files['sub/deep.cfg'] = Buffer.from('deep\n');
  await fs.writeFile(path.join(root, 'sub/deep.cfg'), files['sub/deep.cfg']);
  await fs.symlink('/etc/hostname', path.join(root, 'escape'));
  await fs.symlink('img.bin', path.join(root, 'alias.bin'));
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

for (const w of [2, 0])
  describe(`TFTP server on loopback, ${w ? `${w} transfer workers` : 'transfers on the main thread'}`, () => {
    beforeAll(async () => {
      workers = w;
      await fs.rm(path.join(root, 'up'), { recursive: true, force: true });
      await fs.mkdir(path.join(root, 'up'));
    });

    it('serves files byte for byte with the bootwire client, in octet and netascii, with options', async () => {
      const { port } = await start();
      for (const name of ['small.txt', 'img.bin', 'exact.bin', 'sub/deep.cfg', '/sub/deep.cfg', 'alias.bin']) {
        for (const o of [
          {},
          { blksize: 1468, tsize: true },
          { blksize: 8192, windowsize: 16 },
          { blksize: 8, windowsize: 3 },
        ]) {
          const { data, info } = await tftpGetBuffer({ host: '127.0.0.1', port, filename: name, ...o });
          const want = files[name.replace(/^\//, '')] ?? files['img.bin']!;
          expect(sha(data), `${name} ${JSON.stringify(o)}`).toBe(sha(want));
          if ('tsize' in o) expect(info.tsize).toBe(want.length);
        }
      }
      const { data } = await tftpGetBuffer({
        host: '127.0.0.1',
        port,
        filename: 'text.txt',
        mode: 'netascii',
        tsize: true,
      });
      expect(data.equals(files['text.txt']!)).toBe(true);
    });

    it('refuses with the exact error codes', async () => {
      const { port, server } = await start();
      const cases: [string, number][] = [
        ['missing.bin', ErrorCode.FILE_NOT_FOUND],
        ['../etc/passwd', ErrorCode.ACCESS_VIOLATION],
        ['sub/../../etc/passwd', ErrorCode.ACCESS_VIOLATION],
        ['/etc/passwd', ErrorCode.ACCESS_VIOLATION],
        ['escape', ErrorCode.ACCESS_VIOLATION],
        ['sub', ErrorCode.ACCESS_VIOLATION],
      ];
      for (const [name, code] of cases) {
        const err = await tftpGetBuffer({ host: '127.0.0.1', port, filename: name }).catch((e: unknown) => e);
        expect(err, name).toBeInstanceOf(TftpError);
        expect((err as TftpError).code, name).toBe(code);
        expect((err as TftpError).by).toBe('peer');
      }
      const raw = await RawUdp.open();
      raw.send(rrq('small.txt', {}, 'mail'), port);
      expect(decoded(await raw.next())).toMatchObject({ opcode: Opcode.ERROR, code: ErrorCode.ILLEGAL_OPERATION });
      raw.send(Buffer.from([0, 1, 0x61, 0x62]), port); // no NUL after the filename
      expect(decoded(await raw.next())).toMatchObject({ opcode: Opcode.ERROR, code: ErrorCode.ILLEGAL_OPERATION });
      raw.send(rrq('small.txt', { blksize: '4' }), port);
      expect(decoded(await raw.next())).toMatchObject({ opcode: Opcode.ERROR, code: ErrorCode.OPTION_NEGOTIATION });
      raw.send(encodeRequest(Opcode.WRQ, 'new.bin', 'octet'), port);
      expect(decoded(await raw.next())).toMatchObject({ opcode: Opcode.ERROR, code: ErrorCode.ACCESS_VIOLATION });
      raw.send(Buffer.from([0, 9, 1, 2, 3]), port); // unknown opcode: no answer
      expect(await raw.next(300)).toBeUndefined();
      raw.close();
      expect(server.stats().malformedRequests).toBe(3);
    });

    it('runs each transfer on a new TID; a stranger gets ERROR 5 and the transfer goes on', async () => {
      const { port, server } = await start();
      const client = await RawUdp.open();
      const stranger = await RawUdp.open();
      client.send(rrq('img.bin', { blksize: '50000' }), port);
      const oack = await client.next();
      expect(decoded(oack)).toMatchObject({ opcode: Opcode.OACK });
      expect(oack!.port).not.toBe(port);
      const tid = oack!.port;
      stranger.send(encodeAck(0), tid);
      const e = decoded(await stranger.next());
      expect(e).toMatchObject({ opcode: Opcode.ERROR, code: ErrorCode.UNKNOWN_TID });
      const chunks: Buffer[] = [];
      for (let block = 0; ; block++) {
        client.send(encodeAck(block), tid);
        const d = await client.next();
        expect(d!.port).toBe(tid);
        const p = decoded(d);
        expect(p).toMatchObject({ opcode: Opcode.DATA, block: block + 1 });
        const payload = (p as { payload: Buffer }).payload;
        chunks.push(payload);
        if (payload.length < 50000) {
          client.send(encodeAck(block + 1), tid);
          break;
        }
      }
      expect(sha(Buffer.concat(chunks))).toBe(sha(files['img.bin']!));
      await server.idle();
      expect(server.stats()).toMatchObject({ transfersCompleted: 1, errorsSent: { 5: 1 } });
      client.close();
      stranger.close();
    });

    it('a repeated RRQ from the same client port does not start a second transfer', async () => {
      const { port, server } = await start();
      const client = await RawUdp.open();
      client.send(rrq('small.txt'), port);
      client.send(rrq('small.txt'), port);
      const first = await client.next();
      expect(decoded(first)).toMatchObject({ opcode: Opcode.DATA, block: 1 });
      // The only other packet is the resend of DATA 1 from the same TID after the timeout.
      const second = await client.next(400);
      expect(second?.port).toBe(first!.port);
      client.send(encodeAck(1), first!.port);
      await server.idle();
      expect(server.stats().transfersStarted).toBe(1);
      client.close();
    });

    it('past the concurrency cap, requests get ERROR 0 "server busy", never silence', async () => {
      const { port, server } = await start({ maxTransfers: 2 });
      const a = await RawUdp.open();
      const b = await RawUdp.open();
      const c = await RawUdp.open();
      a.send(rrq('img.bin'), port);
      b.send(rrq('img.bin'), port);
      expect(decoded(await a.next())).toMatchObject({ opcode: Opcode.DATA });
      expect(decoded(await b.next())).toMatchObject({ opcode: Opcode.DATA });
      c.send(rrq('img.bin'), port);
      expect(decoded(await c.next())).toEqual({ opcode: Opcode.ERROR, code: 0, message: 'server busy' });
      expect(server.stats().busyRejections).toBe(1);
      for (const s of [a, b, c]) s.close();
    });

    it(
      'all transfers of one file share one in-memory copy; a replaced file serves new bytes to new ' + 'requests only',
      async () => {
        const name = 'swap.bin';
        const v1 = randomBytes(30_000);
        const v2 = randomBytes(31_000);
        await fs.writeFile(path.join(root, name), v1);
        const { port, server } = await start();
        // A transfer in progress on v1, driven by hand.
        const slow = await RawUdp.open();
        slow.send(rrq(name, { blksize: '1000' }), port);
        const oack = await slow.next();
        expect(decoded(oack)).toMatchObject({ opcode: Opcode.OACK });
        await Promise.all(Array.from({ length: 5 }, () => tftpGetBuffer({ host: '127.0.0.1', port, filename: name })));
        expect(server.cache.stats().loads).toBe(1);
        // Replace it on disk (as an admin would: write and rename over).
        await fs.writeFile(path.join(root, name + '.new'), v2);
        await fs.rename(path.join(root, name + '.new'), path.join(root, name));
        const fresh = await tftpGetBuffer({ host: '127.0.0.1', port, filename: name });
        expect(sha(fresh.data)).toBe(sha(v2));
        const chunks: Buffer[] = [];
        for (let block = 0; ; block++) {
          slow.send(encodeAck(block), oack!.port);
          // Skip what the server resent while the slow client dawdled (its OACK, a block again).
          let p;
          do p = decoded(await slow.next());
          while (p.opcode !== Opcode.DATA || p.block !== ((block + 1) & 0xffff));
          chunks.push(p.payload);
          if (p.payload.length < 1000) {
            slow.send(encodeAck(block + 1), oack!.port);
            break;
          }
        }
        expect(sha(Buffer.concat(chunks))).toBe(sha(v1));
        expect(server.cache.stats().loads).toBe(2);
        slow.close();
      },
    );

    it('serves over IPv6', async () => {
      const server = await TftpServer.start({ root, host: '::1', port: 0, workers });
      servers.push(server);
      const { data } = await tftpGetBuffer({
        host: '::1',
        port: server.address().port,
        filename: 'img.bin',
        blksize: 1428,
        windowsize: 4,
      });
      expect(sha(data)).toBe(sha(files['img.bin']!));
    });

    it('survives garbage on its well-known port and on a transfer port, and hostile names', async () => {
      // No rate limit here: the garbage comes from the same address as the requests after it.
      const { port, server } = await start({ maxRequestRate: 0 });
      const noise = await RawUdp.open();
      for (let i = 0; i < 2000; i++) noise.send(randomBytes(i % 700), port);
      for (const name of [
        'a'.repeat(5000),
        'a'.repeat(300),
        'x/'.repeat(300) + 'y',
        '\\..\\..\\etc\\passwd',
        '%2e%2e/etc/passwd',
        '....//....//etc/passwd',
      ]) {
        const err = await tftpGetBuffer({ host: '127.0.0.1', port, filename: name }).catch((e: unknown) => e);
        expect(err, name).toBeInstanceOf(TftpError);
        expect([ErrorCode.FILE_NOT_FOUND, ErrorCode.ACCESS_VIOLATION, ErrorCode.ILLEGAL_OPERATION]).toContain(
          (err as TftpError).code,
        );
        expect((err as TftpError).tftpMessage.length).toBeLessThanOrEqual(160);
      }
      // A transfer in progress is not disturbed by garbage from its own peer either.
      const c = await RawUdp.open();
      c.send(rrq('small.txt', { blksize: '8' }), port);
      const oack = await c.next();
      for (let i = 0; i < 50; i++) c.send(randomBytes(i % 10), oack!.port);
      const chunks: Buffer[] = [];
      for (let block = 0; ; block++) {
        c.send(encodeAck(block), oack!.port);
        let p;
        do p = decoded(await c.next());
        while (p.opcode !== Opcode.DATA || p.block !== ((block + 1) & 0xffff));
        chunks.push(p.payload);
        if (p.payload.length < 8) {
          c.send(encodeAck(block + 1), oack!.port);
          break;
        }
      }
      expect(Buffer.concat(chunks).equals(files['small.txt']!)).toBe(true);
      const { data } = await tftpGetBuffer({ host: '127.0.0.1', port, filename: 'img.bin' });
      expect(sha(data)).toBe(sha(files['img.bin']!));
      expect(server.stats().malformedRequests).toBeGreaterThan(0);
      noise.close();
      c.close();
    });

    it('40 clients at once all get whole files', async () => {
      const { port } = await start();
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          tftpGetBuffer({ host: '127.0.0.1', port, filename: 'img.bin', blksize: 1468, windowsize: i % 2 ? 8 : 1 }),
        ),
      );
      for (const r of results) expect(sha(r.data)).toBe(sha(files['img.bin']!));
    });

    describe('uploads', () => {
      it('are refused unless allowed, then land whole via a temporary file', async () => {
        const { port, server } = await start({ allowWrite: true, maxUploadBytes: 100_000 });
        const data = randomBytes(50_000);
        await tftpPut(
          { host: '127.0.0.1', port, filename: 'up/a.bin', blksize: 1000, windowsize: 4, tsize: true },
          data,
        );
        expect(sha(await fs.readFile(path.join(root, 'up/a.bin')))).toBe(sha(data));
        // No overwrite unless allowed.
        const exists = await tftpPut({ host: '127.0.0.1', port, filename: 'up/a.bin' }, Buffer.from('x')).catch(
          (e: unknown) => e,
        );
        expect((exists as TftpError).code).toBe(ErrorCode.FILE_EXISTS);
        // Over the cap, announced by tsize: refused up front.
        const big = await tftpPut(
          { host: '127.0.0.1', port, filename: 'up/big.bin', tsize: true },
          randomBytes(200_000),
        ).catch((e: unknown) => e);
        expect((big as TftpError).code).toBe(ErrorCode.DISK_FULL);
        // Over the cap, not announced: stopped when it passes it, and nothing is left behind.
        const big2 = await tftpPut(
          { host: '127.0.0.1', port, filename: 'up/big2.bin', blksize: 8192 },
          randomBytes(200_000),
        ).catch((e: unknown) => e);
        expect((big2 as TftpError).code).toBe(ErrorCode.DISK_FULL);
        await server.idle(); // the refused uploads' cleanup
        expect((await fs.readdir(path.join(root, 'up'))).sort()).toEqual(['a.bin']);
        // netascii upload is stored in local form.
        await tftpPut({ host: '127.0.0.1', port, filename: 'up/t.txt', mode: 'netascii' }, files['text.txt']!);
        expect((await fs.readFile(path.join(root, 'up/t.txt'))).equals(files['text.txt']!)).toBe(true);
        await fs.rm(path.join(root, 'up/t.txt'));
      });

      it('with --allow-overwrite, replace the file atomically', async () => {
        const { port } = await start({ allowWrite: true, allowOverwrite: true });
        const data = randomBytes(3000);
        await tftpPut({ host: '127.0.0.1', port, filename: 'up/a.bin' }, data);
        expect(sha(await fs.readFile(path.join(root, 'up/a.bin')))).toBe(sha(data));
      });

      it('an abandoned upload leaves no file behind', async () => {
        const { port, server } = await start({ allowWrite: true, timeoutMs: 50, maxRetries: 2 });
        const c = await RawUdp.open();
        c.send(encodeRequest(Opcode.WRQ, 'up/abandoned.bin', 'octet'), port);
        const ack0 = await c.next();
        expect(decoded(ack0)).toEqual({ opcode: Opcode.ACK, block: 0 });
        const payload = Buffer.concat([Buffer.from([0, 3, 0, 1]), randomBytes(512)]);
        c.send(payload, ack0!.port);
        expect(decoded(await c.next())).toEqual({ opcode: Opcode.ACK, block: 1 });
        // The client goes away: the server retries, gives up with ERROR 0 and discards the upload.
        let last;
        do last = decoded(await c.next(1000));
        while (last.opcode === Opcode.ACK);
        expect(last).toMatchObject({ opcode: Opcode.ERROR, code: 0 });
        await server.idle();
        expect(await fs.readdir(path.join(root, 'up'))).not.toContain('abandoned.bin');
        expect((await fs.readdir(path.join(root, 'up'))).filter((n) => n.endsWith('.part'))).toEqual([]);
        expect(server.stats().transfersFailed).toBe(1);
        c.close();
      });
    });

    it('on close, running transfers get a grace period, then ERROR 0', async () => {
      const { port, server } = await start();
      const c = await RawUdp.open();
      c.send(rrq('img.bin'), port);
      expect(decoded(await c.next())).toMatchObject({ opcode: Opcode.DATA, block: 1 });
      const closed = server.close(300);
      // New requests are no longer answered.
      const late = await RawUdp.open();
      late.send(rrq('small.txt'), port);
      // The stalled transfer is resent DATA 1 during the grace period, then told the server is going.
      let p;
      do p = decoded(await c.next(2000));
      while (p.opcode === Opcode.DATA);
      expect(p).toEqual({ opcode: Opcode.ERROR, code: 0, message: 'server shutting down' });
      await closed;
      expect(await late.next(200)).toBeUndefined();
      c.close();
      late.close();
    });

    describe('through a lossy relay (drop, duplicate, reorder both ways)', () => {
      for (const windowsize of [1, 8]) {
        for (const seed of [1, 2, 3]) {
          it(`downloads whole files, windowsize ${windowsize}, seed ${seed}`, async () => {
            const { port } = await start({ timeoutMs: 50, maxRetries: 12 });
            const relay = await startLossyRelay({
              target: { host: '127.0.0.1', port },
              drop: 0.1,
              duplicate: 0.1,
              reorder: 0.1,
              seed,
            });
            try {
              const got = await Promise.all(
                ['img.bin', 'exact.bin', 'small.txt'].map((f) =>
                  tftpGetBuffer({
                    host: relay.host,
                    port: relay.port,
                    filename: f,
                    blksize: 1024,
                    windowsize,
                    timeoutMs: 50,
                    maxRetries: 12,
                    dallyMs: 200,
                  }),
                ),
              );
              expect(sha(got[0]!.data)).toBe(sha(files['img.bin']!));
              expect(sha(got[1]!.data)).toBe(sha(files['exact.bin']!));
              expect(sha(got[2]!.data)).toBe(sha(files['small.txt']!));
              expect(relay.stats.dropped).toBeGreaterThan(0);
            } finally {
              await relay.close();
            }
          });
        }
        it(`uploads whole files, windowsize ${windowsize}`, async () => {
          const { port } = await start({ timeoutMs: 50, maxRetries: 12, allowWrite: true, allowOverwrite: true });
          const relay = await startLossyRelay({
            target: { host: '127.0.0.1', port },
            drop: 0.1,
            duplicate: 0.1,
            reorder: 0.1,
            seed: 7 + windowsize,
          });
          try {
            const data = randomBytes(100_000);
            await tftpPut(
              {
                host: relay.host,
                port: relay.port,
                filename: `up/lossy${windowsize}.bin`,
                blksize: 1024,
                windowsize,
                timeoutMs: 50,
                maxRetries: 12,
              },
              data,
            );
            expect(sha(await fs.readFile(path.join(root, `up/lossy${windowsize}.bin`)))).toBe(sha(data));
          } finally {
            await relay.close();
          }
        });
      }
    });
  });
