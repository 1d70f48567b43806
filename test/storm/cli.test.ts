/**
 * `bootwire storm` end to end (the CLI as a process, --json parsed): the default fleet against bootwire
 * on loopback, --protocols tftp, the TFTP options every phone asks for, --duplicate/--reorder, another
 * file server with --dhcp none, the HTML report, and usage errors. Bytes are checked exactly against
 * the files of an init root (test/storm/helpers.ts says which files each model reads).
 */
import dgram from 'node:dgram';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type Served } from '../boot/helpers.js';
import { DEFAULT_40, fleetBytes, initRoot, modelPhones, scratch, type StormJson, stormCli } from './helpers.js';
import { bindUdp } from '../../packages/core/src/udp.js';

let dir: string;
/** `bootwire init R --image-size 256k`: the same files a storm with --image-size 256k generates. */
let root: string;
let bytes40: number;

beforeAll(async () => {
  dir = await scratch('bw-storm-cli-');
  root = await initRoot(dir, '256k');
  bytes40 = fleetBytes(root, DEFAULT_40);
});
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const PHASES = ['dhcp', 'script', 'image', 'settings'];

/** What every clean 40-phone run of the default fleet must show. */
function expectClean40(j: StormJson): void {
  expect([j.phones, j.booted, j.failed, j.imagesDownloaded]).toEqual([40, 40, 0, 40]);
  expect(j.failures).toEqual({});
  expect(modelPhones(j)).toEqual(DEFAULT_40);
  for (const m of Object.values(j.models)) expect(m.failed).toBe(0);
  expect(j.bytes).toBe(bytes40);
  expect(Object.values(j.bytesByProtocol).reduce((a, b) => a + b, 0)).toBe(j.bytes);
}

