/**
 * Proves the peer helpers work, using only the peers' own programs (no bootwire code):
 * real servers (tftpd-hpa, atftpd, dnsmasq in a network namespace) fetched from by real clients
 * (curl, atftp, tftp-hpa, busybox), files compared by sha256. The second half pins down the client
 * behaviour documented at the top of test/helpers/peers.ts (exit codes, messages, options on the wire).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listNetns } from '../helpers/netns.js';
import {
  PEERS,
  freeUdpPort,
  requireRoot,
  run,
  sha256,
  startAtftpd,
  startDnsmasqTftp,
  startTftpdHpa,
  useAll,
  type Peer,
} from '../helpers/peers.js';

const BIG = 'random-1MiB.bin';
const TEXT = 'lines.txt';
const TEXT_CONTENT = 'line1\nline2\r\nline3\n\nend';

let root: string;
let work: string;
let bigSha: string;

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'bw-peers-root-'));
  work = mkdtempSync(path.join(tmpdir(), 'bw-peers-out-'));
  chmodSync(root, 0o755);
  const big = randomBytes(1024 * 1024);
  bigSha = sha256(big);
  writeFileSync(path.join(root, BIG), big, { mode: 0o644 });
  writeFileSync(path.join(root, TEXT), TEXT_CONTENT, { mode: 0o644 });
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

let outSeq = 0;
const outFile = (tag: string): string => path.join(work, `${tag}-${++outSeq}.out`);

function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('helpers', () => {
  it('run() kills the child at the timeout', async () => {
    const t0 = Date.now();
    const r = await run('sleep', ['30'], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('run() passes stdin and returns binary stdout', async () => {
    const r = await run('cat', [], { input: Buffer.from([0, 1, 2, 255]), timeoutMs: 5000 });
    expect(r.code).toBe(0);
    expect([...r.stdout]).toEqual([0, 1, 2, 255]);
  });

  it('freeUdpPort() returns a usable port', async () => {
    const port = await freeUdpPort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
  });
});

describe('tftpd-hpa', () => {
  it('serves 1 MiB to curl, also with --tftp-blksize 1428', async (ctx) => {
    useAll(ctx, PEERS.tftpdHpa, PEERS.curl);
    const peer = await startTftpdHpa(root);
    ctx.onTestFinished(() => peer.stop());
    const url = `tftp://${peer.host}:${peer.port}/${BIG}`;

    const out1 = outFile('hpa-curl');
    const r1 = await run('curl', ['-sS', '-m', '30', url, '-o', out1], { timeoutMs: 40_000 });
    expect(r1.code, `${r1.command}\n${r1.stderr}\n${peer.log()}`).toBe(0);
    expect(sha256(out1)).toBe(bigSha);

    const out2 = outFile('hpa-curl-blksize');
    const r2 = await run('curl', ['-sS', '-m', '30', '--tftp-blksize', '1428', url, '-o', out2], { timeoutMs: 40_000 });
    expect(r2.code, `${r2.command}\n${r2.stderr}`).toBe(0);
    expect(sha256(out2)).toBe(bigSha);

    if (!peer.log().includes('syslog capture unavailable')) {
      expect(peer.log()).toMatch(new RegExp(`RRQ from 127\\.0\\.0\\.1 filename ${BIG}`));
    }
    await peer.stop();
    expect(pidGone(peer.pid)).toBe(true);
  });
});

describe('atftpd', () => {
  it('serves 1 MiB to atftp with windowsize 16, blksize 1428, tsize', async (ctx) => {
    useAll(ctx, PEERS.atftpd, PEERS.atftp);
    const peer = await startAtftpd(root);
    ctx.onTestFinished(() => peer.stop());
    const out = outFile('atftpd-atftp');
    const r = await run(
      'atftp',
      [
        '--option',
        'windowsize 16',
        '--option',
        'blksize 1428',
        '--option',
        'tsize',
        '--get',
        '-r',
        BIG,
        '-l',
        out,
        peer.host,
        String(peer.port),
      ],
      { timeoutMs: 60_000 },
    );
    expect(r.code, `${r.command}\n${r.stdout.toString()}${r.stderr}\n${peer.log()}`).toBe(0);
    expect(sha256(out)).toBe(bigSha);
    expect(peer.log()).toMatch(/windowsize option -> 16/);
    expect(peer.log()).toMatch(/blksize option -> 1428/);
    await peer.stop();
    expect(pidGone(peer.pid)).toBe(true);
  });
});

describe('dnsmasq (network namespace, port 69)', () => {
  it('serves 1 MiB to curl run inside the namespace, and the namespace goes away', async (ctx) => {
    requireRoot(ctx);
    useAll(ctx, PEERS.dnsmasq, PEERS.ip, PEERS.ss, PEERS.curl);
    const peer = await startDnsmasqTftp(root);
    ctx.onTestFinished(() => peer.stop());
    expect(await listNetns()).toContain(peer.netns);

    const out = outFile('dnsmasq-curl');
    const r = await peer.exec('curl', ['-sS', '-m', '30', `tftp://127.0.0.1/${BIG}`, '-o', out], { timeoutMs: 40_000 });
    expect(r.code, `${r.command}\n${r.stderr}\n${peer.log()}`).toBe(0);
    expect(sha256(out)).toBe(bigSha);
    expect(peer.log()).toMatch(new RegExp(`sent ${root}/${BIG} to 127\\.0\\.0\\.1`));

    await peer.stop();
    expect(pidGone(peer.pid)).toBe(true);
    expect(await listNetns()).not.toContain(peer.netns);
  });
});

/** Pins down the client behaviour documented in peers.ts, against one tftpd-hpa. */
describe('client behaviour (against tftpd-hpa)', () => {
  let server: Peer | undefined;

  beforeAll(async () => {
    if (PEERS.tftpdHpa.missing) return; // each test then skips (or fails under CI) via useAll
    server = await startTftpdHpa(root);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const srv = (): Peer => {
    if (!server) throw new Error('tftpd-hpa did not start');
    return server;
  };

  it('tftp-hpa: octet and netascii get; ERROR 1 exits 0 with "Error code 1" on stdout', async (ctx) => {
    useAll(ctx, PEERS.tftpdHpa, PEERS.tftp);
    const s = srv();
    const out = outFile('tftp-octet');
    const r1 = await run('tftp', [s.host, String(s.port), '-m', 'binary', '-c', 'get', BIG, out], {
      timeoutMs: 60_000,
    });
    expect(r1.code, r1.stdout.toString() + r1.stderr).toBe(0);
    expect(sha256(out)).toBe(bigSha);

    const txt = outFile('tftp-netascii');
    const r2 = await run('tftp', [s.host, String(s.port), '-m', 'netascii', '-c', 'get', TEXT, txt], {
      timeoutMs: 30_000,
    });
    expect(r2.code).toBe(0);
    expect(readFileSync(txt, 'latin1')).toBe(TEXT_CONTENT); // converted back from CRLF / CR NUL

    const missing = outFile('tftp-missing');
    const r3 = await run('tftp', [s.host, String(s.port), '-m', 'binary', '-c', 'get', 'no-such-file', missing], {
      timeoutMs: 30_000,
    });
    expect(r3.code).toBe(0);
    expect(r3.stdout.toString()).toMatch(/^Error code 1: File not found$/m);
    expect(statSync(missing).size).toBe(0);
  });

  it('curl: ERROR 1 exits 68; netascii + tsize is refused by tftpd-hpa (exit 42); raw netascii bytes', async (ctx) => {
    useAll(ctx, PEERS.tftpdHpa, PEERS.curl);
    const s = srv();
    const base = `tftp://${s.host}:${s.port}`;
    const missing = outFile('curl-missing');
    const r1 = await run('curl', ['-sS', '-m', '20', `${base}/no-such-file`, '-o', missing], { timeoutMs: 30_000 });
    expect(r1.code).toBe(68);
    expect(existsSync(missing)).toBe(false);

    const r2 = await run('curl', ['-sS', '-m', '20', `${base}/${TEXT};mode=netascii`, '-o', outFile('curl-na')], {
      timeoutMs: 30_000,
    });
    expect(r2.code).toBe(42);

    const txt = outFile('curl-na-noopt');
    const r3 = await run('curl', ['-sS', '-m', '20', '--tftp-no-options', `${base}/${TEXT};mode=netascii`, '-o', txt], {
      timeoutMs: 30_000,
    });
    expect(r3.code).toBe(0);
    expect(readFileSync(txt, 'latin1')).toBe('line1\r\nline2\r\0\r\nline3\r\n\r\nend');
  });

  it('atftp: ERROR 1 exits 255 with the message on stderr; netascii via --option "mode netascii"', async (ctx) => {
    useAll(ctx, PEERS.tftpdHpa, PEERS.atftp);
    const s = srv();
    const r1 = await run(
      'atftp',
      ['--get', '-r', 'no-such-file', '-l', outFile('atftp-missing'), s.host, String(s.port)],
      { timeoutMs: 30_000 },
    );
    expect(r1.code).toBe(255);
    expect(r1.stderr).toContain('tftp: error received from server <File not found>');

    const txt = outFile('atftp-na');
    const r2 = await run(
      'atftp',
      ['--option', 'mode netascii', '--get', '-r', TEXT, '-l', txt, s.host, String(s.port)],
      { timeoutMs: 30_000 },
    );
    expect(r2.code, r2.stderr).toBe(0);
    expect(readFileSync(txt, 'latin1')).toBe(TEXT_CONTENT);
  });

  it('busybox tftp: -b 1428 works; ERROR 1 exits 1 and removes the local file', async (ctx) => {
    useAll(ctx, PEERS.tftpdHpa, PEERS.busybox);
    const s = srv();
    const out = outFile('bb');
    const r1 = await run('busybox', ['tftp', '-g', '-r', BIG, '-l', out, '-b', '1428', s.host, String(s.port)], {
      timeoutMs: 60_000,
    });
    expect(r1.code, r1.stderr).toBe(0);
    expect(sha256(out)).toBe(bigSha);

    const missing = outFile('bb-missing');
    const r2 = await run('busybox', ['tftp', '-g', '-r', 'no-such-file', '-l', missing, s.host, String(s.port)], {
      timeoutMs: 30_000,
    });
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain('tftp: server error: (1) File not found');
    expect(existsSync(missing)).toBe(false);
  });
});
