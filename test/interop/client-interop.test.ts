/**
 * bootwire's TFTP client against real servers from Debian's packages: tftpd-hpa, atftpd (windowsize)
 * and dnsmasq (which only listens on port 69, so it runs in a network namespace of its own and the
 * bootwire CLI runs inside that namespace too).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TftpError, tftpGetBuffer } from '../../packages/tftp/src/client.js';
import { PEERS, requireRoot, sha256, startAtftpd, startDnsmasqTftp, startTftpdHpa, useAll } from '../helpers/peers.js';

const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));
let root: string;
const files: Record<string, Buffer> = {};

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-client-interop-'));
  await fs.chmod(root, 0o755);
  files['image.bin'] = randomBytes(2 * 1024 * 1024 + 77);
  files['exact.bin'] = randomBytes(1024 * 64);
  files['settings.txt'] = Buffer.from('SET A 1\nSET B 2\r\nraw\rCR\n'.repeat(200));
  for (const [n, b] of Object.entries(files)) {
    await fs.writeFile(path.join(root, n), b);
    await fs.chmod(path.join(root, n), 0o644);
  }
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('bootwire client against tftpd-hpa', () => {
  it('fetches with and without options, in octet and netascii', async (ctx) => {
    PEERS.tftpdHpa.use(ctx);
    const peer = await startTftpdHpa(root);
    ctx.onTestFinished(() => peer.stop());
    const base = { host: peer.host, port: peer.port };
    for (const o of [{}, { blksize: 1428, tsize: true }, { blksize: 8192 }, { blksize: 1024, timeout: 2 }]) {
      const { data, info } = await tftpGetBuffer({ ...base, filename: 'image.bin', ...o });
      expect(sha256(data), JSON.stringify(o)).toBe(sha256(files['image.bin']!));
      if ('tsize' in o) expect(info.tsize).toBe(files['image.bin']!.length);
      if ('blksize' in o) expect(info.blksize).toBe(o.blksize);
    }
    const exact = await tftpGetBuffer({ ...base, filename: 'exact.bin', blksize: 1024 });
    expect(sha256(exact.data)).toBe(sha256(files['exact.bin']!));
    // tftpd-hpa refuses tsize in netascii mode, so ask for none.
    const text = await tftpGetBuffer({ ...base, filename: 'settings.txt', mode: 'netascii' });
    expect(text.data.equals(files['settings.txt']!)).toBe(true);
    const missing = await tftpGetBuffer({ ...base, filename: 'missing.bin' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(TftpError);
    expect((missing as TftpError).code).toBe(1);
  });

  it('tftpd-hpa ignores windowsize: the client falls back to lock-step and still gets the file', async (ctx) => {
    PEERS.tftpdHpa.use(ctx);
    const peer = await startTftpdHpa(root);
    ctx.onTestFinished(() => peer.stop());
    const { data, info } = await tftpGetBuffer({
      host: peer.host,
      port: peer.port,
      filename: 'image.bin',
      blksize: 1428,
      windowsize: 16,
    });
    expect(sha256(data)).toBe(sha256(files['image.bin']!));
    expect(info.windowsize).toBe(1);
  });
});

describe('bootwire client against atftpd', () => {
  it('fetches with windowsize 16, blksize 1428 and tsize', async (ctx) => {
    PEERS.atftpd.use(ctx);
    const peer = await startAtftpd(root);
    ctx.onTestFinished(() => peer.stop());
    for (const windowsize of [1, 4, 16]) {
      const { data, info } = await tftpGetBuffer({
        host: peer.host,
        port: peer.port,
        filename: 'image.bin',
        blksize: 1428,
        windowsize,
        tsize: true,
      });
      expect(sha256(data)).toBe(sha256(files['image.bin']!));
      expect(info.windowsize).toBe(windowsize);
      expect(info.tsize).toBe(files['image.bin']!.length);
    }
    const exact = await tftpGetBuffer({
      host: peer.host,
      port: peer.port,
      filename: 'exact.bin',
      blksize: 1024,
      windowsize: 16,
    });
    expect(sha256(exact.data)).toBe(sha256(files['exact.bin']!));
    const missing = await tftpGetBuffer({ host: peer.host, port: peer.port, filename: 'missing.bin' }).catch(
      (e: unknown) => e,
    );
    expect((missing as TftpError).code).toBe(1);
  });
});

describe("bootwire client against dnsmasq's TFTP server (in a network namespace)", () => {
  it('fetches with the bootwire CLI run inside the namespace', async (ctx) => {
    useAll(ctx, PEERS.dnsmasq, PEERS.ip);
    requireRoot(ctx);
    const peer = await startDnsmasqTftp(root);
    ctx.onTestFinished(() => peer.stop());
    for (const args of [[], ['--blksize', '1468', '--tsize'], ['--blksize', '8192']]) {
      const o = path.join(root, `..`, `${path.basename(root)}-dnsmasq-${args.length}.bin`);
      const r = await peer.exec(process.execPath, [CLI, 'get', 'tftp://127.0.0.1:69/image.bin', '-o', o, ...args], {
        timeoutMs: 60_000,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(sha256(o)).toBe(sha256(files['image.bin']!));
      await fs.rm(o);
    }
    const missing = await peer.exec(process.execPath, [CLI, 'get', 'tftp://127.0.0.1:69/missing.bin', '-o', '-']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/server error 1:/);
  });
});
