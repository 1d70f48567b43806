/**
 * A transfer's transport (src/net/transport.ts), both kinds: who counts as the peer, what a stranger
 * gets, and what happens to datagrams the kernel has no room for. The back-pressure tests send
 * through a real bottleneck: a site's uplink (src/storm/site.ts) shaped with tbf to a queue a window
 * overruns, the sender in the server's namespace and a plain receiver in a phones' namespace.
 */
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { batchUdpAvailable, BatchSocket } from '../../packages/tftp/src/net/batch-udp.js';
import { BatchTransport } from '../../packages/tftp/src/net/batch-transport.js';
import { DgramTransport } from '../../packages/tftp/src/net/dgram-transport.js';
import type { Endpoint, TransferTransport, TransportOptions } from '../../packages/tftp/src/net/transport.js';
import { bindUdp } from '../../packages/core/src/udp.js';
import { Site } from '../../packages/bootwire/src/storm/site.js';
import { requireRoot } from '../helpers/peers.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KINDS = [
  { kind: 'dgram', open: (o: TransportOptions) => DgramTransport.open(o) },
  ...(batchUdpAvailable() ? [{ kind: 'batch', open: (o: TransportOptions) => BatchTransport.open(o) }] : []),
];

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function udp(): Promise<
  dgram.Socket & { got: { msg: Buffer; from: Endpoint }[]; next(): Promise<{ msg: Buffer; from: Endpoint }> }
> {
  const s = dgram.createSocket('udp4') as dgram.Socket & {
    got: { msg: Buffer; from: Endpoint }[];
    next(): Promise<{ msg: Buffer; from: Endpoint }>;
  };
  await bindUdp(s, 0, '127.0.0.1');
  cleanups.push(() => s.close());
  s.got = [];
  const waiters: ((g: { msg: Buffer; from: Endpoint }) => void)[] = [];
  s.on('message', (msg, r) => {
    const g = { msg, from: { address: r.address, port: r.port } };
    const w = waiters.shift();
    if (w) w(g);
    else s.got.push(g);
  });
  s.next = () => {
    const g = s.got.shift();
    if (g) return Promise.resolve(g);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no datagram within 3 s')), 3000);
      waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  };
  return s;
}

