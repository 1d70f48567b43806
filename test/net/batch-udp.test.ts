/**
 * Batched UDP sockets (native/udp_batch.c via packages/tftp/dist/net/batch-udp.js): what arrives, whole and in order,
 * what a segmented (GSO) send puts on the wire as seen by a plain dgram receiver, and the fallback
 * when the path cannot segment.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchSocket, batchUdpAvailable } from '../../packages/tftp/src/net/batch-udp.js';
import { intToIp as numberToIpv4, ipToInt as ipv4ToNumber } from '../../packages/core/src/ipv4.js';
import { createNetns } from '../helpers/netns.js';
import { IN_CI, requireRoot } from '../helpers/peers.js';
import { bindUdp } from '../../packages/core/src/udp.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOOP = ipv4ToNumber('127.0.0.1');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type Got = { msg: Buffer | null; address: number; port: number };

const open: BatchSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function socket(slotBytes = 516, burst = 1): BatchSocket & { got: Got[]; wait(n: number): Promise<Got[]> } {
  const s = new BatchSocket({ address: '127.0.0.1', slotBytes, burst }) as BatchSocket & {
    got: Got[];
    wait(n: number): Promise<Got[]>;
  };
  open.push(s);
  s.got = [];
  let waiter: (() => void) | undefined;
  s.onMessage = (msg, address, port) => {
    // Keep the datagram past the call: views stay valid while referenced.
    s.got.push({ msg, address, port });
    waiter?.();
  };
  s.wait = (n) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`only ${s.got.length} of ${n} datagrams arrived`)), 5000);
      const check = () => {
        if (s.got.length >= n) {
          clearTimeout(t);
          waiter = undefined;
          resolve(s.got);
        }
      };
      waiter = check;
      check();
    });
  return s;
}

describe('batched UDP', () => {
  it('is built here (CI must build it: npm install runs node-gyp)', (ctx) => {
    if (!batchUdpAvailable() && !IN_CI) ctx.skip('native/udp_batch.c not built (no C compiler?)');
    expect(batchUdpAvailable()).toBe(process.platform === 'linux');
  });

  describe.runIf(batchUdpAvailable())('sockets', () => {
    it('converts IPv4 addresses both ways', () => {
      expect(ipv4ToNumber('127.0.0.1')).toBe(0x7f000001);
      expect(ipv4ToNumber('255.254.1.0')).toBe(0xfffe0100);
      expect(numberToIpv4(0xfffe0100)).toBe('255.254.1.0');
    });

    it('delivers every datagram of a burst to many sockets, in order per socket, with its source', async () => {
      const from = socket();
      const to = Array.from({ length: 40 }, () => socket());
      for (let i = 0; i < 25; i++)
        for (const [k, t] of to.entries()) from.sendTo(LOOP, t.port, Buffer.from([k, i]), Buffer.from(`#${i}`));
      for (const [k, t] of to.entries()) {
        const got = await t.wait(25);
        expect(got.map((g) => g.msg!.toString('latin1', 2))).toEqual(Array.from({ length: 25 }, (_, i) => `#${i}`));
        expect(got.every((g) => g.msg![0] === k && g.address === LOOP && g.port === from.port)).toBe(true);
      }
    });

    it('keeps a datagram longer than its slot whole; of several in one read, earlier ones arrive as null', async () => {
      const from = socket();
      const to = socket(64, 8);
      const big = randomBytes(60_000);
      from.sendTo(LOOP, to.port, big.subarray(0, 4), big.subarray(4));
      expect(sha((await to.wait(1))[0]!.msg!)).toBe(sha(big));
      // Three long ones sent before the receiver's thread looks: one recvmmsg takes all three.
      const longs = [randomBytes(5000), randomBytes(7000), randomBytes(3000)];
      for (const l of longs) from.sendTo(LOOP, to.port, l.subarray(0, 4), l.subarray(4));
      from.sendTo(LOOP, to.port, Buffer.from('tail'));
      const got = (await to.wait(5)).slice(1);
      expect(got.map((g) => (g.msg ? sha(g.msg) : null))).toEqual([
        null,
        null,
        sha(longs[2]!),
        sha(Buffer.from('tail')),
      ]);
      // Read one at a time (burst 1, a lock-step socket), every one arrives whole.
      const one = socket(64, 1);
      for (const l of longs) from.sendTo(LOOP, one.port, l.subarray(0, 4), l.subarray(4));
      expect((await one.wait(3)).map((g) => sha(g.msg!))).toEqual(longs.map(sha));
    });

    it('reads a window queued on one socket over several turns when it is larger than the burst', async () => {
      const from = socket();
      const to = socket(516, 4);
      for (let i = 0; i < 10; i++) from.sendTo(LOOP, to.port, Buffer.from([i]));
      expect((await to.wait(10)).map((g) => g.msg![0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('a connected socket hears only its peer and sends without an address', async () => {
      const a = socket();
      const b = socket();
      const stranger = socket();
      a.connect('127.0.0.1', b.port);
      stranger.sendTo(LOOP, a.port, Buffer.from('not you'));
      b.sendTo(LOOP, a.port, Buffer.from('you'));
      expect(a.send(Buffer.from('hi'), Buffer.from('!'))).toBe(3);
      expect((await b.wait(1))[0]!.msg!.toString()).toBe('hi!');
      expect((await a.wait(1)).map((g) => g.msg!.toString())).toEqual(['you']);
    });

    it('a queued window leaves as separate datagrams a plain receiver reads one by one (UDP GSO)', async () => {
      const rx = dgram.createSocket('udp4');
      await bindUdp(rx, 0, '127.0.0.1');
      const got: Buffer[] = [];
      rx.on('message', (m) => got.push(m));
      const tx = socket();
      socket(); // a second transfer in this thread: windows are segmented only when there are several
      tx.connect('127.0.0.1', rx.address().port);
      const image = randomBytes(16 * 512 + 100);
      const header = (b: number) => Buffer.from([0, 3, b >> 8, b & 255]);
      for (let b = 1; b <= 17; b++) tx.queue(header(b), image.subarray((b - 1) * 512, Math.min(b * 512, image.length)));
      expect(got).toHaveLength(0); // nothing leaves before flush
      tx.flush();
      await new Promise((r) => setTimeout(r, 200));
      rx.close();
      expect(got.map((m) => m.length)).toEqual([...Array<number>(16).fill(516), 104]);
      expect(got.map((m) => m.readUInt16BE(2))).toEqual(Array.from({ length: 17 }, (_, i) => i + 1));
      expect(sha(Buffer.concat(got.map((m) => m.subarray(4))))).toBe(sha(image));
      expect(tx.segmentedSends).toBe(1);
    });

    it(
      'with one transfer in the thread, a window leaves one datagram at a time (the client starts ' + 'sooner)',
      async () => {
        const rx = socket();
        const tx = socket();
        open.splice(open.indexOf(rx), 1);
        rx.close(); // only tx is left open
        const sink = dgram.createSocket('udp4');
        await bindUdp(sink, 0, '127.0.0.1');
        const got: Buffer[] = [];
        sink.on('message', (m) => got.push(m));
        tx.connect('127.0.0.1', sink.address().port);
        for (let b = 1; b <= 4; b++) tx.queue(Buffer.from([0, 3, 0, b]), Buffer.alloc(512, b));
        tx.flush();
        await new Promise((r) => setTimeout(r, 100));
        sink.close();
        expect(got.map((m) => m[3])).toEqual([1, 2, 3, 4]);
        expect(tx.segmentedSends).toBe(0);
      },
    );

    it('an unref’d socket does not keep the process alive; an open one does', async () => {
      const script = (unref: boolean) =>
        `import('${path.join(REPO, 'packages/tftp/dist/net/batch-udp.js').replaceAll('\\', '/')}` +
        `').then(({ BatchSocket }) => {` +
        (` const s = new BatchSocket({ address: '127.0.0.1', slotBytes: 512 }); ` +
          `${unref ? 's.unref();' : ''} console.log(s.port); })`);
      const exits = (unref: boolean) =>
        new Promise<boolean>((resolve) => {
          const p = spawn(process.execPath, ['-e', script(unref)], { stdio: 'ignore' });
          const t = setTimeout(() => {
            p.kill('SIGKILL');
            resolve(false);
          }, 3000);
          p.on('exit', (code) => {
            clearTimeout(t);
            resolve(code === 0);
          });
        });
      expect(await exits(true)).toBe(true);
      expect(await exits(false)).toBe(false);
    });

    it('falls back to one datagram at a time where the path cannot segment (8 KiB blocks, MTU 1500)', async (ctx) => {
      requireRoot(ctx);
      const ns = await createNetns();
      try {
        await ns.exec('ip', ['link', 'set', 'lo', 'mtu', '1500'], { timeoutMs: 5000 });
        // 8196-byte datagrams cannot be GSO segments under a 1500-byte MTU (EINVAL): the socket sends
        // them one by one, IP fragments them, and the receiver still gets every block whole.
        const code = `
          import { BatchSocket } from '${path.join(REPO, 'packages/tftp/dist/net/batch-udp.js')}';
          import { bindUdp } from '${path.join(REPO, 'packages/core/dist/udp.js')}';
          import dgram from 'node:dgram';
          const rx = dgram.createSocket('udp4');
          await bindUdp(rx, 0, '127.0.0.1');
          const got = [];
          rx.on('message', (m) => got.push(m));
          const tx = new BatchSocket({ address: '127.0.0.1', slotBytes: 512 });
          const other = new BatchSocket({ address: '127.0.0.1', slotBytes: 512 }); // several transfers: segmenting on
          tx.connect('127.0.0.1', rx.address().port);
          const body = Buffer.alloc(8192, 7);
          for (let b = 0; b < 4; b++) tx.queue(Buffer.from([0, 3, 0, b]), body);
          tx.flush();
          tx.queue(Buffer.from([0, 3, 0, 4]), body);
          tx.queue(Buffer.from([0, 3, 0, 5]), body);
          tx.flush();
          await new Promise((r) => setTimeout(r, 300));
          console.log(JSON.stringify({ got: got.map((m) => [m.length, m[3]]), segmented: tx.segmentedSends }));
          tx.close(); other.close(); rx.close();`;
        const r = await ns.exec(process.execPath, ['--input-type=module', '-e', code], { timeoutMs: 10_000 });
        expect(r.stderr.toString()).toBe('');
        expect(JSON.parse(r.stdout.toString())).toEqual({
          got: Array.from({ length: 6 }, (_, b) => [8196, b]),
          segmented: 0,
        });
      } finally {
        await ns.delete();
      }
    });
  });
});
