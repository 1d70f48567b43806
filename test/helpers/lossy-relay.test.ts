import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { mulberry32, startLossyRelay, type LossyRelay, type LossyRelayOptions } from './lossy-relay.js';
import { bindUdp } from '../../packages/core/src/udp.js';

// ---------------------------------------------------------------------------
// plain dgram helpers (no TFTP code involved)
// ---------------------------------------------------------------------------

const HOST = '127.0.0.1';

interface Received {
  text: string;
  port: number;
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn?.();
    } catch {
      // ignore
    }
  }
});

function closeSocket(sock: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      sock.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

async function udpSocket(onMessage?: (text: string, rinfo: dgram.RemoteInfo) => void): Promise<dgram.Socket> {
  const sock = dgram.createSocket('udp4');
  sock.on('error', () => {
    // ignore
  });
  if (onMessage) sock.on('message', (msg, rinfo) => onMessage(msg.toString('utf8'), rinfo));
  await bindUdp(sock, 0, HOST);
  cleanups.push(() => closeSocket(sock));
  return sock;
}

function send(sock: dgram.Socket, text: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    sock.send(Buffer.from(text, 'utf8'), port, HOST, () => resolve());
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, what: string, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Send `C:0` .. `C:n-1` (or with another prefix), paced so no kernel buffer overflows. */
async function sendNumbered(sock: dgram.Socket, prefix: string, n: number, port: number, host = HOST): Promise<void> {
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve) => sock.send(Buffer.from(`${prefix}:${i}`), port, host, () => resolve()));
    if (i % 10 === 9) await sleep(1);
  }
}

const num = (text: string): number => Number(text.split(':')[1]);

async function relay(opts: Omit<LossyRelayOptions, 'target'> & { targetPort: number }): Promise<LossyRelay> {
  const { targetPort, ...rest } = opts;
  const r = await startLossyRelay({ target: { host: HOST, port: targetPort }, ...rest });
  cleanups.push(() => r.close());
  return r;
}

// ---------------------------------------------------------------------------
// fake servers
// ---------------------------------------------------------------------------

/**
 * Echo server: on `REQ` to the well-known port it answers `MAIN` from that
 * port and `HELLO` from a fresh transfer socket (new port = TID); the transfer
 * socket echoes `C:i` as `S:i`.
 */
async function startEchoServer(): Promise<{
  port: number;
  reqSources: number[];
  transfers: Array<{ port: number; peerPorts: Set<number>; got: number[] }>;
}> {
  const reqSources: number[] = [];
  const transfers: Array<{ port: number; peerPorts: Set<number>; got: number[] }> = [];
  const main = await udpSocket((text, rinfo) => {
    if (text !== 'REQ') return;
    reqSources.push(rinfo.port);
    void (async () => {
      const t = { port: 0, peerPorts: new Set<number>(), got: [] as number[] };
      const tsock = await udpSocket((msg, r) => {
        t.peerPorts.add(r.port);
        if (msg.startsWith('C:')) {
          t.got.push(num(msg));
          void send(tsock, `S:${num(msg)}`, r.port);
        }
      });
      t.port = tsock.address().port;
      transfers.push(t);
      await send(main, 'MAIN', rinfo.port);
      await send(tsock, 'HELLO', rinfo.port);
    })();
  });
  return { port: main.address().port, reqSources, transfers };
}

/**
 * Stream server: records `C:i` arriving on the well-known port; on the first
 * packet from a source it opens a transfer socket (new port) and streams
 * `S:0` .. `S:n-1` from it to that source.
 */
async function startStreamServer(n: number): Promise<{ port: number; got: number[]; transferPorts: number[] }> {
  const got: number[] = [];
  const transferPorts: number[] = [];
  const seen = new Set<number>();
  const main = await udpSocket((text, rinfo) => {
    if (text.startsWith('C:')) got.push(num(text));
    if (seen.has(rinfo.port)) return;
    seen.add(rinfo.port);
    void (async () => {
      const tsock = await udpSocket();
      transferPorts.push(tsock.address().port);
      await sendNumbered(tsock, 'S', n, rinfo.port);
    })();
  });
  return { port: main.address().port, got, transferPorts };
}

interface StreamResult {
  relay: LossyRelay;
  clientGot: Received[];
  serverGot: number[];
  transferPorts: number[];
}

/**
 * Client streams n packets to the relay's main port while the server streams
 * n packets back from a fresh transfer port; waits until every packet the
 * relay let through has arrived.
 */
async function runStream(n: number, opts: Omit<LossyRelayOptions, 'target'>): Promise<StreamResult> {
  const server = await startStreamServer(n);
  const r = await relay({ targetPort: server.port, ...opts });
  const clientGot: Received[] = [];
  const client = await udpSocket((text, rinfo) => clientGot.push({ text, port: rinfo.port }));
  await sendNumbered(client, 'C', n, r.port);
  await waitFor(() => r.stats.forwarded + r.stats.dropped === 2 * n, 'relay to see all packets');
  await waitFor(
    () => clientGot.length + server.got.length === r.stats.forwarded + r.stats.duplicated,
    'delivery of every forwarded packet',
  );
  await sleep(40); // nothing more may arrive afterwards
  expect(clientGot.length + server.got.length).toBe(r.stats.forwarded + r.stats.duplicated);
  return { relay: r, clientGot, serverGot: server.got, transferPorts: server.transferPorts };
}

