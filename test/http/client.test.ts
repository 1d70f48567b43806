/** httpGet, the phone simulator's HTTP client, against bootwire's server and against broken servers. */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeepAliveAgent, httpGet } from '../../packages/http/src/client.js';
import { HttpFileServer, type HttpRequestRecord } from '../../packages/http/src/server.js';
import { sha256 } from '../helpers/peers.js';
import { scratchDir } from './helpers.js';
import { listenTcp } from '../../packages/core/src/udp.js';

let dir: string;
let server: HttpFileServer;
let base: string;
const records: HttpRequestRecord[] = [];
const image = randomBytes(3 * 1024 * 1024 + 5);

/** A TCP server that runs `onSocket` for each connection; closed after the test. */
async function rawServer(onSocket: (s: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer((c) => {
    sockets.add(c);
    c.on('error', () => {});
    onSocket(c);
  });
  await listenTcp(s, { port: 0, host: '127.0.0.1' });
  return {
    port: (s.address() as net.AddressInfo).port,
    close: () => {
      for (const c of sockets) c.destroy();
      s.close();
    },
  };
}

beforeAll(async () => {
  dir = await scratchDir('bw-http-client-');
  await fs.writeFile(path.join(dir, 'image.bin'), image);
  await fs.writeFile(path.join(dir, '96xxupgrade.txt'), 'SET APPNAME S96x1_SALBR6.bin\n');
  server = await HttpFileServer.start({ root: dir, http: { host: '127.0.0.1', port: 0 } });
  server.on('request', (r) => records.push(r));
  base = `http://127.0.0.1:${server.address()!.port}`;
});
afterAll(async () => {
  await server?.close(0);
  await fs.rm(dir, { recursive: true, force: true });
});

describe('httpGet', () => {
  it('streams the body into a hash without keeping it', async () => {
    const r = await httpGet(`${base}/image.bin`);
    expect(r).toMatchObject({ status: 200, bytes: image.length, sha256: sha256(image), httpVersion: '1.1' });
    expect(r.body).toBeUndefined();
    expect(r.headers['content-length']).toBe(String(image.length));
    expect(r.ms).toBeGreaterThanOrEqual(r.headersMs);
  });

  it('keeps the body when asked; HEAD and error statuses resolve with their status', async () => {
    const s = await httpGet(`${base}/96xxupgrade.txt`, { keepBody: true, sha256: false });
    expect(s.body?.toString()).toBe('SET APPNAME S96x1_SALBR6.bin\n');
    expect(s.sha256).toBeUndefined();
    const h = await httpGet(`${base}/image.bin`, { method: 'HEAD' });
    expect([h.status, h.bytes, h.headers['content-length']]).toEqual([200, 0, String(image.length)]);
    expect((await httpGet(`${base}/missing.bin`)).status).toBe(404);
    const c = await httpGet(`${base}/image.bin`, { headers: { 'If-None-Match': String(h.headers.etag) } });
    expect([c.status, c.bytes]).toEqual([304, 0]);
    const part = await httpGet(`${base}/image.bin`, { headers: { Range: 'bytes=-10' }, keepBody: true });
    expect(part.status).toBe(206);
    expect(part.body!.equals(image.subarray(image.length - 10))).toBe(true);
  });

  it('reuses one connection through a keep-alive agent', async () => {
    const agent = createKeepAliveAgent('http:');
    const n = records.length;
    try {
      await httpGet(`${base}/96xxupgrade.txt`, { agent });
      await httpGet(`${base}/image.bin`, { agent });
    } finally {
      agent.destroy();
    }
    const [a, b] = records.slice(n);
    expect(a!.client.port).toBe(b!.client.port);
  });

  it('fails with a code: bad URL, refused, too large, truncated, timeout, aborted', async () => {
    await expect(httpGet('not a url')).rejects.toMatchObject({ code: 'bad-url' });
    await expect(httpGet('ftp://127.0.0.1/x')).rejects.toMatchObject({ code: 'bad-url' });
    await expect(httpGet(`${base}/image.bin`, { maxBytes: 1000 })).rejects.toMatchObject({ code: 'too-large' });

    const closedPort = await rawServer(() => {});
    closedPort.close();
    await expect(httpGet(`http://127.0.0.1:${closedPort.port}/x`)).rejects.toMatchObject({ code: 'network' });

    const short = await rawServer((c) => {
      c.once('data', () => c.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'));
    });
    await expect(httpGet(`http://127.0.0.1:${short.port}/x`)).rejects.toMatchObject({ code: 'truncated' });
    short.close();

    const silent = await rawServer(() => {});
    await expect(httpGet(`http://127.0.0.1:${silent.port}/x`, { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'timeout',
    });
    const ac = new AbortController();
    const pending = httpGet(`http://127.0.0.1:${silent.port}/x`, { signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toMatchObject({ code: 'aborted' });
    const already = AbortSignal.abort();
    await expect(httpGet(`${base}/image.bin`, { signal: already })).rejects.toMatchObject({ code: 'aborted' });
    silent.close();
  });
});