describe('bootwire storm against bootwire on loopback', () => {
  it("the default fleet, 40 phones: all boot, every file's bytes, exit 0", async () => {
    const r = await stormCli(['--phones', '40', '--image-size', '256k', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json as StormJson;
    expectClean40(j);
    expect(j.server).toBe('builtin');
    expect(Object.keys(j.phases)).toEqual(PHASES);
    // 4600/1600/9600 reach the file server over HTTP (options 242/43 name HTTPSRVR); 1200 and 400HD use TFTP.
    expect(Object.keys(j.bytesByProtocol).sort()).toEqual(['http', 'tftp']);
    expect(j.faults).toEqual({ dropped: 0, duplicated: 0, reordered: 0 });
    expect(j.serverCpuSeconds).toBeGreaterThan(0);
    expect(j.serverPeakRssBytes).toBeGreaterThan(0);
    expect(j.simulatorCpuSeconds).toBeGreaterThan(0);
    expect(j.bootSeconds.p50).toBeLessThanOrEqual(j.bootSeconds.p95);
    expect(j.bootSeconds.p95).toBeLessThanOrEqual(j.bootSeconds.max);
    console.log(
      `storm default 40 phones: wall ${j.wallSeconds} s (process ${r.seconds} s), retransmits ${j.retransmits}`,
    );
  });

  it('--protocols tftp: the same files, all over TFTP', async () => {
    const r = await stormCli(['--phones', '40', '--image-size', '256k', '--protocols', 'tftp', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json as StormJson;
    expectClean40(j);
    expect(Object.keys(j.phases)).toEqual(PHASES);
    expect(j.bytesByProtocol).toEqual({ tftp: bytes40 });
  });

  it('--client-windowsize 16 --client-blksize 1428 --protocols tftp', async () => {
    const r = await stormCli([
      '--phones',
      '40',
      '--root',
      root,
      '--protocols',
      'tftp',
      '--client-windowsize',
      '16',
      '--client-blksize',
      '1428',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json as StormJson;
    expectClean40(j);
    expect(j.bytesByProtocol).toEqual({ tftp: bytes40 });
    console.log(`storm 40 phones windowsize 16 blksize 1428: wall ${j.wallSeconds} s`);
  });

  // Duplicated or held-back datagrams cost no retransmission: a duplicate DATA is re-ACKed, a duplicate
  // ACK is ignored (RFC 1350's Sorcerer's Apprentice rule), a datagram held 5 ms is well inside the
  // phones' 2 s timeout. What must hold: every phone boots, every byte arrives once, the faults happened.
  it.for<[string, 'duplicated' | 'reordered']>([
    ['--duplicate', 'duplicated'],
    ['--reorder', 'reordered'],
  ])('%s 5%%: every phone boots with every byte', async ([flag, counter]) => {
    const r = await stormCli(['--phones', '40', '--image-size', '256k', flag, '5%', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json as StormJson;
    expectClean40(j);
    expect(j.faults[counter]).toBeGreaterThan(0);
    expect(j.faults.dropped).toBe(0);
    expect(j.faults[counter === 'duplicated' ? 'reordered' : 'duplicated']).toBe(0);
    console.log(
      `storm 40 phones ${flag} 5%: ${j.faults[counter]} datagrams ${counter}, retransmits ` +
        `${j.retransmits}, wall ${j.wallSeconds} s`,
    );
  });

  it("--report FILE: one self-contained HTML page with Chart.js and the run's data", async () => {
    const file = path.join(dir, 'report.html');
    const r = await stormCli(['--phones', '20', '--image-size', '256k', '--report', file, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json as StormJson;
    expect([j.booted, j.failed]).toEqual([20, 0]);
    const html = await fs.readFile(file, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('Chart.js v4');
    expect(html).toContain("new Chart(document.getElementById('timeline')");
    // Nothing fetched from the network: no script, stylesheet or image from elsewhere.
    expect(html).not.toMatch(/<script[^>]*\bsrc=/i);
    expect(html).not.toMatch(/<link[^>]*\bhref=/i);
    expect(html).not.toMatch(/<img[^>]*\bsrc=/i);
    // The data: one timeline point per booted phone, ending at 20; the phases; the table row.
    const timeline = JSON.parse(/const timeline = (.*);\n/.exec(html)![1]!) as {
      label: string;
      data: { x: number; y: number }[];
    }[];
    expect(timeline.map((t) => t.label)).toEqual(['builtin']);
    expect(timeline[0]!.data.map((p) => p.y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(JSON.parse(/const phases = (.*);\n/.exec(html)![1]!)).toEqual(PHASES);
    expect(html).toMatch(/<tr><td>builtin<\/td><td>20<\/td><td>20<\/td><td>0<\/td>/);
    expect(html).toContain('bootwire storm --no-progress --phones 20 --image-size 256k --report');
  });
});

describe('bootwire storm --server URL --dhcp none', () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve(['--root', root, '--tftp', '127.0.0.1:0'], ['tftp']);
  });
  afterAll(async () => served?.stop());

  it('against a bootwire serve the test started: every phone boots from it', async () => {
    const url = `tftp://127.0.0.1:${served.ports.tftp}/`;
    const r = await stormCli(['--phones', '40', '--server', url, '--dhcp', 'none', '--root', root, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json as StormJson;
    expectClean40(j);
    expect(j.server).toBe(url);
    expect(Object.keys(j.phases)).toEqual(['script', 'image', 'settings']); // no DHCP
    expect(j.bytesByProtocol).toEqual({ tftp: bytes40 });
    // Another server's CPU is not this storm's to measure.
    expect(j).not.toHaveProperty('serverCpuSeconds');
  });
});

/** A TFTP "server" that records each request and answers ERROR 1, as for a missing file. */
async function recordingTftp(): Promise<{ port: number; requests: Buffer[]; close(): Promise<void> }> {
  const s = dgram.createSocket('udp4');
  const requests: Buffer[] = [];
  s.on('message', (m, from) => {
    requests.push(m);
    s.send(Buffer.concat([Buffer.from([0, 5, 0, 1]), Buffer.from('File not found\0')]), from.port, from.address);
  });
  await bindUdp(s, 0, '127.0.0.1');
  return { port: s.address().port, requests, close: () => new Promise<void>((r) => s.close(() => r())) };
}

describe('the TFTP options the phones ask for', () => {
  const rrq = (file: string, ...opts: string[]) =>
    Buffer.concat([Buffer.from([0, 1]), Buffer.from([file, 'octet', ...opts, ''].join('\0'), 'latin1')]);

  it.for<[string, string[], Buffer]>([
    // A 4610 asks for no option at all (its profile), …
    ['none by default', [], rrq('46xxupgrade.scr')],
    // … and with the flags every request carries both.
    [
      '--client-blksize 1428 --client-windowsize 16',
      ['--client-blksize', '1428', '--client-windowsize', '16'],
      rrq('46xxupgrade.scr', 'blksize', '1428', 'windowsize', '16'),
    ],
  ])('%s', async ([, flags, expected]) => {
    const stub = await recordingTftp();
    try {
      const r = await stormCli([
        '--phones',
        '1',
        '--mix',
        '4610=100%',
        '--server',
        `tftp://127.0.0.1:${stub.port}/`,
        '--dhcp',
        'none',
        '--root',
        root,
        ...flags,
        '--json',
      ]);
      // The server said "File not found": the phone fails at once (no retries), the storm exits 1.
      expect(r.code, r.stderr).toBe(1);
      const j = r.json as StormJson;
      expect([j.phones, j.booted, j.failed]).toEqual([1, 0, 1]);
      expect(j.failures).toEqual({ 'script: script 46xxupgrade.scr: server error N: File not found': 1 });
      expect(stub.requests).toEqual([expected]);
    } finally {
      await stub.close();
    }
  });
});

describe('usage errors: exit 2, one line on stderr, nothing on stdout', () => {
  it.for<[string, string[], string]>([
    ['--mix unknown model', ['--mix', '4610=50%,9999=50%'], 'bootwire: --mix: unknown model "9999"'],
    ['--mix not 100%', ['--mix', '4610=50%,9608=30%'], 'bootwire: --mix: the percentages add up to 80%, not 100%'],
    ['--mix twice', ['--mix', '4610=50%,4610=50%'], 'bootwire: --mix: 4610 is given twice'],
    ['--mix empty', ['--mix', ','], 'bootwire: --mix is empty: give MODEL=SHARE,… such as 4610=30%,9608=70%'],
    ['--loss 2', ['--loss', '2'], 'bootwire: --loss must be a probability such as 0.05 or 5%, got "2"'],
    [
      '--duplicate 101%',
      ['--duplicate', '101%'],
      'bootwire: --duplicate must be a probability such as 0.05 or 5%, got "101%"',
    ],
    [
      '--compare foo',
      ['--compare', 'tftpd-hpa,foo'],
      'bootwire: --compare: "foo" is not one of tftpd-hpa, atftpd, dnsmasq',
    ],
    [
      '--server gopher://x',
      ['--server', 'gopher://x', '--dhcp', 'none'],
      'bootwire: --server must be builtin or a tftp://, http://, https:// or ftp:// URL, got "gopher://x"',
    ],
    [
      "--server URL with bootwire's DHCP",
      ['--server', 'tftp://127.0.0.1:69/'],
      'bootwire: --server URL measures another file server: give --dhcp none (or the DHCP server as HOST:PORT)',
    ],
    ['--dhcp not HOST:PORT', ['--dhcp', '127.0.0.1:99999'], 'bootwire: --dhcp: bad port "99999"'],
    ['--phones 0', ['--phones', '0'], 'bootwire: --phones must be an integer in 1..100000, got "0"'],
    [
      '--image-size 0',
      ['--image-size', '0'],
      'bootwire: --image-size: "0" is not a size from 1 to 256M (such as 8M or 512k)',
    ],
    ['--protocols smtp', ['--protocols', 'tftp,smtp'], 'bootwire: --protocols: "smtp" is not tftp, http, https or ftp'],
    [
      '--client-blksize 4',
      ['--client-blksize', '4'],
      'bootwire: --client-blksize must be an integer in 8..65464, got "4"',
    ],
  ])('%s', async ([, args, message]) => {
    const r = await stormCli(args, { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([message]);
  });
});
