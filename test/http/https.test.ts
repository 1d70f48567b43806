/** HTTPS with a self-signed certificate the test makes with openssl; curl --cacert and httpGet against it. */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../../packages/http/src/client.js';
import { HttpFileServer, type HttpRequestRecord } from '../../packages/http/src/server.js';
import { needBinary, PEERS, sha256 } from '../helpers/peers.js';
import { curl, scratchDir, selfSigned } from './helpers.js';

const OPENSSL = needBinary('openssl', 'openssl');

let dir: string;
let root: string;
let pem: { cert: string; key: string } | undefined;
let server: HttpFileServer | undefined;
const records: HttpRequestRecord[] = [];
const image = randomBytes(2 * 1024 * 1024 + 1);

beforeAll(async () => {
  dir = await scratchDir('bw-https-');
  root = path.join(dir, 'root');
  await fs.mkdir(root);
  await fs.writeFile(path.join(root, 'image.bin'), image);
  if (OPENSSL.missing) return; // the tests skip (or fail under CI) through use()
  pem = await selfSigned(OPENSSL.path!, dir);
  server = await HttpFileServer.start({
    root,
    http: { host: '127.0.0.1', port: 0 },
    https: { host: '127.0.0.1', port: 0, cert: await fs.readFile(pem.cert), key: await fs.readFile(pem.key) },
  });
  server.on('request', (r) => records.push(r));
});
afterAll(async () => {
  await server?.close(0);
  await fs.rm(dir, { recursive: true, force: true });
});

const httpsBase = () => `https://127.0.0.1:${server!.address('https')!.port}`;
const httpBase = () => `http://127.0.0.1:${server!.address('http')!.port}`;

describe('HTTPS', () => {
  it('curl --cacert with the test certificate gets the file, and a range of it', async (ctx) => {
    const [bin] = [PEERS.curl.use(ctx), OPENSSL.use(ctx)];
    const r = await curl(bin, ['--cacert', pem!.cert, `${httpsBase()}/image.bin`], dir);
    expect(r.code).toBe(0);
    expect(r.status).toBe(200);
    expect(sha256(r.body)).toBe(sha256(image));
    const part = await curl(bin, ['--cacert', pem!.cert, '-r', '100-199', `${httpsBase()}/image.bin`], dir);
    expect(part.status).toBe(206);
    expect(part.body.equals(image.subarray(100, 200))).toBe(true);
    expect(records.at(-1)).toMatchObject({ tls: true, status: 206, bytes: 100 });
  });

  it('curl without the CA refuses the certificate (exit 60); the failed handshake is counted', async (ctx) => {
    const [bin] = [PEERS.curl.use(ctx), OPENSSL.use(ctx)];
    const before = server!.stats().clientErrors;
    const r = await curl(bin, [`${httpsBase()}/image.bin`], dir);
    expect(r.code).toBe(60);
    for (let i = 0; i < 100 && server!.stats().clientErrors === before; i++)
      await new Promise((res) => setTimeout(res, 10));
    expect(server!.stats().clientErrors).toBe(before + 1);
  });

  it(
    'httpGet trusts the certificate given as ca, refuses it otherwise, accepts anything with ' +
      'rejectUnauthorized false',
    async (ctx) => {
      OPENSSL.use(ctx);
      const ca = await fs.readFile(pem!.cert);
      const ok = await httpGet(`${httpsBase()}/image.bin`, { ca });
      expect([ok.status, ok.bytes, ok.sha256]).toEqual([200, image.length, sha256(image)]);
      await expect(httpGet(`${httpsBase()}/image.bin`)).rejects.toMatchObject({
        code: 'network',
        message: expect.stringMatching(/self[- ]signed/i),
      });
      const any = await httpGet(`${httpsBase()}/image.bin`, { rejectUnauthorized: false });
      expect(any.sha256).toBe(sha256(image));
    },
  );

  it('HTTP and HTTPS serve the same cached copy', async (ctx) => {
    OPENSSL.use(ctx);
    const plain = await httpGet(`${httpBase()}/image.bin`);
    expect(plain.sha256).toBe(sha256(image));
    expect(server!.cache.stats()).toMatchObject({ entries: 1, loads: 1 });
  });

  it('a bad certificate or key stops the server from starting, with a clear message', async () => {
    await expect(
      HttpFileServer.start({
        root,
        https: { host: '127.0.0.1', port: 0, cert: 'not a certificate', key: 'not a key' },
      }),
    ).rejects.toThrow(/bad TLS certificate or key/);
  });
});
