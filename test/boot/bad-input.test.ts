/**
 * `bootwire boot` with bad input: a usage error exits 2 with one line on stderr and nothing on stdout;
 * a DHCP server that never answers fails the boot (exit 1) once the relay client's retries are spent
 * (--dhcp-timeout-ms keeps that short: 50 ms doubling over 4 retries is 1.55 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { bootCli } from './helpers.js';
import { bindUdp } from '../../packages/core/src/udp.js';

/** A UDP socket that receives and never answers: a DHCP server that is there but silent. */
let silent: dgram.Socket;
let silentPort: number;
let received = 0;

beforeAll(async () => {
  silent = dgram.createSocket('udp4');
  silent.on('message', () => received++);
  await bindUdp(silent, 0, '127.0.0.1');
  silentPort = silent.address().port;
});
afterAll(() => silent?.close());

const USAGE: [string, string[], RegExp][] = [
  [
    '--mac garbage',
    ['--model', '9608', '--mac', 'zz:00:11'],
    /^bootwire: --mac "zz:00:11": not a MAC address such as 00:04:0d:aa:bb:01$/,
  ],
  [
    '--mac with 5 bytes',
    ['--model', '9608', '--mac', '00:04:0d:aa:bb'],
    /^bootwire: --mac "00:04:0d:aa:bb": not a MAC address/,
  ],
  [
    '--model unknown',
    ['--model', '9999', '--mac', '00:04:0d:aa:bb:01'],
    /^bootwire: --model "9999": not a known model \(4610, 4620, 1608, 9608, 9611, 9620, 9640, 1220, 1230, 420HD, 440HD\)$/,
  ],
  ['--model missing', ['--mac', '00:04:0d:aa:bb:01'], /required option '--model <model>' not specified/],
  [
    '--redirect without a target',
    ['--model', '9608', '--mac', '00:04:0d:aa:bb:01', '--redirect', 'tftp://10.77.0.1'],
    /^bootwire: --redirect "tftp:\/\/10\.77\.0\.1": expected PROTO:\/\/HOST\[:PORT\]=HOST:PORT/,
  ],
  [
    '--redirect of another protocol',
    ['--model', '9608', '--mac', '00:04:0d:aa:bb:01', '--redirect', 'sftp://10.77.0.1=127.0.0.1:22'],
    /^bootwire: --redirect "sftp:\/\/10\.77\.0\.1=127\.0\.0\.1:22": expected/,
  ],
  [
    '--redirect to port 0',
    ['--model', '9608', '--mac', '00:04:0d:aa:bb:01', '--redirect', 'http://10.77.0.1=127.0.0.1:0'],
    /^bootwire: --redirect http:\/\/10\.77\.0\.1=127\.0\.0\.1:0: ports are 1\.\.65535$/,
  ],
  [
    '--dhcp none without --server',
    ['--model', '9608', '--mac', '00:04:0d:aa:bb:01', '--dhcp', 'none'],
    /^bootwire: --dhcp none needs --server URL/,
  ],
  [
    '--dhcp not HOST:PORT',
    ['--model', '9608', '--mac', '00:04:0d:aa:bb:01', '--dhcp', '127.0.0.1:99999'],
    /^bootwire: --dhcp: bad port "99999"$/,
  ],
  [
    '--dhcp-timeout-ms 0',
    ['--model', '9608', '--mac', '00:04:0d:aa:bb:01', '--dhcp-timeout-ms', '0'],
    /^bootwire: --dhcp-timeout-ms must be an integer in 10\.\.60000, got "0"$/,
  ],
  [
    '--server not a URL',
    ['--model', '9608', '--mac', '00:04:0d:aa:bb:01', '--server', 'files here'],
    /^bootwire: --server "files here" is not a URL such as tftp:\/\/127\.0\.0\.1:6969\/ or http:\/\/127\.0\.0\.1:8080\/$/,
  ],
  [
    '--server gopher://',
    ['--model', '4610', '--mac', '00:04:0d:aa:bb:01', '--server', 'gopher://127.0.0.1/'],
    /^bootwire: --server gopher:\/\/127\.0\.0\.1\/: expected tftp:\/\/, http:\/\/, https:\/\/ or ftp:\/\/$/,
  ],
  [
    '--server ftp:// for a 4610 (no FTP)',
    ['--model', '4610', '--mac', '00:04:0d:aa:bb:01', '--server', 'ftp://127.0.0.1/'],
    /^bootwire: --server ftp:\/\/127\.0\.0\.1\/: the 4610 does not fetch files over FTP \(it uses https, http, tftp\)$/,
  ],
  [
    '--server tftp:// for a 9608 (no TFTP)',
    ['--model', '9608', '--mac', '00:04:0d:aa:bb:01', '--server', 'tftp://127.0.0.1:6969/'],
    /^bootwire: --server tftp:\/\/127\.0\.0\.1:6969\/: the 9608 does not fetch files over TFTP \(it uses https, http\)$/,
  ],
  [
    '--server a bad 400HD URL',
    ['--model', '440HD', '--mac', '00:90:8f:aa:bb:01', '--server', 'gopher://127.0.0.1/x.img'],
    /^bootwire: --server gopher:\/\/127\.0\.0\.1\/x\.img: unsupported protocol "gopher"/,
  ],
];

describe('bootwire boot: bad input', () => {
  it.for(USAGE)('%s → exit 2, one line', async ([, args, message]) => {
    const r = await bootCli(args, { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });

  it('a DHCP server that never answers: exit 1, the DHCP error, after the retries', async () => {
    received = 0;
    const r = await bootCli(
      [
        '--model',
        '9608',
        '--mac',
        '00:04:0d:aa:bb:02',
        '--dhcp',
        `127.0.0.1:${silentPort}`,
        '--relay',
        '127.0.0.1:0',
        '--dhcp-timeout-ms',
        '50',
      ],
      { timeoutMs: 20_000 },
    );
    expect(r.code, r.stderr).toBe(1);
    const rep = r.report!;
    expect([rep.ok, rep.failedIn, rep.imageDownloaded]).toEqual([false, 'dhcp', false]);
    expect(rep.error).toBe('DHCP: no OFFER after 4 retries');
    expect(rep.phases).toHaveLength(1);
    expect(rep.phases[0]).toMatchObject({
      phase: 'dhcp',
      protocol: 'dhcp',
      ok: false,
      file: '',
      error: 'no OFFER after 4 retries',
    });
    // One DISCOVER and 4 retransmissions reached the silent server.
    expect(received).toBe(5);
  });
});
