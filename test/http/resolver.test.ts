/**
 * The resolver contract over HTTP (src/files/resolver.ts): bytes of any view served exactly (with
 * ranges and HEAD), streams (chunked, or with the length given; cut off when they fail), refusals as
 * 404/403, and resolvers that throw, reject, hang or return garbage: 500 to that client while another
 * is served. Events carry the phone; name rules apply to URL paths as to TFTP names.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nameRules } from '../../packages/core/src/files/names.js';
import { parseRemapRules } from '../../packages/core/src/files/remap.js';
import type { ClientInfo, Resolver } from '../../packages/core/src/files/resolver.js';
import { createRootResolver } from '../../packages/core/src/files/root-resolver.js';
import { HttpClientError, httpGet } from '../../packages/http/src/client.js';
import { HttpFileServer, type HttpServerOptions } from '../../packages/http/src/server.js';
import type { HttpTransferRecord } from '../../packages/core/src/server/records.js';
import { PEERS } from '../helpers/peers.js';
import { faultyResolver, poolSlice, type RecordedEvents, recordEvents } from '../helpers/resolvers.js';
import { curl, rawRequest, scratchDir } from './helpers.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const servers: HttpFileServer[] = [];
let dir: string;

interface Started extends RecordedEvents<HttpTransferRecord> {
  server: HttpFileServer;
  base: string;
  port: number;
}

async function start(o: Partial<HttpServerOptions>): Promise<Started> {
  const server = await HttpFileServer.start({ http: { host: '127.0.0.1', port: 0 }, ...o });
  servers.push(server);
  const events = recordEvents<HttpTransferRecord>(server);
  const port = server.address('http')!.port;
  return { server, base: `http://127.0.0.1:${port}`, port, ...events };
}

const get = (url: string, o: Parameters<typeof httpGet>[1] = {}) =>
  httpGet(url, { keepBody: true, timeoutMs: 10_000, ...o });

beforeAll(async () => {
  dir = await scratchDir('bw-http-resolver-');
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('HTTP resolver: bytes', () => {
  it("a slice of Node's pool and a view deep in a big buffer: exactly the view, with ranges and HEAD", async () => {
    const slice = poolSlice('<config><sip server="10.0.0.1"/></config>\n');
    const big = randomBytes(1 << 20);
    const deep = new Uint8Array(big.buffer, big.byteOffset + 77_777, 300_000);
    const content: Record<string, Uint8Array> = { 'slice.xml': slice, 'deep.bin': deep };
    const { base } = await start({
      resolver: (req) =>
        content[req.name]
          ? { kind: 'bytes', bytes: content[req.name]!, name: req.name }
          : { kind: 'refusal', reason: 'not-found' },
    });
    for (const [name, bytes] of Object.entries(content)) {
      const r = await get(`${base}/${name}`);
      expect(r.status).toBe(200);
      expect(sha(r.body!), name).toBe(sha(bytes));
      expect(r.headers['content-length']).toBe(String(bytes.byteLength));
      const part = await get(`${base}/${name}`, { headers: { Range: 'bytes=10-19' } });
      expect(part.status).toBe(206);
      expect(part.body!.equals(Buffer.from(bytes.subarray(10, 20)))).toBe(true);
      expect(part.headers['content-range']).toBe(`bytes 10-19/${bytes.byteLength}`);
      const head = await get(`${base}/${name}`, { method: 'HEAD' });
      expect([head.status, head.headers['content-length'], head.bytes]).toEqual([200, String(bytes.byteLength), 0]);
    }
    expect((await get(`${base}/slice.xml`)).headers['content-type']).toBe('application/xml');
  });

  it('validators only when the resolver gives an ETag: then 304 and If-Range work', async () => {
    const bytes = Buffer.from('versioned\n');
    const { base } = await start({
      resolver: (req) =>
        req.name === 'tagged.txt'
          ? { kind: 'bytes', bytes, etag: '"v1"', mtimeMs: Date.parse('2026-01-01T00:00:00Z') }
          : { kind: 'bytes', bytes },
    });
    const tagged = await get(`${base}/tagged.txt`);
    expect([tagged.headers.etag, tagged.headers['last-modified']]).toEqual(['"v1"', 'Thu, 01 Jan 2026 00:00:00 GMT']);
    expect((await get(`${base}/tagged.txt`, { headers: { 'If-None-Match': '"v1"' } })).status).toBe(304);
    expect((await get(`${base}/tagged.txt`, { headers: { Range: 'bytes=0-3', 'If-Range': '"v1"' } })).status).toBe(206);
    const plain = await get(`${base}/plain.txt`);
    expect(plain.headers.etag).toBeUndefined();
    expect((await get(`${base}/plain.txt`, { headers: { 'If-None-Match': '*' } })).status).toBe(200);
    // If-Range without validators never matches: the whole representation.
    expect((await get(`${base}/plain.txt`, { headers: { Range: 'bytes=0-3', 'If-Range': '"x"' } })).status).toBe(200);
  });
});

describe('HTTP resolver: streams', () => {
  const chunks = Array.from({ length: 50 }, () => randomBytes(4000));
  const whole = Buffer.concat(chunks);
  async function* gen(failAt = -1) {
    for (const [i, c] of chunks.entries()) {
      await new Promise((r) => setImmediate(r));
      if (i === failAt) throw new Error('generator failed');
      yield c;
    }
  }
  const resolver: Resolver = (req) => {
    if (req.name === 'chunked') return { kind: 'stream', stream: gen(), name: 'gen.bin' };
    if (req.name === 'sized') return { kind: 'stream', stream: gen(), size: whole.length };
    if (req.name === 'fails') return { kind: 'stream', stream: gen(20) };
    if (req.name === 'liar') return { kind: 'stream', stream: gen(), size: 1000 };
    return { kind: 'refusal', reason: 'not-found' };
  };

  it('chunked without a size, Content-Length with one; HEAD sends none of it', async () => {
    const { base, ends } = await start({ resolver });
    const a = await get(`${base}/chunked`);
    expect([a.status, a.headers['transfer-encoding'], a.headers['content-length']]).toEqual([
      200,
      'chunked',
      undefined,
    ]);
    expect(sha(a.body!)).toBe(sha(whole));
    const b = await get(`${base}/sized`);
    expect([b.status, b.headers['content-length']]).toEqual([200, String(whole.length)]);
    expect(sha(b.body!)).toBe(sha(whole));
    const h = await get(`${base}/sized`, { method: 'HEAD' });
    expect([h.status, h.headers['content-length'], h.bytes]).toEqual([200, String(whole.length), 0]);
    expect(ends.map((r) => [r.name, r.file, r.status, r.ok, r.bytes])).toEqual([
      ['chunked', 'gen.bin', 200, true, whole.length],
      ['sized', undefined, 200, true, whole.length],
      ['sized', undefined, 200, true, 0],
    ]);
  });

  it('HTTP/1.0: the end of the connection ends the body', async () => {
    const { port } = await start({ resolver });
    const r = await rawRequest(port, 'GET /chunked HTTP/1.0\r\n\r\n', { waitMs: 5000 });
    expect(r.status).toBe(200);
    expect(r.closedByServer).toBe(true);
    expect(sha(r.body)).toBe(sha(whole));
  });

  it(
    'a stream that fails, runs past its size or the limit: the body is cut off (never a ' +
      'whole-looking one), others served',
    async () => {
      const { base, warnings } = await start({ resolver, maxStreamBytes: whole.length - 1 });
      for (const name of ['fails', 'liar', 'chunked']) {
        const e = await get(`${base}/${name}`).catch((err: unknown) => err);
        expect(e, name).toBeInstanceOf(HttpClientError);
      }
      expect(warnings.map((w) => [w.code, w.message])).toEqual([
        ['stream-failed', 'GET /fails: stream failed: generator failed'],
        ['stream-failed', 'GET /liar: stream ran past its size of 1000 bytes'],
        ['stream-failed', `GET /chunked: stream ran past the limit of ${whole.length - 1} bytes`],
      ]);
      expect(await get(`${base}/missing`).then((r) => r.status)).toBe(404);
    },
  );
});

describe('HTTP resolver: refusals and faults', () => {
  it(
    'not-found 404, forbidden and invalid 403; throws, rejects, hangs, garbage: 500 to that client, ' + 'others served',
    async () => {
      const good = poolSlice('good\n');
      const { resolver, hung } = faultyResolver(good, {
        gone: () => ({ kind: 'refusal', reason: 'not-found' }),
        secret: () => ({ kind: 'refusal', reason: 'forbidden' }),
        bad: () => ({ kind: 'refusal', reason: 'invalid' }),
        garbage: () => ({ kind: 'bytes', bytes: [1, 2, 3] }),
        number: () => 42,
      });
      const { base, warnings, ends, server } = await start({ resolver, resolveTimeoutMs: 1500 });
      const hanging = get(`${base}/hangs`);
      await new Promise((r) => setTimeout(r, 100));
      expect(hung()).toBe(1);
      const names = ['gone', 'secret', 'bad', 'throws', 'rejects', 'garbage', 'number'];
      const all = await Promise.all([...names.map((n) => get(`${base}/${n}`)), get(`${base}/good.txt`)]);
      expect(all.map((r) => r.status)).toEqual([404, 403, 403, 500, 500, 500, 500, 200]);
      expect(all.slice(0, -1).every((r) => r.bytes === 0)).toBe(true);
      expect(all.at(-1)!.body!.toString()).toBe('good\n');
      expect((await hanging).status).toBe(500);
      expect(warnings.map((w) => w.code)).toEqual(Array(5).fill('resolver-failed'));
      expect(warnings.map((w) => w.message).sort()).toEqual([
        'GET /garbage: resolver returned bytes that are not a Uint8Array',
        'GET /hangs: resolver did not answer within 1500 ms',
        'GET /number: resolver returned number, not a resolution',
        'GET /rejects: resolver failed: async boom',
        'GET /throws: resolver failed: boom',
      ]);
      expect(ends.find((r) => r.name === 'throws')).toMatchObject({
        protocol: 'http',
        status: 500,
        ok: true,
        bytes: 0,
      });
      await server.idle();
      expect(server.stats().activeRequests).toBe(0);
    },
  );
});

describe('HTTP resolver: events and names', () => {
  it('transfer-start and transfer-end name the phone; the resolver sees it', async () => {
    const phone = {
      mac: '00:04:0d:aa:bb:01',
      model: 'avaya-96xx',
      className: 'avaya-96xx',
      vendorClass: 'ccp.avaya.com',
    };
    const seen: ClientInfo[] = [];
    const { base, starts, ends } = await start({
      phones: { phoneAt: (a) => (a === '127.0.0.1' ? phone : undefined) },
      resolver: (req, client) => {
        seen.push(client);
        return { kind: 'bytes', bytes: Buffer.from(req.name), name: `gen/${req.name}` };
      },
    });
    await get(`${base}/46xxsettings.txt`);
    expect(seen[0]).toEqual({ address: '127.0.0.1', port: expect.any(Number), phone });
    expect(starts).toEqual([
      {
        protocol: 'http',
        client: { address: '127.0.0.1', port: expect.any(Number) },
        phone: { mac: phone.mac, model: 'avaya-96xx' },
        direction: 'read',
        name: '46xxsettings.txt',
        file: 'gen/46xxsettings.txt',
        size: 16,
      },
    ]);
    expect(ends[0]).toMatchObject({
      protocol: 'http',
      phone: { mac: phone.mac, model: 'avaya-96xx' },
      direction: 'read',
      name: '46xxsettings.txt',
      file: 'gen/46xxsettings.txt',
      status: 200,
      bytes: 16,
      ok: true,
    });
  });

  it('the same name rules as TFTP apply to URL paths (curl)', async (ctx) => {
    const bin = PEERS.curl.use(ctx);
    const root = path.join(dir, 'names');
    await fs.mkdir(path.join(root, 'fw'), { recursive: true });
    await fs.writeFile(path.join(root, 'fw', '440hd.img'), 'image\n');
    await fs.writeFile(path.join(root, 'sipdefault.cnf'), 'defaults\n');
    const rules = parseRemapRules('r ^firmware/ fw/\nai ^private/');
    if (!rules.ok) throw new Error(rules.message);
    const resolver = await createRootResolver({ root, names: nameRules({ lowercase: true, remap: rules.rules })! });
    const { base } = await start({ root, resolver });
    expect((await curl(bin, [`${base}/FIRMWARE/440HD.img`], dir)).body.toString()).toBe('image\n');
    expect((await curl(bin, [`${base}/SIPDefault.cnf`], dir)).body.toString()).toBe('defaults\n');
    expect((await curl(bin, [`${base}/Private/x`], dir)).status).toBe(403);
    expect((await curl(bin, [`${base}/missing`], dir)).status).toBe(404);
  });
});
