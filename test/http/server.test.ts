/**
 * The HTTP file server on loopback, driven by curl (the peer program), raw sockets and httpGet.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpFileServer, type HttpRequestRecord } from '../../packages/http/src/server.js';
import { PEERS, run, sha256 } from '../helpers/peers.js';
import { curl, rawRequest, scratchDir } from './helpers.js';

let dir: string;
let root: string;
let server: HttpFileServer;
let port: number;
let base: string;
const records: HttpRequestRecord[] = [];
const img = randomBytes(1024 * 1024 + 123);
const text = Buffer.from('# 46xx upgrade script\nGET 46xxsettings.txt\n');

beforeAll(async () => {
  dir = await scratchDir('bw-http-');
  root = path.join(dir, 'root');
  await fs.mkdir(path.join(root, 'dir'), { recursive: true });
  await fs.writeFile(path.join(root, 'img.bin'), img);
  await fs.writeFile(path.join(root, 'dir', '46xxupgrade.scr'), text);
  await fs.writeFile(path.join(root, 'settings.xml'), '<x/>');
  await fs.writeFile(path.join(root, 'empty.txt'), '');
  await fs.writeFile(path.join(dir, 'secret.txt'), 'root:x:0:0:secret\n');
  await fs.symlink(path.join(dir, 'secret.txt'), path.join(root, 'escape.txt'));
  await fs.symlink('img.bin', path.join(root, 'inside-link.bin'));
  server = await HttpFileServer.start({ root, http: { host: '127.0.0.1', port: 0 } });
  server.on('request', (r) => records.push(r));
  port = server.address('http')!.port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await server?.close(0);
  await fs.rm(dir, { recursive: true, force: true });
});

/** No error response may carry a body, nor name the root or anything outside it. */
function expectNoLeak(r: { headers: Record<string, string>; body: Buffer }): void {
  expect(r.body.length).toBe(0);
  const all = JSON.stringify(r.headers);
  expect(all).not.toContain(dir);
  expect(all).not.toContain('secret');
}

describe('GET and HEAD with curl', () => {
  it('serves the bytes with length, type and validators', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const r = await curl(bin, [`${base}/img.bin`], dir);
    expect(r.code).toBe(0);
    expect(r.status).toBe(200);
    expect(sha256(r.body)).toBe(sha256(img));
    expect(r.headers['content-length']).toBe(String(img.length));
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    const st = await fs.stat(path.join(root, 'img.bin'));
    expect(r.headers['last-modified']).toBe(new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString());

    const s = await curl(bin, [`${base}/dir/46xxupgrade.scr`], dir);
    expect(s.body.equals(text)).toBe(true);
    expect(s.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect((await curl(bin, [`${base}/settings.xml`], dir)).headers['content-type']).toBe('application/xml');
    const e = await curl(bin, [`${base}/empty.txt`], dir);
    expect([e.status, e.headers['content-length'], e.body.length]).toEqual([200, '0', 0]);
  });

  it('HEAD gives the GET headers without a body, and does not load the file', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    await fs.writeFile(path.join(root, 'head-only.bin'), randomBytes(5000));
    const loads = server.cache.stats().loads;
    const r = await curl(bin, ['-I', `${base}/head-only.bin`], dir);
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe('5000');
    expect(r.headers.etag).toBeDefined();
    expect(r.headers['last-modified']).toBeDefined();
    expect(r.body.toString()).toMatch(/^HTTP\/1.1 200/); // -I prints the headers as the body
    expect(server.cache.stats().loads).toBe(loads);
    const g = await curl(bin, [`${base}/head-only.bin`], dir);
    expect(g.headers.etag).toBe(r.headers.etag);
  });

  it('keeps the connection alive between requests', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const r = await run(bin, [
      '-sS',
      '-v',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
      `${base}/img.bin`,
      `${base}/dir/46xxupgrade.scr`,
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Re-using existing connection/);
  });
});

