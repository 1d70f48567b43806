/**
 * Issue 14, the TFTP rows: each hostile input, then a legitimate phone served while (or right after)
 * it runs, and the server's work bounded, counted in packets, bytes and transfers (never in time).
 * Floods come from other loopback addresses (127.0.0.x: all loopback on Linux) than the phone's
 * 127.0.0.1, from many ports each.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeTftp, encodeAck, encodeRequest } from '../../packages/tftp/src/codec.js';
import { TftpError, tftpGetBuffer, tftpPut, type TftpClientOptions } from '../../packages/tftp/src/client.js';
import { toNetascii } from '../../packages/tftp/src/netascii.js';
import { ErrorCode, Opcode, type TftpPacket } from '../../packages/tftp/src/packet.js';
import { type TransferRecord, TftpServer, type TftpServerOptions } from '../../packages/tftp/src/server.js';
import { type Datagram, RawUdp } from '../helpers/raw-udp.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let root: string;
const files: Record<string, Buffer> = {};
const servers: TftpServer[] = [];
const sockets: RawUdp[] = [];

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-hostile-'));
  files['phone.cfg'] = Buffer.from('SET SIPDOMAIN example.test\n'.repeat(100));
  files['img.bin'] = randomBytes(200_000);
  files['big.bin'] = randomBytes(16 * 1024 * 1024);
  files['text.txt'] = Buffer.from('SET A 1\nSET B 2\r\nraw\rCR\n'.repeat(420_000)); // 10 MB of text
  for (const [n, b] of Object.entries(files)) await fs.writeFile(path.join(root, n), b);
  await fs.mkdir(path.join(root, 'up'));
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function start(o: Partial<TftpServerOptions> = {}) {
  const server = await TftpServer.start({
    root,
    host: '127.0.0.1',
    port: 0,
    workers: 2,
    timeoutMs: 200,
    maxRetries: 3,
    ...o,
  });
  servers.push(server);
  const records: TransferRecord[] = [];
  server.on('transfer', (r) => records.push(r));
  return { server, port: server.address().port, records };
}

async function open(host: string, n: number): Promise<RawUdp[]> {
  const list = await Promise.all(Array.from({ length: n }, () => RawUdp.open(host)));
  sockets.push(...list);
  return list;
}

const rrq = (name: string, opts: Record<string, string> = {}, mode = 'octet') =>
  encodeRequest(
    Opcode.RRQ,
    name,
    mode,
    Object.entries(opts).map(([name, value]) => ({ name, value })),
  );

function decoded(d: Datagram): TftpPacket {
  const r = decodeTftp(d.msg);
  if (!r.ok) throw new Error(r.error.message);
  return r.packet;
}

/** Everything a socket has received so far (call once the server is idle: nothing more is coming). */
async function drain(s: RawUdp): Promise<Datagram[]> {
  const got: Datagram[] = [];
  for (let d = await s.next(20); d; d = await s.next(20)) got.push(d);
  return got;
}

/** A phone's fetch: as phones do, it asks again a little later when the server says it is busy. */
async function phoneFetch(port: number, filename: string, o: Partial<TftpClientOptions> = {}): Promise<Buffer> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await tftpGetBuffer({ host: '127.0.0.1', port, filename, timeoutMs: 500, ...o })).data;
    } catch (e) {
      if (attempt < 20 && e instanceof TftpError && e.tftpMessage === 'server busy') {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      throw e;
    }
  }
}

