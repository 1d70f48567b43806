/**
 * Hostile HTTP clients (issue 14), on loopback: the hostile input, then a legitimate client served while
 * (or right after) it runs, and the server's hold bounded. No timings are asserted: vitest's timeout is
 * the only clock (the old server locked new clients out for ~20 s, and left HTTP/0.9 hanging 20 s).
 * Loopback is 127/8: the tests connect from several of its addresses to be several clients.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../../packages/http/src/client.js';
import { DEFAULT_MAX_CONNECTIONS, HttpFileServer, type HttpServerOptions } from '../../packages/http/src/server.js';
import { needBinary, sha256 } from '../helpers/peers.js';
import { rawRequest, scratchDir, selfSigned } from './helpers.js';

const OPENSSL = needBinary('openssl', 'openssl');

let dir: string;
const hello = Buffer.from('hello, phone\n');
// Larger than loopback's socket buffers: a download whose client stops reading stays busy.
const big = randomBytes(32 * 1024 * 1024);

beforeAll(async () => {
  dir = await scratchDir('bw-http-hostile-');
  await fs.mkdir(path.join(dir, 'dir'));
  await fs.writeFile(path.join(dir, 'hello.txt'), hello);
  await fs.writeFile(path.join(dir, 'big.bin'), big);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function start(
  o: Partial<HttpServerOptions> = {},
): Promise<{ server: HttpFileServer; port: number; base: string }> {
  const server = await HttpFileServer.start({ root: dir, http: { host: '127.0.0.1', port: 0 }, ...o });
  const port = server.address('http')!.port;
  return { server, port, base: `http://127.0.0.1:${port}` };
}

const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
};

interface Held {
  socket: net.Socket;
  /** Set when the server closed the connection. */
  closed: boolean;
}

/** A connection from `from` that sends nothing. */
function idle(port: number, from: string): Promise<Held> {
  return new Promise((resolve, reject) => {
    const h: Held = { socket: net.connect({ port, host: '127.0.0.1', localAddress: from }), closed: false };
    h.socket.once('connect', () => resolve(h));
    h.socket.on('error', () => {});
    h.socket.once('close', () => (h.closed = true));
    h.socket.once('error', reject);
  });
}

/** A download from `from` that stops reading after its first chunk: a response that stays busy. */
function stalled(url: string, from: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, localAddress: from }, (res) => {
        res.once('data', () => {
          res.pause();
          resolve(res);
        });
        res.on('error', () => {});
      })
      .on('error', reject);
  });
}

/** Open files this process may hold (node raises the soft limit to the hard one at start). */
function fileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? 0);
}