describe('ranges with curl', () => {
  const size = img.length;
  it.for<[string, number, number]>([
    ['0-99', 0, 99],
    ['-100', size - 100, size - 1],
    ['100-', 100, size - 1],
    ['1000-999999999', 1000, size - 1],
  ])('Range %s → 206 with Content-Range and exactly those bytes', async ([spec, first, last], ctx) => {
    const bin = PEERS.curl.use(ctx);
    const r = await curl(bin, ['-r', spec, `${base}/img.bin`], dir);
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes ${first}-${last}/${size}`);
    expect(r.headers['content-length']).toBe(String(last - first + 1));
    expect(r.body.equals(img.subarray(first, last + 1))).toBe(true);
  });

  it('an unsatisfiable range is 416 with bytes */size and no body', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const r = await curl(bin, ['-r', `${size}-${size + 10}`, `${base}/img.bin`], dir);
    expect(r.status).toBe(416);
    expect(r.headers['content-range']).toBe(`bytes */${size}`);
    expect(r.body.length).toBe(0);
  });

  it('several ranges get the whole file with 200 (the documented choice)', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const r = await curl(bin, ['-r', '0-9,100-109', `${base}/img.bin`], dir);
    expect(r.status).toBe(200);
    expect(sha256(r.body)).toBe(sha256(img));
  });

  it('HEAD ignores Range', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const r = await curl(bin, ['-I', '-r', '0-9', `${base}/img.bin`], dir);
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(size));
  });
});

describe('conditional requests with curl', () => {
  it('If-None-Match with the ETag and If-Modified-Since with Last-Modified are 304 with no body', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const first = await curl(bin, [`${base}/img.bin`], dir);
    const etag = first.headers.etag!;
    const lm = first.headers['last-modified']!;
    const inm = await curl(bin, ['-H', `If-None-Match: ${etag}`, `${base}/img.bin`], dir);
    expect(inm.status).toBe(304);
    expect(inm.body.length).toBe(0);
    expect(inm.headers.etag).toBe(etag);
    const ims = await curl(bin, ['-H', `If-Modified-Since: ${lm}`, `${base}/img.bin`], dir);
    expect(ims.status).toBe(304);
    // curl's own -z sends If-Modified-Since too.
    expect((await curl(bin, ['-z', lm, `${base}/img.bin`], dir)).status).toBe(304);
    const older = new Date(Date.parse(lm) - 3600_000).toUTCString();
    const stale = await curl(bin, ['-H', `If-Modified-Since: ${older}`, `${base}/img.bin`], dir);
    expect(stale.status).toBe(200);
    expect(sha256(stale.body)).toBe(sha256(img));
    const other = await curl(
      bin,
      ['-H', 'If-None-Match: "something-else"', '-H', `If-Modified-Since: ${lm}`, `${base}/img.bin`],
      dir,
    );
    expect(other.status).toBe(200); // If-None-Match present: If-Modified-Since is not looked at
  });

  it('If-Range: the current ETag keeps the range, an old one gets the whole file', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const etag = (await curl(bin, ['-I', `${base}/img.bin`], dir)).headers.etag!;
    const keep = await curl(bin, ['-r', '0-99', '-H', `If-Range: ${etag}`, `${base}/img.bin`], dir);
    expect(keep.status).toBe(206);
    expect(keep.body.equals(img.subarray(0, 100))).toBe(true);
    const drop = await curl(bin, ['-r', '0-99', '-H', 'If-Range: "old-etag"', `${base}/img.bin`], dir);
    expect(drop.status).toBe(200);
    expect(sha256(drop.body)).toBe(sha256(img));
  });

  it('If-Match that fails is 412', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const r = await curl(bin, ['-H', 'If-Match: "nope"', `${base}/img.bin`], dir);
    expect(r.status).toBe(412);
    expect(r.body.length).toBe(0);
  });
});

/** A GET that reads its first chunk and then stops reading until `resume()`. */
function pausedGet(url: string): Promise<{ etag: string; resume: () => Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const ended = new Promise<Buffer>((r, j) => {
        res.on('end', () => r(Buffer.concat(chunks)));
        res.on('error', j);
      });
      ended.catch(() => {});
      res.once('data', (d: Buffer) => {
        chunks.push(d);
        res.pause();
        res.on('data', (more: Buffer) => chunks.push(more));
        resolve({
          etag: String(res.headers.etag),
          resume: () => {
            res.resume();
            return ended;
          },
        });
      });
    });
    req.on('error', reject);
  });
}

describe('a file replaced while it is being sent', () => {
  it('the running response keeps the old copy; new requests get the new bytes and a new ETag', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const file = path.join(root, 'replace.bin');
    // Larger than loopback's socket buffers, so the server is still sending when the file changes.
    const a = randomBytes(24 * 1024 * 1024);
    const b = randomBytes(8 * 1024 * 1024 + 7);
    await fs.writeFile(file, a);
    const slow = await pausedGet(`${base}/replace.bin`);
    // Replace the file the way provisioning tools do: write aside, rename over.
    await fs.writeFile(`${file}.new`, b);
    await fs.rename(`${file}.new`, file);
    const r = await curl(bin, [`${base}/replace.bin`], dir);
    expect(r.status).toBe(200);
    expect(sha256(r.body)).toBe(sha256(b));
    expect(r.headers.etag).not.toBe(slow.etag);
    expect((await curl(bin, ['-H', `If-None-Match: ${slow.etag}`, `${base}/replace.bin`], dir)).status).toBe(200);
    expect(server.stats().activeRequests).toBe(1); // the old response is still being sent
    const old = await slow.resume();
    expect(old.length).toBe(a.length);
    expect(sha256(old)).toBe(sha256(a));
  });

  it('a file overwritten in place mid-response: the response stays on the bytes it started with', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const file = path.join(root, 'inplace.bin');
    const a = randomBytes(24 * 1024 * 1024);
    await fs.writeFile(file, a);
    const slow = await pausedGet(`${base}/inplace.bin`);
    const b = randomBytes(a.length); // same size, same inode: only the mtime tells them apart
    const fh = await fs.open(file, 'r+');
    await fh.write(b, 0, b.length, 0);
    await fh.close();
    await fs.utimes(file, new Date(), new Date(Date.now() + 5000));
    const r = await curl(bin, [`${base}/inplace.bin`], dir);
    expect(sha256(r.body)).toBe(sha256(b));
    expect(r.headers.etag).not.toBe(slow.etag);
    expect(server.stats().activeRequests).toBe(1);
    expect(sha256(await slow.resume())).toBe(sha256(a));
  });
});

describe('path rules (the same as TFTP): nothing outside the root, no leak', () => {
  it.for<[string, number]>([
    ['/../../etc/passwd', 403],
    ['/../secret.txt', 403],
    ['/dir/../../secret.txt', 403],
    ['/%2e%2e/secret.txt', 403],
    ['/%2E%2E/%2e%2e/etc/passwd', 403],
    ['/..%2fsecret.txt', 403],
    ['/..%5csecret.txt', 403],
    ['/%2e%2e%5c%2e%2e%5cetc%5cpasswd', 403],
    ['/escape.txt', 403],
    ['/img.bin%00.txt', 403],
    ['/dir', 403],
    ['/dir/', 403],
    ['/', 403],
    ['/%252e%252e/secret.txt', 404],
    ['//etc/passwd', 404],
    ['/nope.bin', 404],
    ['/a%zz', 400],
  ])('curl --path-as-is %s → %i with an empty body', async ([target, status], ctx) => {
    const bin = PEERS.curl.use(ctx);
    const r = await curl(bin, ['--path-as-is', `${base}${target}`], dir);
    expect(r.status).toBe(status);
    expectNoLeak(r);
  });

  it('a symlink that stays inside the root is served', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const r = await curl(bin, [`${base}/inside-link.bin`], dir);
    expect(r.status).toBe(200);
    expect(sha256(r.body)).toBe(sha256(img));
  });

  it.each([
    ['GET ../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400],
    ['GET /..\\..\\secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 403],
    ['GET /dir/..\\..\\secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 403],
    ['GET http://x/../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 403],
    ['GET http://x/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 403],
    ['GET /img.bin\0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400],
    ['GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400],
    ['GET ftp://x/img.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400],
    ['GARBAGE\r\n\r\n', 400],
  ])('raw %j → %i, no body', async (request, status) => {
    const r = await rawRequest(port, request);
    expect(r.status).toBe(status);
    expect(r.body.length).toBe(0);
    expect(r.raw.toString('latin1')).not.toContain(dir);
  });
});

describe('what phones send', () => {
  it('HTTP/1.0, with and without Host, also from a client that half-closes after the request', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const c = await curl(bin, ['-0', `${base}/img.bin`], dir);
    expect(c.status).toBe(200);
    expect(sha256(c.body)).toBe(sha256(img));
    for (const halfClose of [false, true]) {
      const r = await rawRequest(port, 'GET /dir/46xxupgrade.scr HTTP/1.0\r\n\r\n', { halfClose });
      expect(r.status).toBe(200);
      expect(r.body.equals(text)).toBe(true);
      expect(r.closedByServer).toBe(true); // HTTP/1.0 without keep-alive: the server closes
    }
    const noHost = await rawRequest(port, 'GET /dir/46xxupgrade.scr HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(noHost.status).toBe(200);
    expect(noHost.body.equals(text)).toBe(true);
  });

  it('absolute-form request URIs (curl through the server as a proxy, and raw)', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const viaProxy = await curl(bin, ['-x', base, 'http://provisioning.example/dir/46xxupgrade.scr'], dir);
    expect(viaProxy.status).toBe(200);
    expect(viaProxy.body.equals(text)).toBe(true);
    const target = await curl(bin, ['--request-target', `http://127.0.0.1:${port}/img.bin`, `${base}/`], dir);
    expect(target.status).toBe(200);
    expect(sha256(target.body)).toBe(sha256(img));
    const raw = await rawRequest(port, `GET http://10.0.0.1:80/dir/46xxupgrade.scr HTTP/1.0\r\n\r\n`);
    expect(raw.status).toBe(200);
    expect(raw.body.equals(text)).toBe(true);
    const rec = records.find((x) => x.target === 'http://10.0.0.1:80/dir/46xxupgrade.scr');
    expect(rec).toMatchObject({ file: path.join('dir', '46xxupgrade.scr'), status: 200, httpVersion: '1.0' });
  });

  it('other methods are 405 with Allow', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    for (const m of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const r = await curl(bin, ['-X', m, `${base}/img.bin`], dir);
      expect(r.status, m).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
      expect(r.body.length).toBe(0);
    }
    const up = await curl(bin, ['-T', path.join(root, 'dir', '46xxupgrade.scr'), `${base}/uploaded.scr`], dir);
    expect(up.status).toBe(405);
    await expect(fs.stat(path.join(root, 'uploaded.scr'))).rejects.toThrow();
    const connect = await rawRequest(port, 'CONNECT x:80 HTTP/1.1\r\nHost: x:80\r\n\r\n');
    expect(connect.status).toBe(405);
  });
});

describe('records and stats', () => {
  it('one record per request with status, bytes and file; counters add up', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const before = server.stats();
    const n = records.length;
    await curl(bin, ['-r', '0-99', `${base}/img.bin`], dir);
    await curl(bin, [`${base}/nope.bin`], dir);
    const mine = records.slice(n);
    expect(mine.map((r) => [r.method, r.status, r.bytes, r.ok])).toEqual([
      ['GET', 206, 100, true],
      ['GET', 404, 0, true],
    ]);
    expect(mine[0]).toMatchObject({
      file: 'img.bin',
      size: img.length,
      range: `bytes 0-99/${img.length}`,
      tls: false,
      httpVersion: '1.1',
    });
    expect(mine[0]!.userAgent).toMatch(/^curl\//);
    const after = server.stats();
    expect(after.requests - before.requests).toBe(2);
    expect(after.bytesSent - before.bytesSent).toBe(100);
    expect((after.byStatus[404] ?? 0) - (before.byStatus[404] ?? 0)).toBe(1);
  });
});
