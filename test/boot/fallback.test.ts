/**
 * Which file server a phone tries next. One `bootwire serve` (DHCP, TFTP, HTTP); a server is "down"
 * when --redirect sends the phone to a loopback TCP port nobody listens on. DHCP classes keyed on the
 * test phones' MACs give each case its option 176/242.
 *
 * - 4600 (HTTPS, HTTP, TFTP): HTTP down → TFTP; HTTP up → never TFTP, even when HTTP then lacks the
 *   image (its manual: "if successful, will not attempt to access the TFTP server").
 * - 96xx (HTTPS, HTTP; no TFTP): HTTPS down → HTTP; HTTP down → the boot fails, a TFTPSRVR is ignored.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootCli, initRoot, relayPort, scratch, type Site, startSite, steps, writeConfig } from './helpers.js';
import { listenTcp } from '../../packages/core/src/udp.js';

const MAC = {
  both: '00:04:0d:e0:00:01',
  webOnly: '00:04:0d:e0:00:02',
  tlsAndHttp: '00:04:0d:e0:00:03',
  httpAndTftp96: '00:04:0d:e0:00:04',
};

let dir: string;
let root: string;
let site: Site;
/** A loopback TCP port nobody listens on: connections are refused at once. */
let closed: number;

async function closedTcpPort(): Promise<number> {
  const s = net.createServer();
  await listenTcp(s, { port: 0, host: '127.0.0.1' });
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  dir = await scratch('bw-boot-fallback-');
  root = await initRoot(dir);
  // HTTPDIR=web: a directory with the script and settings but no image.
  await fs.mkdir(path.join(root, 'web'));
  for (const f of ['46xxupgrade.scr', '46xxsettings.txt'])
    await fs.copyFile(path.join(root, f), path.join(root, 'web', f));
  closed = await closedTcpPort();
  const relay = await relayPort();
  const config = await writeConfig(dir, root, relay, (c) => {
    const only = (name: string, mac: string, options: Record<string, string>) => ({
      name,
      match: { macPrefix: mac },
      options,
    });
    c.dhcp.classes.unshift(
      only('4600-both', MAC.both, { '176': 'MCIPADD=10.77.0.5,HTTPSRVR=10.77.0.1,TFTPSRVR=10.77.0.1' }),
      only('4600-web-only', MAC.webOnly, {
        '176': 'MCIPADD=10.77.0.5,HTTPDIR=web,HTTPSRVR=10.77.0.1,TFTPSRVR=10.77.0.1',
      }),
      only('96xx-tls-http', MAC.tlsAndHttp, { '242': 'TLSSRVR=10.77.0.1,HTTPSRVR=10.77.0.1' }),
      only('96xx-http-tftp', MAC.httpAndTftp96, { '242': 'HTTPSRVR=10.77.0.1,TFTPSRVR=10.77.0.1' }),
    );
  });
  site = await startSite(config, relay);
});
afterAll(async () => {
  await site?.served.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** `--redirect` for a server that is down; placed first, it wins over the site's redirect. */
const down = (proto: 'http' | 'https') => ['--redirect', `${proto}://10.77.0.1=127.0.0.1:${closed}`];

describe('file server fallback', () => {
  it('4610: HTTP down, TFTP offered → the script over TFTP, and everything after it', async () => {
    const r = await bootCli(['--model', '4610', '--mac', MAC.both, ...down('http'), ...site.bootArgs]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(steps(r.report!)).toEqual([
      'dhcp dhcp -',
      'script http 46xxupgrade.scr FAILED',
      'script tftp 46xxupgrade.scr',
      'image tftp a10d01b2_3.bin',
      'script tftp 46xxupgrade.scr',
      'settings tftp 46xxsettings.txt',
    ]);
    expect(r.report!.phases[1]!.error).toMatch(/^http:\/\/10\.77\.0\.1\/46xxupgrade\.scr: ECONNREFUSED/);
  });

  it('4610: HTTP and TFTP both offered and up → HTTP only', async () => {
    const r = await bootCli([
      '--model',
      '4610',
      '--mac',
      MAC.both,
      '--state',
      path.join(dir, 'st-both'),
      ...site.bootArgs,
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.report!.phases.map((p) => p.protocol)).toEqual(['dhcp', 'http', 'http', 'http', 'http']);
  });

  it('4610: after HTTP worked, an image HTTP lacks is not looked for over TFTP (which has it)', async () => {
    const r = await bootCli(['--model', '4610', '--mac', MAC.webOnly, ...site.bootArgs]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(steps(r.report!)).toEqual([
      'dhcp dhcp -',
      'script http 46xxupgrade.scr',
      'image http a10d01b2_3.bin FAILED',
    ]);
    expect(r.report!.phases[1]!.url).toBe('http://10.77.0.1/web/46xxupgrade.scr');
    expect(r.report!.failedIn).toBe('image');
    expect(r.report!.error).toBe('image a10d01b2_3.bin: http://10.77.0.1/web/a10d01b2_3.bin: HTTP 404');
  });

  it('9608: HTTPS down → HTTP', async () => {
    const r = await bootCli(['--model', '9608', '--mac', MAC.tlsAndHttp, ...down('https'), ...site.bootArgs]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(steps(r.report!)).toEqual([
      'dhcp dhcp -',
      'script https 96x1Supgrade.txt FAILED',
      'script http 96x1Supgrade.txt',
      'image http S96x1_SALBR7_1_2_0.tar',
      'script http 96x1Supgrade.txt',
      'settings http 46xxsettings.txt',
    ]);
  });

  it('9608: HTTP down → fails; the TFTPSRVR in option 242 is not tried (the 96xx has no TFTP)', async () => {
    const r = await bootCli(['--model', '9608', '--mac', MAC.httpAndTftp96, ...down('http'), ...site.bootArgs]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(steps(r.report!)).toEqual(['dhcp dhcp -', 'script http 96x1Supgrade.txt FAILED']);
    expect(r.report!.failedIn).toBe('script');
    expect(r.report!.error).toMatch(
      /^script 96x1Supgrade\.txt: http:\/\/10\.77\.0\.1\/96x1Supgrade\.txt: ECONNREFUSED/,
    );
  });
});