function inversions(seq: number[]): number {
  let max = -1;
  let count = 0;
  for (const v of seq) {
    if (v < max) count++;
    else max = v;
  }
  return count;
}

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

describe('mulberry32', () => {
  it('is deterministic and in [0, 1)', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(Array.from({ length: 10 }, mulberry32(8))).not.toEqual(xs.slice(0, 10));
  });
});

describe('lossy relay', () => {
  it('rejects probabilities outside [0, 1]', async () => {
    await expect(startLossyRelay({ target: { host: HOST, port: 9 }, drop: 1.5 })).rejects.toThrow(RangeError);
    await expect(startLossyRelay({ target: { host: HOST, port: 9 }, reorder: -0.1 })).rejects.toThrow(RangeError);
  });

  it('with no impairment behaves like a port-preserving NAT and delivers everything', async () => {
    const N = 100;
    const server = await startEchoServer();
    const r = await relay({ targetPort: server.port });

    const got1: Received[] = [];
    const got2: Received[] = [];
    const c1 = await udpSocket((text, rinfo) => got1.push({ text, port: rinfo.port }));
    const c2 = await udpSocket((text, rinfo) => got2.push({ text, port: rinfo.port }));
    await send(c1, 'REQ', r.port);
    await send(c2, 'REQ', r.port);
    await waitFor(() => got1.length === 2 && got2.length === 2, 'MAIN + HELLO for both clients');

    const hello1 = got1.find((g) => g.text === 'HELLO');
    const hello2 = got2.find((g) => g.text === 'HELLO');
    // the answer from the well-known port comes back from the main relay port
    expect(got1.find((g) => g.text === 'MAIN')?.port).toBe(r.port);
    expect(got2.find((g) => g.text === 'MAIN')?.port).toBe(r.port);
    // the answer from the transfer socket comes from a relay port of its own
    expect(hello1).toBeDefined();
    expect(hello2).toBeDefined();
    const d1 = hello1?.port ?? 0;
    const d2 = hello2?.port ?? 0;
    expect(d1).not.toBe(r.port);
    expect(d2).not.toBe(r.port);
    expect(d1).not.toBe(d2);
    // one upstream socket per client
    expect(server.reqSources).toHaveLength(2);
    expect(server.reqSources[0]).not.toBe(server.reqSources[1]);

    // exchange numbered packets through the per-TID relay port
    await Promise.all([sendNumbered(c1, 'C', N, d1), sendNumbered(c2, 'C', N, d2)]);
    const isS = (g: Received): boolean => g.text.startsWith('S:');
    await waitFor(() => got1.filter(isS).length === N && got2.filter(isS).length === N, 'all echoes');
    await sleep(30);

    for (const [got, d] of [
      [got1, d1],
      [got2, d2],
    ] as const) {
      const echoes = got.filter(isS);
      expect(echoes.map((g) => num(g.text))).toEqual(range(N));
      expect(echoes.every((g) => g.port === d)).toBe(true);
    }
    expect(server.transfers).toHaveLength(2);
    for (const t of server.transfers) {
      expect(t.got).toEqual(range(N));
      // the transfer socket only ever saw the same upstream socket that sent REQ
      expect(t.peerPorts.size).toBe(1);
      expect(server.reqSources).toContain([...t.peerPorts][0]);
    }
    // per client: REQ + MAIN + HELLO + N requests + N echoes
    expect(r.stats).toEqual({ forwarded: 2 * (3 + 2 * N), dropped: 0, duplicated: 0, reordered: 0 });
  });

  it('drops about the configured share, and the stats add up', async () => {
    const N = 200;
    const { relay: r, clientGot, serverGot, transferPorts } = await runStream(N, { drop: 0.3, seed: 1234 });
    const total = 2 * N;
    expect(r.stats.forwarded + r.stats.dropped).toBe(total);
    expect(r.stats.duplicated).toBe(0);
    expect(r.stats.reordered).toBe(0);
    const ratio = r.stats.dropped / total;
    expect(ratio).toBeGreaterThan(0.2);
    expect(ratio).toBeLessThan(0.4);
    // received exactly the forwarded packets, no duplicates, both directions lossy
    expect(clientGot.length + serverGot.length).toBe(r.stats.forwarded);
    expect(new Set(serverGot).size).toBe(serverGot.length);
    expect(new Set(clientGot.map((g) => g.text)).size).toBe(clientGot.length);
    expect(serverGot.length).toBeLessThan(N);
    expect(clientGot.length).toBeLessThan(N);
    // every answer came from the relay port mapped to the server's transfer port
    expect(transferPorts).toHaveLength(1);
    const ports = new Set(clientGot.map((g) => g.port));
    expect(ports.size).toBe(1);
    expect(ports.has(r.port)).toBe(false);
  });

  it('gives the same drop pattern for the same seed, and a different one for another seed', async () => {
    const N = 120;
    const pattern = async (seed: number): Promise<{ up: number[]; down: number[] }> => {
      const res = await runStream(N, { drop: 0.3, seed });
      const out = { up: sorted(res.serverGot), down: sorted(res.clientGot.map((g) => num(g.text))) };
      await res.relay.close();
      return out;
    };
    const a = await pattern(99);
    const b = await pattern(99);
    const c = await pattern(100);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(a.up.length).toBeLessThan(N);
    expect(a.down.length).toBeLessThan(N);
  });

  it('duplicates packets in both directions', async () => {
    const N = 150;
    const { relay: r, clientGot, serverGot } = await runStream(N, { duplicate: 0.5, seed: 5 });
    expect(r.stats.dropped).toBe(0);
    expect(r.stats.forwarded).toBe(2 * N);
    expect(r.stats.duplicated).toBeGreaterThan(0.35 * 2 * N);
    expect(r.stats.duplicated).toBeLessThan(0.65 * 2 * N);
    expect(clientGot.length + serverGot.length).toBe(2 * N + r.stats.duplicated);
    const down = clientGot.map((g) => num(g.text));
    expect(down.length).toBeGreaterThan(N);
    expect(serverGot.length).toBeGreaterThan(N);
    // every packet arrives once or twice
    expect(sorted([...new Set(down)])).toEqual(range(N));
    expect(sorted([...new Set(serverGot)])).toEqual(range(N));
    for (const xs of [down, serverGot]) {
      const counts = new Map<number, number>();
      for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
      expect(Math.max(...counts.values())).toBe(2);
    }
  });

  it('reorders packets in both directions without losing any', async () => {
    const N = 150;
    const { relay: r, clientGot, serverGot } = await runStream(N, { reorder: 0.5, seed: 11 });
    expect(r.stats.dropped).toBe(0);
    expect(r.stats.duplicated).toBe(0);
    expect(r.stats.reordered).toBeGreaterThan(0.35 * 2 * N);
    expect(r.stats.reordered).toBeLessThan(0.65 * 2 * N);
    const down = clientGot.map((g) => num(g.text));
    expect(sorted(down)).toEqual(range(N));
    expect(sorted(serverGot)).toEqual(range(N));
    expect(inversions(down)).toBeGreaterThan(0);
    expect(inversions(serverGot)).toBeGreaterThan(0);
  });

  it('releases a held packet after delayMs when no later packet comes', async () => {
    const server = await startEchoServer();
    const r = await relay({ targetPort: server.port, reorder: 1, delayMs: 30 });
    const got: Received[] = [];
    const client = await udpSocket((text, rinfo) => got.push({ text, port: rinfo.port }));
    const t0 = Date.now();
    await send(client, 'REQ', r.port);
    await waitFor(() => server.reqSources.length === 1, 'REQ at the server');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(r.stats.reordered).toBeGreaterThanOrEqual(1);
  });

  it('supports a deterministic dropFirst hook', async () => {
    const N = 30;
    const {
      relay: r,
      serverGot,
      clientGot,
    } = await runStream(N, {
      dropFirst: (dir, packet, info) =>
        (dir === 'toServer' && info.seq < 3) || (dir === 'toClient' && packet.toString() === 'S:7'),
    });
    expect(sorted(serverGot)).toEqual(range(N).slice(3));
    expect(clientGot.map((g) => num(g.text))).toEqual(range(N).filter((i) => i !== 7));
    expect(r.stats.dropped).toBe(4);
  });

  it('tears down idle flows', async () => {
    const server = await startEchoServer();
    const r = await relay({ targetPort: server.port, idleMs: 100 });
    const got: Received[] = [];
    const client = await udpSocket((text, rinfo) => got.push({ text, port: rinfo.port }));
    await send(client, 'REQ', r.port);
    await waitFor(() => got.length === 2, 'first answers');
    await send(client, 'REQ', r.port);
    await waitFor(() => got.length === 4, 'second answers');
    // still the same flow: same upstream port
    expect(server.reqSources[1]).toBe(server.reqSources[0]);
    await sleep(400);
    await send(client, 'REQ', r.port);
    await waitFor(() => got.length === 6, 'third answers');
    // the flow was recycled: a new upstream socket
    expect(server.reqSources[2]).not.toBe(server.reqSources[0]);
  });

  it('close() is idempotent, clears held packets and ignores late traffic', async () => {
    const server = await startEchoServer();
    const r = await startLossyRelay({ target: { host: HOST, port: server.port }, reorder: 1, delayMs: 50 });
    const client = await udpSocket();
    await send(client, 'REQ', r.port);
    await waitFor(() => r.stats.reordered === 1, 'REQ to be held');
    await Promise.all([r.close(), r.close()]);
    await r.close();
    await send(client, 'REQ', r.port); // nobody listens any more; must not throw
    await sleep(80);
    expect(server.reqSources).toHaveLength(0);
  });
});
