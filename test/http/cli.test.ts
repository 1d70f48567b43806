/**
 * `bootwire serve --http/--https` as a process: the printed addresses, curl over HTTP, HTTPS and TFTP, logs, shutdown.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needBinary, PEERS, run, sha256 } from '../helpers/peers.js';
import { curl, scratchDir, selfSigned } from './helpers.js';

const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));
const OPENSSL = needBinary('openssl', 'openssl');

interface Served {
  proc: ChildProcess;
  ports: Record<'tftp' | 'http' | 'https', number | undefined>;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `bootwire serve ARGS` and waits for every "<kind> listening on" line it should print. */
async function serve(args: string[], expect: Array<'tftp' | 'http' | 'https'>): Promise<Served> {
  const proc = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const ports = await new Promise<Served['ports']>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const found: Served['ports'] = { tftp: undefined, http: undefined, https: undefined };
      for (const m of out.matchAll(/bootwire: (tftp|http|https) listening on \S+:(\d+),/g))
        found[m[1] as 'tftp'] = Number(m[2]);
      if (expect.every((k) => found[k] !== undefined)) resolve(found);
    });
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { proc, ports, stderr: () => err, exited };
}

const cli = (args: string[]) => run(process.execPath, [CLI, ...args], { timeoutMs: 20_000 });

let dir: string;
let root: string;
const image = randomBytes(5 * 1024 * 1024 + 3);