function listen(t: TransferTransport) {
  const peer: (Buffer | null)[] = [];
  const strangers: { msg: Buffer | null; from: Endpoint }[] = [];
  t.onPeer = (m) => peer.push(m && Buffer.from(m));
  t.onStranger = (m, from) => strangers.push({ msg: m && Buffer.from(m), from });
  const until = async (f: () => boolean) => {
    for (let i = 0; i < 300 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(f()).toBe(true);
  };
  return { peer, strangers, until };
}

describe.each(KINDS)('$kind transport', ({ open }) => {
  it(
    'a server side hears its peer; a stranger on the same port is told apart; flush sends a batch in ' + 'order',
    async () => {
      const client = await udp();
      const stranger = await udp();
      const t = await open({
        local: '127.0.0.1',
        peer: { address: '127.0.0.1', port: client.address().port },
        peerPortKnown: true,
      });
      cleanups.push(() => t.close());
      const { peer, strangers, until } = listen(t);
      for (let i = 0; i < 5; i++) t.queue(Buffer.from([0, 3, 0, i]), Buffer.alloc(100, i));
      t.flush();
      for (let i = 0; i < 5; i++) {
        const g = await client.next();
        expect([g.msg.length, g.msg[3], g.from.port]).toEqual([104, i, t.port]);
      }
      client.send(Buffer.from('ack'), t.port, '127.0.0.1');
      stranger.send(Buffer.from('who'), t.port, '127.0.0.1');
      await until(() => peer.length === 1 && strangers.length === 1);
      expect(peer[0]!.toString()).toBe('ack');
      expect(strangers[0]!.from).toEqual({ address: '127.0.0.1', port: stranger.address().port });
      t.sendTo(strangers[0]!.from, Buffer.from('go away'));
      expect((await stranger.next()).msg.toString()).toBe('go away');
      expect(t.counters.datagrams).toBe(5);
    },
  );

  it("a client learns the server's TID from its first answer; others are strangers from then on", async () => {
    const server69 = await udp();
    const tid = await udp();
    const t = await open({
      local: '127.0.0.1',
      peer: { address: '127.0.0.1', port: server69.address().port },
      peerPortKnown: false,
    });
    cleanups.push(() => t.close());
    const { peer, strangers, until } = listen(t);
    t.queue(Buffer.from('RRQ'));
    t.flush();
    const rrq = await server69.next();
    expect(rrq.msg.toString()).toBe('RRQ');
    tid.send(Buffer.from('DATA1'), rrq.from.port, '127.0.0.1');
    await until(() => peer.length === 1);
    expect(t.peer.port).toBe(tid.address().port);
    t.queue(Buffer.from('ACK1'));
    t.flush();
    expect((await tid.next()).msg.toString()).toBe('ACK1');
    // The well-known port again, now a stranger (the batch transport is connected: the kernel drops it).
    server69.send(Buffer.from('late'), rrq.from.port, '127.0.0.1');
    tid.send(Buffer.from('DATA2'), rrq.from.port, '127.0.0.1');
    await until(() => peer.length === 2);
    expect(peer.map((p) => p!.toString())).toEqual(['DATA1', 'DATA2']);
    expect(strangers.every((s) => s.from.port === server69.address().port)).toBe(true);
  });
});

describe.runIf(batchUdpAvailable())('batch socket', () => {
  it('an ICMP error (port unreachable) does not leave the socket deaf', async () => {
    const gone = await udp();
    const port = gone.address().port;
    await new Promise<void>((r) => gone.close(() => r()));
    cleanups.pop();
    const s = new BatchSocket({ address: '127.0.0.1', slotBytes: 512 });
    cleanups.push(() => s.close());
    const got: string[] = [];
    s.onMessage = (m) => got.push(m ? m.toString() : 'null');
    s.connect('127.0.0.1', port);
    s.queue(Buffer.from('anyone?'));
    s.flush(); // nobody there: ICMP port unreachable, POLLERR on the socket
    await new Promise((r) => setTimeout(r, 100));
    const back = dgram.createSocket('udp4');
    await bindUdp(back, port, '127.0.0.1');
    cleanups.push(() => back.close());
    back.send(Buffer.from('here now'), s.port, '127.0.0.1');
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(['here now']);
  });
});

/**
 * Runs `code` (an ES module body) with node inside a namespace; it prints one JSON line.
 * `dist/` is what runs there: the tests build it first (pretest).
 */
async function inNamespace(site: Site, ns: 'server' | 'phones', code: string): Promise<unknown> {
  const n = ns === 'server' ? site.server : site.voice[0]!;
  const child = site.spawnIn(n, process.execPath, ['--input-type=module', '-e', code]);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = await new Promise<number | null>((r) => child.once('exit', r));
  if (exit !== 0) throw new Error(`exit ${exit}: ${err}`);
  return JSON.parse(out.trim().split('\n').pop()!);
}

const RECEIVER = (count: number) => `
  import dgram from 'node:dgram';
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  const got = [];
  s.on('message', (m) => { got.push(m.readUInt16BE(2)); if (got.length === ${count}) done(); });
  const done = () => { console.log(JSON.stringify(got)); process.exit(0); };
  s.bind(5000, '10.78.0.10', () => console.error('ready'));
  setTimeout(done, 8000);`;

const SENDER = (batches: number[]) => `
  import { BatchSocket } from '${path.join(REPO, 'packages/tftp/dist/net/batch-udp.js')}';
  const s = new BatchSocket({ address: '10.79.0.1', slotBytes: 512 });
  const other = new BatchSocket({ address: '10.79.0.1', slotBytes: 512 }); // several sockets: windows go segmented
  s.connect('10.78.0.10', 5000);
  const body = Buffer.alloc(1400, 7);
  let n = 0;
  for (const size of ${JSON.stringify(batches)}) {
    for (let i = 0; i < size; i++) {
      const h = Buffer.alloc(4);
      h.writeUInt16BE(3, 0);
      h.writeUInt16BE(n++, 2);
      s.queue(h, body);
    }
    s.flush();
  }
  const t0 = Date.now();
  while (s.waitingDatagrams > 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
  console.log(JSON.stringify(s.counters));
  s.close(); other.close();`;

describe.runIf(batchUdpAvailable())('back-pressure through a shaped uplink', () => {
  it(
    'a window larger than the uplink queue arrives whole and in order: refused datagrams wait, none ' +
      'is counted as sent before it is',
    { timeout: 60_000 },
    async (ctx) => {
      requireRoot(ctx);
      // 20 Mbit/s, a 2 ms queue and a 32 KiB bucket: about 37 KB, where one window of 64 x 1404 bytes is 90 KB.
      const site = Site.create({
        voiceSubnets: 1,
        phonesPerSubnet: 1,
        uplink: { rateMbit: 20, queueMs: 2, burstKb: 32 },
      });
      try {
        const received = inNamespace(site, 'phones', RECEIVER(64));
        await new Promise((r) => setTimeout(r, 500));
        const counters = (await inNamespace(site, 'server', SENDER([64]))) as {
          datagrams: number;
          deferred: number;
          errors: number;
          superseded: number;
        };
        expect(await received).toEqual(Array.from({ length: 64 }, (_, i) => i));
        expect(counters.datagrams).toBe(64);
        expect(counters.deferred).toBeGreaterThan(0);
        expect(counters.errors + counters.superseded).toBe(0);
        expect(site.uplinkCounters()!.dropped).toBeGreaterThan(0); // the queue did refuse them: they were sent again
      } finally {
        site.destroy();
      }
    },
  );

  it(
    "a newer batch replaces what is left of an older one (a transfer's later window covers its earlier)",
    { timeout: 60_000 },
    async (ctx) => {
      requireRoot(ctx);
      const site = Site.create({
        voiceSubnets: 1,
        phonesPerSubnet: 1,
        uplink: { rateMbit: 20, queueMs: 2, burstKb: 32 },
      });
      try {
        const received = inNamespace(site, 'phones', RECEIVER(1000));
        await new Promise((r) => setTimeout(r, 500));
        // 64 datagrams, then at once a batch of one (number 64): what was still waiting of the 64 never goes.
        const counters = (await inNamespace(site, 'server', SENDER([64, 1]))) as {
          datagrams: number;
          superseded: number;
        };
        const got = (await received) as number[];
        expect(counters.superseded).toBeGreaterThan(0);
        expect(counters.datagrams + counters.superseded).toBe(65);
        expect(got).toEqual([...Array.from({ length: 64 - counters.superseded }, (_, i) => i), 64]);
      } finally {
        site.destroy();
      }
    },
  );
});