describe('connection floods', () => {
  it(
    '4,500 idle connections from 100 addresses (default caps): the oldest give way, a phone is ' +
      'served while they stay open',
    async (ctx) => {
      if (fileLimit() < 12_000) ctx.skip(); // both ends of 4,500 connections live in this process
      const { server, base, port } = await start();
      expect(DEFAULT_MAX_CONNECTIONS).toBe(4096);
      const rssBefore = process.memoryUsage().rss;
      const flood: Held[] = [];
      for (let i = 0; i < 4500; i += 100) {
        flood.push(
          ...(await Promise.all(Array.from({ length: 100 }, (_, k) => idle(port, `127.0.0.${2 + ((i + k) % 100)}`)))),
        );
      }
      await until(() => server.stats().idleClosed >= 4500 - 4096);
      expect(server.stats()).toMatchObject({ connectionsDropped: 0, idleClosed: 404 });
      expect(server.stats().activeConnections).toBeLessThanOrEqual(4096);
      // The oldest were closed (the first four batches of 100, then 4 of the fifth, which connected together).
      await until(() => flood.filter((h) => h.closed).length >= 404);
      expect(flood.slice(0, 400).every((h) => h.closed)).toBe(true);
      expect(flood.slice(500).filter((h) => h.closed)).toHaveLength(0);
      expect(flood.filter((h) => h.closed)).toHaveLength(404);

      const r = await httpGet(`${base}/big.bin`, { timeoutMs: 50_000 });
      expect([r.status, r.sha256]).toEqual([200, sha256(big)]);
      expect(server.stats().idleClosed).toBe(405); // the phone's connection took the oldest idle one's slot
      // Bounded: the server never held more than its cap; the process grew by far less than the flood's size in
      // buffers.
      expect(server.stats().activeConnections).toBeLessThanOrEqual(4096);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(400 * 2 ** 20);
      for (const h of flood) h.socket.destroy();
      await server.close(0);
    },
    120_000,
  );

  it(
    'one address at its cap: its own oldest idle connection gives way; busy ones never do, so then ' + 'it is refused',
    async () => {
      const { server, base, port } = await start({ maxConnectionsPerClient: 4 });
      const a: Held[] = [];
      for (let i = 0; i < 10; i++) {
        a.push(await idle(port, '127.0.0.9'));
        await until(() => server.stats().activeConnections + server.stats().idleClosed >= i + 1);
      }
      await until(() => a.slice(0, 6).every((h) => h.closed));
      expect(a.map((h) => h.closed)).toEqual([true, true, true, true, true, true, false, false, false, false]);
      expect(server.stats()).toMatchObject({ idleClosed: 6, connectionsDropped: 0 });
      // Another address is not affected by that one's cap.
      expect((await httpGet(`${base}/hello.txt`)).status).toBe(200);
      for (const h of a) h.socket.destroy();

      // Four downloads in progress from one address: the fifth connection has no idle one to take over.
      const busy = await Promise.all([0, 1, 2, 3].map(() => stalled(`${base}/big.bin`, '127.0.0.10')));
      const fifth = await idle(port, '127.0.0.10');
      await until(() => fifth.closed);
      expect(server.stats().connectionsDropped).toBe(1);
      expect(busy.every((res) => !res.destroyed)).toBe(true);
      expect((await httpGet(`${base}/hello.txt`)).status).toBe(200);
      for (const res of busy) res.destroy();
      await server.close(0);
    },
  );

  it(
    'at the global cap the oldest idle connection gives way, whoever holds it; with all busy the new ' +
      'one is refused',
    async () => {
      const { server, base, port } = await start({ maxConnections: 4 });
      const held: Held[] = [];
      for (const from of ['127.0.0.11', '127.0.0.12', '127.0.0.11', '127.0.0.13']) {
        held.push(await idle(port, from));
        await until(() => server.stats().activeConnections >= held.length);
      }
      expect((await httpGet(`${base}/hello.txt`)).status).toBe(200);
      await until(() => held[0]!.closed);
      expect(held.map((h) => h.closed)).toEqual([true, false, false, false]);
      expect(server.stats().idleClosed).toBe(1);
      for (const h of held) h.socket.destroy();
      await until(() => server.stats().activeConnections === 0);

      const busy = await Promise.all([0, 1, 2, 3].map((i) => stalled(`${base}/big.bin`, `127.0.0.${20 + i}`)));
      const refused = await rawRequest(port, 'GET /hello.txt HTTP/1.0\r\n\r\n');
      expect(refused.raw.length).toBe(0);
      expect(server.stats().connectionsDropped).toBe(1);
      for (const res of busy) res.destroy();
      await until(() => server.stats().activeConnections === 0);
      expect((await httpGet(`${base}/hello.txt`)).status).toBe(200);
      await server.close(0);
    },
  );
});