describe('a client timeout of 255 s and a transfer that never ends', () => {
  it(
    'timeout=255 is declined (the server keeps its own), so 60 such requests cannot hold the cap; a ' +
      'phone is served',
    async () => {
      const { server, port } = await start({ maxTransfers: 20 });
      const flood = await open('127.0.0.2', 60);
      for (const s of flood) s.send(rrq('img.bin', { blksize: '1024', timeout: '255' }), port);
      const firsts = await Promise.all(flood.map((s) => s.next()));
      for (const d of firsts) {
        const p = decoded(d!);
        if (p.opcode === Opcode.OACK) expect(p.options.map((o) => o.key)).toEqual(['blksize']);
        else expect(p).toEqual({ opcode: Opcode.ERROR, code: 0, message: 'server busy' });
      }
      expect(server.stats().activeTransfers).toBeLessThanOrEqual(20);
      // The flood's transfers go idle after the server's own 200 ms, not 255 s: the phone gets a slot.
      const data = await phoneFetch(port, 'img.bin', { blksize: 1428 });
      expect(sha(data)).toBe(sha(files['img.bin']!));
      await server.idle();
      // Per flood request: an OACK, one resend before giving up on it (or an ERROR, when refused or reclaimed).
      for (const got of await Promise.all(flood.map(drain))) expect(got.length).toBeLessThanOrEqual(2);
    },
  );

  it('a client that ACKs just before each timeout is ended at --max-transfer-seconds', async () => {
    const { server, port, records } = await start({ maxTransferMs: 1000, timeoutMs: 300 });
    const [c] = await open('127.0.0.1', 1);
    c!.send(rrq('big.bin', { blksize: '512' }), port);
    let d = await c!.next();
    let tid = d!.port;
    let packets = 0;
    for (let block = 0; ;) {
      const p = decoded(d!);
      if (p.opcode === Opcode.ERROR) {
        expect(p).toEqual({ opcode: Opcode.ERROR, code: 0, message: 'transfer took too long' });
        break;
      }
      if (p.opcode === Opcode.DATA) block = p.block;
      await new Promise((r) => setTimeout(r, 150)); // a slow client, well within the 300 ms timeout
      c!.send(encodeAck(block), tid);
      d = await c!.next();
      tid = d!.port;
      expect(++packets).toBeLessThan(100);
    }
    await server.idle();
    expect(records[0]).toMatchObject({ ok: false, error: { code: 0, message: 'transfer took too long' } });
    expect(sha(await phoneFetch(port, 'phone.cfg'))).toBe(sha(files['phone.cfg']!));
  });
});

