/**
 * The server's edges: graceful close, the connection cap, timeouts for stalled and slow clients,
 * and many concurrent downloads of one large image over one shared copy.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../../packages/http/src/client.js';
import { HttpFileServer, type HttpRequestRecord, type HttpServerOptions } from '../../packages/http/src/server.js';
import { PEERS, run, sha256 } from '../helpers/peers.js';
import { rawRequest, scratchDir } from './helpers.js';

let dir: string;
const big = randomBytes(24 * 1024 * 1024);

beforeAll(async () => {
  dir = await scratchDir('bw-http-life-');
  await fs.writeFile(path.join(dir, 'big.bin'), big);
  await fs.writeFile(path.join(dir, 'small.txt'), 'hello\n');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function start(
  o: Partial<HttpServerOptions> = {},
): Promise<{ server: HttpFileServer; base: string; port: number }> {
  const server = await HttpFileServer.start({ root: dir, http: { host: '127.0.0.1', port: 0 }, ...o });
  const port = server.address('http')!.port;
  return { server, port, base: `http://127.0.0.1:${port}` };
}

/** A GET that stops reading after its first chunk until `resume()`. */
function pausedGet(url: string): Promise<{ resume: () => Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        const ended = new Promise<Buffer>((r, j) => {
          res.on('end', () => r(Buffer.concat(chunks)));
          res.on('error', j);
          res.on('close', () => (res.complete ? undefined : j(new Error('cut short'))));
        });
        ended.catch(() => {});
        res.once('data', (d: Buffer) => {
          chunks.push(d);
          res.pause();
          res.on('data', (m: Buffer) => chunks.push(m));
          resolve({ resume: () => (res.resume(), ended) });
        });
      })
      .on('error', reject);
  });
}

const nextRecord = (s: HttpFileServer) => new Promise<HttpRequestRecord>((r) => s.once('request', r));

describe('graceful close', () => {
  it('stops accepting, lets a running response finish, then resolves', async () => {
    const { server, base, port } = await start();
    const slow = await pausedGet(`${base}/big.bin`);
    const closed = server.close(30_000);
    await expect(httpGet(`${base}/small.txt`)).rejects.toMatchObject({ code: 'network' });
    await expect(rawRequest(port, 'GET /small.txt HTTP/1.0\r\n\r\n')).rejects.toThrow(/ECONNREFUSED/);
    const body = await slow.resume();
    expect(sha256(body)).toBe(sha256(big));
    await closed;
    expect(server.stats()).toMatchObject({ activeRequests: 0, activeConnections: 0, completed: 1, aborted: 0 });
  });

  it('a request sent on an open connection during shutdown gets 503 and a close', async () => {
    const { server, port } = await start();
    const c = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const closedSocket = new Promise<void>((r) => c.on('close', () => r()));
    const firstData = new Promise<void>((r) => c.once('data', () => r()));
    c.on('data', (d: Buffer) => chunks.push(d));
    c.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    await firstData;
    c.pause();
    const closed = server.close(30_000);
    c.write('GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    c.resume();
    await closedSocket;
    await closed;
    const all = Buffer.concat(chunks);
    const sep = all.indexOf('\r\n\r\n');
    expect(all.subarray(0, sep).toString()).toMatch(/^HTTP\/1.1 200 OK/);
    const body = all.subarray(sep + 4, sep + 4 + big.length);
    expect(sha256(body)).toBe(sha256(big));
    const second = all.subarray(sep + 4 + big.length).toString('latin1');
    expect(second).toMatch(/^HTTP\/1.1 503 Service Unavailable\r\n/);
    expect(second).toMatch(/\r\nConnection: close\r\n/i);
  });

  it('cuts a response still running when the grace period ends', async () => {
    const { server, base } = await start();
    const slow = await pausedGet(`${base}/big.bin`);
    const rec = nextRecord(server);
    await server.close(50);
    expect(await rec).toMatchObject({ status: 200, ok: false, file: 'big.bin' });
    await expect(slow.resume()).rejects.toThrow();
    expect(server.stats()).toMatchObject({ activeRequests: 0, activeConnections: 0, aborted: 1 });
    expect(server.cache.stats().entries).toBe(1); // the lease was released: the copy is idle, kept for reuse
  });
});

describe('limits', () => {
  it(
    'a connection past maxConnections takes the place of the oldest idle one (hostile.test.ts has ' + 'the rest)',
    async () => {
      const { server, port, base } = await start({ maxConnections: 2 });
      const held = await Promise.all(
        [0, 1].map(
          () =>
            new Promise<net.Socket>((r) => {
              const c = net.connect(port, '127.0.0.1', () => r(c));
            }),
        ),
      );
      while (server.stats().activeConnections < 2) await new Promise((r) => setTimeout(r, 10));
      const third = await rawRequest(port, 'GET /small.txt HTTP/1.0\r\n\r\n');
      expect(third.status).toBe(200);
      expect(server.stats()).toMatchObject({ connectionsDropped: 0, idleClosed: 1 });
      for (const c of held) c.destroy();
      while (server.stats().activeConnections > 0) await new Promise((r) => setTimeout(r, 10));
      expect((await httpGet(`${base}/small.txt`)).status).toBe(200);
      await server.close(0);
    },
  );

  it('a client that stops reading is disconnected after the idle timeout', async () => {
    const { server, base } = await start({ idleTimeoutMs: 300 });
    const rec = nextRecord(server);
    const slow = await pausedGet(`${base}/big.bin`);
    expect(await rec).toMatchObject({ status: 200, ok: false });
    expect((await rec).bytes).toBeLessThan(big.length);
    await expect(slow.resume()).rejects.toThrow();
    await server.close(0);
  });

  it('a client that never finishes its headers gets 408 and is closed (headers timeout)', async () => {
    const { server, port } = await start({ headersTimeoutMs: 300, requestTimeoutMs: 300 });
    const r = await rawRequest(port, 'GET /small.txt HTTP/1.1\r\nHost: x\r\nX-Slow: ', { waitMs: 10_000 });
    expect(r.status).toBe(408);
    expect(r.closedByServer).toBe(true);
    expect(server.stats().clientErrors).toBe(1);
    await server.close(0);
  });
});

describe('a boot storm over one shared copy', () => {
  it('20 concurrent curls of a 32 MiB image all get its bytes, from one cached copy', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const image = randomBytes(32 * 1024 * 1024);
    await fs.writeFile(path.join(dir, 'image32.bin'), image);
    const { server, base } = await start();
    // Hash in the pipe: 20 bodies of 32 MiB are not kept anywhere.
    const runs = await Promise.all(
      Array.from({ length: 20 }, () =>
        run('bash', ['-c', `set -o pipefail; '${bin}' -sS --fail -m 120 '${base}/image32.bin' | sha256sum`], {
          timeoutMs: 150_000,
        }),
      ),
    );
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.toString().split(' ')[0]).toBe(sha256(image));
    }
    expect(server.cache.stats()).toMatchObject({ entries: 1, loads: 1, bytes: image.length });
    expect(server.stats()).toMatchObject({ completed: 20, aborted: 0, bytesSent: 20 * image.length });
    await server.close(0);
  }, 180_000);
});