beforeAll(async () => {
  dir = await scratchDir('bw-http-cli-');
  root = path.join(dir, 'root');
  await fs.mkdir(root);
  await fs.writeFile(path.join(root, 'image.bin'), image);
  await fs.writeFile(path.join(root, '46xxupgrade.scr'), 'GET 46xxsettings.txt\n');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('bootwire serve --http --https', () => {
  it('serves one root over TFTP, HTTP and HTTPS, logs one JSON line per request, stops on SIGTERM', async (ctx) => {
    const [bin, openssl] = [PEERS.curl.use(ctx), OPENSSL.use(ctx)];
    const pem = await selfSigned(openssl, dir);
    const s = await serve(
      [
        '--root',
        root,
        '--tftp',
        '127.0.0.1:0',
        '--http',
        '127.0.0.1:0',
        '--https',
        '127.0.0.1:0',
        '--cert',
        pem.cert,
        '--key',
        pem.key,
        '--workers',
        '0',
      ],
      ['tftp', 'http', 'https'],
    );
    try {
      const h = await curl(bin, [`http://127.0.0.1:${s.ports.http}/image.bin`], dir);
      expect([h.status, sha256(h.body)]).toEqual([200, sha256(image)]);
      const t = await curl(bin, ['--cacert', pem.cert, `https://127.0.0.1:${s.ports.https}/image.bin`], dir);
      expect([t.status, sha256(t.body)]).toEqual([200, sha256(image)]);
      const tftp = await run(bin, ['-sS', '-m', '20', `tftp://127.0.0.1:${s.ports.tftp}/image.bin`]);
      expect(sha256(tftp.stdout)).toBe(sha256(image));
      const nm = await curl(
        bin,
        ['-H', `If-None-Match: ${h.headers.etag}`, `http://127.0.0.1:${s.ports.http}/image.bin`],
        dir,
      );
      expect(nm.status).toBe(304);
      const r = await curl(bin, ['-r', '-100', `http://127.0.0.1:${s.ports.http}/image.bin`], dir);
      expect(r.body.equals(image.subarray(image.length - 100))).toBe(true);
      const bad = await curl(bin, ['--path-as-is', `http://127.0.0.1:${s.ports.http}/../../etc/passwd`], dir);
      expect([bad.status, bad.body.length]).toEqual([403, 0]);
    } finally {
      s.proc.kill('SIGTERM');
    }
    expect(await s.exited).toBe(0);
    const lines = s
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // One transfer record per response (src/ops/transfer-log.ts).
    const reqs = lines.filter((l) => l.event === 'transfer' && (l.protocol === 'http' || l.protocol === 'https')) as {
      protocol: string;
      options: { method: string; status: number };
      result: string;
    }[];
    expect(reqs.map((l) => [l.options.method, l.options.status, l.protocol, l.result])).toEqual([
      ['GET', 200, 'http', 'ok'],
      ['GET', 200, 'https', 'ok'],
      ['GET', 304, 'http', 'ok'],
      ['GET', 206, 'http', 'ok'],
      ['GET', 403, 'http', 'refused'],
    ]);
    expect(reqs[0]).toMatchObject({ file: 'image.bin', bytes: image.length, result: 'ok' });
    expect((reqs[0] as { msg?: string }).msg).toMatch(
      new RegExp(
        `^http read image\\.bin to 127\\.0\\.0\\.1:\\d+ ok, ${image.length.toLocaleString('en-US')} bytes in \\d+ ms$`,
      ),
    );
    const stopped = lines.find((l) => l.msg === 'stopped') as
      { http: { requests: number; bytesSent: number } } | undefined;
    expect(stopped?.http).toMatchObject({ requests: 5, bytesSent: 2 * image.length + 100 });
  });

  it('SIGTERM lets a running download finish and refuses new connections', async () => {
    // Larger than loopback's socket buffers: the server is still sending when the signal comes.
    const big = randomBytes(24 * 1024 * 1024);
    await fs.writeFile(path.join(root, 'big.bin'), big);
    const s = await serve(
      ['--root', root, '--tftp', '127.0.0.1:0', '--http', '127.0.0.1:0', '--workers', '0', '--grace', '30'],
      ['http'],
    );
    const url = `http://127.0.0.1:${s.ports.http}/big.bin`;
    let resume!: () => void;
    const body = new Promise<Buffer>((resolve, reject) => {
      http
        .get(url, { agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.once('data', (d: Buffer) => {
            chunks.push(d);
            res.pause();
            res.on('data', (m: Buffer) => chunks.push(m));
            resume = () => res.resume();
            paused();
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    let paused!: () => void;
    await new Promise<void>((r) => (paused = r));
    s.proc.kill('SIGTERM');
    while (!s.stderr().includes('SIGTERM: stopping')) await new Promise((r) => setTimeout(r, 20));
    const refused = await new Promise<string>((r) =>
      http.get(url, { agent: false }, () => r('answered')).on('error', (e: NodeJS.ErrnoException) => r(e.code ?? '')),
    );
    expect(refused).toBe('ECONNREFUSED');
    expect(s.proc.exitCode).toBeNull(); // still serving the running response
    resume();
    expect(sha256(await body)).toBe(sha256(big));
    expect(await s.exited).toBe(0);
    expect(s.stderr()).toMatch(
      /"options":\{"method":"GET","status":200\},"bytes":25165824,"ms":\d+,"retransmits":0,"result":"ok"/,
    );
  });

  it('the config file http section, with cert and key relative to the file', async (ctx) => {
    const [bin, openssl] = [PEERS.curl.use(ctx), OPENSSL.use(ctx)];
    const cfgDir = path.join(dir, 'cfg');
    await fs.mkdir(cfgDir, { recursive: true });
    await selfSigned(openssl, cfgDir);
    const cfg = path.join(cfgDir, 'bootwire.json');
    await fs.writeFile(
      cfg,
      JSON.stringify({
        root: '../root',
        tftp: { listen: '127.0.0.1:0', workers: 0 },
        http: { listen: '127.0.0.1:0', https: { listen: '127.0.0.1:0', cert: 'cert.pem', key: 'key.pem' } },
      }),
    );
    const s = await serve(['--config', cfg], ['tftp', 'http', 'https']);
    try {
      const t = await curl(
        bin,
        ['--cacert', path.join(cfgDir, 'cert.pem'), `https://127.0.0.1:${s.ports.https}/46xxupgrade.scr`],
        dir,
      );
      expect(t.body.toString()).toBe('GET 46xxsettings.txt\n');
      const h = await curl(bin, [`http://127.0.0.1:${s.ports.http}/46xxupgrade.scr`], dir);
      expect(h.body.toString()).toBe('GET 46xxsettings.txt\n');
    } finally {
      s.proc.kill('SIGTERM');
    }
    expect(await s.exited).toBe(0);
  });

  it(
    'the config file caps connections per client address: the second idle one from an address closes ' + 'the first',
    async () => {
      const cfg = path.join(dir, 'caps.json');
      await fs.writeFile(cfg, JSON.stringify({ root, http: { listen: '127.0.0.1:0', maxConnectionsPerClient: 1 } }));
      const s = await serve(['--config', cfg], ['http']);
      try {
        const closed: boolean[] = [false, false];
        const socks = [0, 1].map((i) => {
          const c = net.connect({ port: s.ports.http!, host: '127.0.0.1', localAddress: '127.0.0.30' });
          c.on('error', () => {});
          c.on('close', () => (closed[i] = true));
          return c;
        });
        while (!closed[0]) await new Promise((r) => setTimeout(r, 20));
        const other = await new Promise<number>((r) =>
          http.get(
            `http://127.0.0.1:${s.ports.http}/46xxupgrade.scr`,
            { agent: false },
            (res) => (res.resume(), r(res.statusCode ?? 0)),
          ),
        );
        expect([closed[1], other]).toEqual([false, 200]);
        for (const c of socks) c.destroy();
      } finally {
        s.proc.kill('SIGTERM');
      }
      expect(await s.exited).toBe(0);
    },
  );

  it('usage errors exit 2 with one line', async () => {
    const noCert = await cli(['serve', '--tftp', '127.0.0.1:0', '--https', '127.0.0.1:0']);
    expect([noCert.code, noCert.stderr.trim()]).toEqual([2, 'bootwire: --https needs --cert FILE and --key FILE']);
    const certAlone = await cli(['serve', '--tftp', '127.0.0.1:0', '--cert', 'x.pem', '--key', 'y.pem']);
    expect([certAlone.code, certAlone.stderr.trim()]).toEqual([
      2,
      'bootwire: --cert and --key go with --https HOST:PORT',
    ]);
    const missing = await cli([
      'serve',
      '--tftp',
      '127.0.0.1:0',
      '--https',
      '127.0.0.1:0',
      '--cert',
      path.join(dir, 'none.pem'),
      '--key',
      path.join(dir, 'none.pem'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read --cert .*none\.pem: ENOENT/);
    const badAddr = await cli(['serve', '--tftp', '127.0.0.1:0', '--http', 'nonsense']);
    expect(badAddr.code).toBe(2);
    expect(badAddr.stderr).toMatch(/--http/);
    await fs.writeFile(path.join(dir, 'bad.pem'), 'not a certificate');
    const badPem = await cli([
      'serve',
      '--root',
      root,
      '--tftp',
      '127.0.0.1:0',
      '--https',
      '127.0.0.1:0',
      '--cert',
      path.join(dir, 'bad.pem'),
      '--key',
      path.join(dir, 'bad.pem'),
    ]);
    expect(badPem.code).toBe(2);
    expect(badPem.stderr).toMatch(/cannot serve: bad TLS certificate or key/);
  });
});