describe('a flood of RRQs', () => {
  it(
    'from many ports of one address: it holds at most its share, its oldest idle transfers are ' +
      'reclaimed, a phone is served at once',
    async () => {
      const { server, port } = await start({ maxTransfers: 60, maxTransfersPerAddress: 30 });
      const flood = await open('127.0.0.2', 300);
      // Its first 30 requests fill its share; once they run (each has sent its DATA 1), the rest follow.
      for (const f of flood.slice(0, 30)) f.send(rrq('img.bin'), port);
      for (const f of flood.slice(0, 30))
        expect(decoded((await f.next())!)).toMatchObject({ opcode: Opcode.DATA, block: 1 });
      let worst = 0;
      let phone: Promise<Buffer> | undefined;
      for (let i = 30; i < flood.length; i++) {
        flood[i]!.send(rrq('img.bin'), port);
        if (i % 20 === 19) {
          await new Promise((r) => setTimeout(r, 30)); // paced, as in the issue (1,000/s), so its transfers go idle
          worst = Math.max(worst, server.transfersFrom('127.0.0.2'));
          expect(server.stats().activeTransfers).toBeLessThanOrEqual(60 + 20);
        }
        // Halfway through, a phone asks: no retry, the flood never has the slots it needs.
        if (i === 150)
          phone = tftpGetBuffer({ host: '127.0.0.1', port, filename: 'img.bin', blksize: 1428, timeoutMs: 500 }).then(
            (r) => r.data,
          );
      }
      expect(sha(await phone!)).toBe(sha(files['img.bin']!));
      expect(worst).toBeLessThanOrEqual(30);
      const s = server.stats();
      expect(s.reclaimed).toBeGreaterThan(0);
      await server.idle();
      // Its first requests were its oldest idle transfers: the first reclaimed.
      const first = await drain(flood[0]!);
      expect(decoded(first.at(-1)!)).toEqual({
        opcode: Opcode.ERROR,
        code: 0,
        message: 'server busy: idle transfer ended',
      });
      // Work per flood request: DATA 1, at most one resend, and an ERROR when refused or reclaimed.
      let packets = 30 + first.length;
      for (const got of await Promise.all(flood.slice(1).map(drain))) packets += got.length;
      expect(packets).toBeLessThanOrEqual(300 * 3);
    },
  );

  it('from many addresses: the cap holds, and idle flood transfers give way to a phone', async () => {
    const { server, port } = await start({ maxTransfers: 40, maxTransfersPerAddress: 10 });
    const flood: RawUdp[] = [];
    for (let a = 10; a < 20; a++) flood.push(...(await open(`127.0.0.${a}`, 10)));
    for (const f of flood) f.send(rrq('img.bin'), port);
    const answers = await Promise.all(flood.map((f) => f.next()));
    expect(answers.every((d) => d !== undefined)).toBe(true);
    expect(server.stats().activeTransfers).toBeLessThanOrEqual(40);
    // The flood goes on, slowly, while the phone fetches.
    let stop = false;
    const more = (async () => {
      for (let i = 0; !stop && i < 50; i++) {
        flood[i % flood.length]!.send(rrq('phone.cfg'), port);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const data = await phoneFetch(port, 'img.bin', { blksize: 1428 });
    stop = true;
    await more;
    expect(sha(data)).toBe(sha(files['img.bin']!));
    expect(server.stats().activeTransfers).toBeLessThanOrEqual(40 + 1);
  });

  it('blksize 65464 + windowsize 64, one ACK 0, then silence: bounded bytes, not a 4 MB window resent', async () => {
    const { server, port, records } = await start();
    const clients = await open('127.0.0.3', 20);
    for (const c of clients) c.send(rrq('big.bin', { blksize: '65464', windowsize: '64' }), port);
    for (const c of clients) {
      const oack = await c.next();
      expect(decoded(oack!)).toMatchObject({ opcode: Opcode.OACK });
      c.send(encodeAck(0), oack!.port);
    }
    await server.idle();
    // What the server sent: first sends plus every resend, counted by the transfers themselves.
    const sent = records.reduce((n, r) => n + r.bytes + r.retransmits * 65464, 0);
    expect(records.length).toBe(20);
    console.log(
      `20 x (blksize 65464, windowsize 64, ACK 0, silence), --retries 3: ${sent} bytes sent, ` +
        `${(sent / 20 / 1e6).toFixed(2)} MB a request`,
    );
    // Per client at most two 512 KiB windows and one block on each later retry: 1.2 MB, not the
    // issue's 6 x 4 MB. In all, 24 MB for 20 requests instead of 500. One more block each: on a loaded
    // machine an OACK can be resent before its ACK 0 is read, and `retransmits` counts it as a block.
    expect(sent).toBeLessThanOrEqual(20 * (2 * 512 * 1024 + 3 * 65464));
    expect(sha(await phoneFetch(port, 'img.bin', { blksize: 65464, windowsize: 64 }))).toBe(sha(files['img.bin']!));
  });
});

describe('a spoofable source', () => {
  it('one plain 16-byte RRQ nobody answers gets two DATA and no ERROR (65x, not 195x)', async () => {
    const { server, port } = await start();
    const [victim] = await open('127.0.0.5', 1);
    const request = rrq('img.bin');
    expect(request.length).toBe(16);
    victim!.send(request, port);
    const first = await victim!.next();
    expect(decoded(first!)).toMatchObject({ opcode: Opcode.DATA, block: 1 });
    await server.idle();
    const rest = await drain(victim!);
    expect(rest.map((d) => decoded(d)).map((p) => [p.opcode, (p as { block?: number }).block])).toEqual([
      [Opcode.DATA, 1],
    ]);
    const bytes = first!.msg.length + rest.reduce((n, d) => n + d.msg.length, 0);
    expect(bytes).toBe(2 * (4 + 512));
    expect(bytes / request.length).toBeLessThan(70);
    expect(sha(await phoneFetch(port, 'phone.cfg'))).toBe(sha(files['phone.cfg']!));
  });

  it('requests past the per-source rate are dropped, unanswered; another address is served', async () => {
    const { server, port } = await start({ maxRequestRate: 20 });
    const flood = await open('127.0.0.6', 200);
    const t0 = performance.now();
    for (const f of flood) f.send(rrq('phone.cfg'), port);
    const data = await phoneFetch(port, 'phone.cfg');
    const elapsed = (performance.now() - t0) / 1000;
    expect(sha(data)).toBe(sha(files['phone.cfg']!));
    await server.idle();
    const answered = (await Promise.all(flood.map(drain))).filter((got) => got.length > 0).length;
    // A bucket of 20, refilled at 20 a second: never more than that, however the machine is loaded.
    expect(answered).toBeLessThanOrEqual(20 + Math.ceil(20 * elapsed));
    expect(server.stats().rateLimited).toBe(200 - answered);
  });
});

describe('netascii requests for a large file', () => {
  it('300 of them scan the 10 MB file once; a phone is served', async () => {
    // One address sends all 300: its share and rate are lifted, this test is about the scan.
    const { server, port } = await start({ maxRequestRate: 0, maxTransfersPerAddress: 1000 });
    const clients = await open('127.0.0.7', 300);
    const tsize = toNetascii(files['text.txt']!).length;
    // In three waves of 100: 300 at once overflow the well-known socket's kernel buffer while the first
    // load runs, and the kernel, not bootwire, drops some (a real client would ask again).
    for (let wave = 0; wave < 3; wave++) {
      const batch = clients.slice(wave * 100, wave * 100 + 100);
      for (const c of batch) c.send(rrq('text.txt', { tsize: '0' }, 'netascii'), port);
      const oacks = await Promise.all(batch.map((c) => c.next()));
      for (const d of oacks) expect(decoded(d!)).toMatchObject({ opcode: Opcode.OACK, known: { tsize } });
    }
    expect(server.cache.stats().derived).toBe(1);
    const got = await phoneFetch(port, 'text.txt', { mode: 'netascii', blksize: 1428, windowsize: 16 });
    expect(got.equals(files['text.txt']!)).toBe(true);
    expect(server.cache.stats().derived).toBe(1);
  });
});

describe('names and messages', () => {
  it('a 65,000-character name gets ERROR 4 with a short message, for RRQ and WRQ', async () => {
    const { port, server } = await start({ allowWrite: true });
    const [c] = await open('127.0.0.1', 1);
    const name = 'a'.repeat(65_000);
    for (const opcode of [Opcode.RRQ, Opcode.WRQ] as const) {
      c!.send(encodeRequest(opcode, name, 'octet'), port);
      const d = await c!.next();
      expect(decoded(d!)).toEqual({
        opcode: Opcode.ERROR,
        code: ErrorCode.ILLEGAL_OPERATION,
        message: 'file name too long',
      });
      expect(d!.msg.length).toBeLessThan(64);
    }
    expect(server.stats().activeTransfers).toBe(0);
    expect(sha(await phoneFetch(port, 'phone.cfg'))).toBe(sha(files['phone.cfg']!));
  });

  it("error messages name the request, never the server's files", async () => {
    const { server, port } = await start({ allowWrite: true });
    await fs.mkdir(path.join(root, 'dir'), { recursive: true });
    await fs.writeFile(path.join(root, 'up', 'exists.bin'), 'x');
    await fs.symlink('/etc/hostname', path.join(root, 'escape')).catch(() => {});
    const messages: string[] = [];
    const expectRefused = async (p: Promise<unknown>) => {
      const e = await p.catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TftpError);
      messages.push((e as TftpError).tftpMessage);
    };
    const get = (filename: string) => tftpGetBuffer({ host: '127.0.0.1', port, filename, timeoutMs: 500 });
    const put = (filename: string) => tftpPut({ host: '127.0.0.1', port, filename, timeoutMs: 500 }, Buffer.from('x'));
    for (const name of [
      'missing.bin',
      '../etc/passwd',
      '/etc/passwd',
      '/',
      '.',
      'dir',
      'escape',
      'x'.repeat(300),
      'x'.repeat(300) + '/y',
      'dir/' + 'y'.repeat(256),
    ]) {
      await expectRefused(get(name));
    }
    for (const name of [
      'up/exists.bin',
      'nodir/x.bin',
      'up/' + 'z'.repeat(250) + '.part.part',
      'up/' + 'w'.repeat(256),
      'dir',
      '/',
      '../up/x',
    ]) {
      await expectRefused(put(name));
    }
    const tmp = os.tmpdir();
    for (const m of messages) {
      expect(m.length, m).toBeLessThanOrEqual(160);
      for (const leak of [
        root,
        server.rootReal!,
        tmp + '/',
        '.bootwire-',
        'root directory',
        'ENAMETOOLONG: name too long, open',
      ])
        expect(m, m).not.toContain(leak);
    }
    // Still serving.
    expect(sha(await phoneFetch(port, 'phone.cfg'))).toBe(sha(files['phone.cfg']!));
  });
});