describe("request lines that node's parser lets through", () => {
  it('HTTP/0.9 `GET /hello.txt` (no version): 400 and closed at once, not after the 20 s headers timeout', async () => {
    const { server, base, port } = await start(); // default headers timeout: 20 s
    const errors: string[] = [];
    server.on('client-error', (m) => errors.push(m));
    for (const line of [
      'GET /hello.txt\r\n',
      'GET /hello.txt\n',
      '\r\nGET /hello.txt\r\n',
      `${'\r\n'.repeat(50)}GET /hello.txt\r\n`,
    ]) {
      const r = await rawRequest(port, line, { waitMs: 40_000 });
      expect([r.status, r.closedByServer, r.body.length], JSON.stringify(line)).toEqual([400, true, 0]);
    }
    expect(errors.filter((e) => e.includes('HTTP/0.9'))).toHaveLength(4);
    expect(errors[0]).toMatch(/^http 127\.0\.0\.1: HTTP\/0\.9 request line \(no version\): 400$/);
    // With the blank line node parses it as version 0.9: the same answer. HTTP/2.0, which llhttp also
    // lets through in a request line: 505 (3.1 it refuses itself: 400).
    for (const [request, status] of [
      ['GET /hello.txt\r\n\r\n', 400],
      ['GET /hello.txt HTTP/0.9\r\n\r\n', 400],
      ['GET /hello.txt HTTP/2.0\r\n\r\n', 505],
      ['GET /hello.txt HTTP/3.1\r\nHost: x\r\n\r\n', 400],
    ] as const) {
      const r = await rawRequest(port, request, { waitMs: 40_000 });
      expect([r.status, r.closedByServer, r.body.length], request).toEqual([status, true, 0]);
    }
    // A phone right after.
    const ok = await httpGet(`${base}/hello.txt`, { keepBody: true });
    expect([ok.status, ok.body?.toString()]).toEqual([200, hello.toString()]);
    // HTTP/1.0 and 1.1 request lines are untouched, also sent a byte at a time.
    const slow = await new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      let got = '';
      c.on('data', (d) => (got += d.toString('latin1')));
      c.on('close', () => resolve(got));
      const req = 'GET /hello.txt HTTP/1.0\r\n\r\n';
      let i = 0;
      const next = () => (i < req.length ? c.write(req[i++]!, () => setTimeout(next, 1)) : undefined);
      next();
    });
    expect(slow).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello, phone\n$/);
    await server.close(0);
  });

  it(
    'over TLS: HTTP/0.9 gets 400 at once; at the cap an idle connection gives way, a download in ' +
      'progress does not',
    async (ctx) => {
      const openssl = OPENSSL.use(ctx);
      const pem = await selfSigned(openssl, dir);
      const { server } = await start({
        https: { host: '127.0.0.1', port: 0, cert: await fs.readFile(pem.cert), key: await fs.readFile(pem.key) },
      });
      const port = server.address('https')!.port;
      const got = await new Promise<string>((resolve, reject) => {
        const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () =>
          c.write('GET /hello.txt\r\n'),
        );
        let text = '';
        c.on('data', (d: Buffer) => (text += d.toString('latin1')));
        c.on('close', () => resolve(text));
        c.on('error', reject);
      });
      expect(got).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      const ca = await fs.readFile(pem.cert);
      const ok = await httpGet(`https://127.0.0.1:${port}/hello.txt`, { ca });
      expect(ok.status).toBe(200);
      await server.close(0);

      // The caps over TLS: a download in progress is busy (its TLS socket is traced to its TCP one), a
      // connection that finished its handshake and sent nothing is idle and gives way.
      const capped = (
        await start({
          maxConnections: 2,
          https: { host: '127.0.0.1', port: 0, cert: ca, key: await fs.readFile(pem.key) },
        })
      ).server;
      const tlsPort = capped.address('https')!.port;
      const download = await new Promise<http.IncomingMessage>((resolve, reject) => {
        https
          .get(`https://127.0.0.1:${tlsPort}/big.bin`, { agent: false, ca }, (res) => {
            res.once('data', () => (res.pause(), resolve(res)));
            res.on('error', () => {});
          })
          .on('error', reject);
      });
      let idleClosed = false;
      const idleTls = await new Promise<tls.TLSSocket>((resolve) => {
        const c = tls.connect({ port: tlsPort, host: '127.0.0.1', ca }, () => resolve(c));
        c.on('error', () => {});
        c.on('close', () => (idleClosed = true));
      });
      const third = await httpGet(`https://127.0.0.1:${tlsPort}/hello.txt`, { ca });
      expect(third.status).toBe(200);
      await until(() => idleClosed);
      expect(download.destroyed).toBe(false);
      expect(capped.stats()).toMatchObject({ idleClosed: 1, connectionsDropped: 0 });
      download.destroy();
      idleTls.destroy();
      await capped.close(0);
    },
  );

  it("a TLS handshake that never finishes is cut at the headers timeout, not node's 120 s", async (ctx) => {
    const openssl = OPENSSL.use(ctx);
    const pem = await selfSigned(openssl, dir);
    const https0 = { host: '127.0.0.1', port: 0, cert: await fs.readFile(pem.cert), key: await fs.readFile(pem.key) };
    const { server } = await start({ https: https0, headersTimeoutMs: 300, requestTimeoutMs: 300 });
    const port = server.address('https')!.port;
    // Half a ClientHello's record header, then silence.
    const stalledTls = await idle(port, '127.0.0.40');
    stalledTls.socket.write(Buffer.from([0x16, 0x03, 0x01]));
    const silent = await idle(port, '127.0.0.41');
    await until(() => stalledTls.closed && silent.closed);
    expect(server.stats().clientErrors).toBeGreaterThanOrEqual(1);
    await server.close(0);
  });

  it(
    'a file named as a directory is 404 (`/hello.txt/`, `/hello.txt/.`, `/hello.txt/%2e`); ' + 'directories stay 403',
    async () => {
      const { server, port } = await start();
      for (const [target, status] of [
        ['/hello.txt/', 404],
        ['/hello.txt/.', 404],
        ['/hello.txt/%2e', 404],
        ['/hello.txt%2f', 404],
        ['//hello.txt//', 404],
        ['/dir/', 403],
        ['/', 403],
        ['/hello.txt', 200],
        ['/./hello.txt', 200],
      ] as const) {
        const r = await rawRequest(port, `GET ${target} HTTP/1.0\r\n\r\n`);
        expect(r.status, target).toBe(status);
        if (status !== 200) expect(r.body.length, target).toBe(0);
      }
      await server.close(0);
    },
  );

  it("neither responses nor log lines name the server's directories", async () => {
    const { server, port } = await start();
    const logs: string[] = [];
    server.on('warning', (w) => logs.push(w.message));
    server.on('client-error', (m) => logs.push(m));
    // A failure the server does not expect (here a cache that throws with a path in its message).
    const acquire = server.cache.acquire.bind(server.cache);
    server.cache.acquire = async (p: string) => {
      const lease = await acquire(p);
      lease.release();
      return {
        get file(): never {
          throw new Error(`EIO: i/o error, read '${p}'`);
        },
        release: () => {},
      };
    };
    const requests = [
      'GET /hello.txt HTTP/1.0\r\n\r\n',
      `GET /${'a'.repeat(300)}/x HTTP/1.0\r\n\r\n`,
      'GET /hello.txt/x HTTP/1.0\r\n\r\n',
      'GET /../../etc/passwd HTTP/1.0\r\n\r\n',
      'GET /x\r\n',
      'DELETE /x HTTP/1.1\r\n\r\n',
      `GET /${'%zz'} HTTP/1.0\r\n\r\n`,
    ];
    const statuses: number[] = [];
    for (const req of requests) {
      const r = await rawRequest(port, req);
      statuses.push(r.status);
      expect(r.raw.toString('latin1'), req).not.toContain(dir);
      expect(r.raw.toString('latin1'), req).not.toContain(server.rootReal!);
    }
    expect(statuses).toEqual([500, 403, 404, 403, 400, 405, 400]);
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.join('\n')).not.toContain(server.rootReal!);
    expect(logs).toContain("GET /hello.txt: EIO: i/o error, read '<root>/hello.txt'");
    await server.close(0);
  });
});
