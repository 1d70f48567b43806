/**
 * HTTPS: `bootwire serve --https` with a self-signed certificate made by the test (openssl req -x509).
 * A 96xx pointed at it by --server https://… or by option 242 TLSSRVR boots over HTTPS only. Phones
 * have no trust store for a site's own certificate, so bootPhone accepts any certificate by default;
 * given FetchContext.ca it checks the chain, and a wrong CA stops the boot at the first file.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootPhone } from '../../packages/bootwire/src/boot/boot-phone.js';
import { MemoryStateStore } from '../../packages/bootwire/src/boot/state.js';
import { findModel } from '../../packages/bootwire/src/phones/models.js';
import { needBinary } from '../helpers/peers.js';
import { selfSigned } from '../http/helpers.js';
import {
  bootCli,
  classOptions,
  IMAGE_FILE_BYTES,
  initRoot,
  relayPort,
  scratch,
  type Site,
  startSite,
  steps,
  writeConfig,
} from './helpers.js';

const OPENSSL = needBinary('openssl', 'openssl');

let dir: string;
let root: string;
let site: Site | undefined;
let pem: { cert: string; key: string };
/** Another self-signed certificate: a CA that did not sign the server's. */
let otherCa: Buffer;

beforeAll(async () => {
  dir = await scratch('bw-boot-https-');
  root = await initRoot(dir);
  if (OPENSSL.missing) return; // each test skips, or fails under CI, through use()
  pem = await selfSigned(OPENSSL.path!, dir);
  await fs.mkdir(path.join(dir, 'other'));
  otherCa = await fs.readFile((await selfSigned(OPENSSL.path!, path.join(dir, 'other'))).cert);
  const relay = await relayPort();
  // The 96xx class names a TLS server (port 411 by default; --redirect maps it) and no HTTP server.
  const config = await writeConfig(dir, root, relay, (c) => {
    classOptions(c, 'avaya-9600-sip')['242'] = 'TLSSRVR=10.77.0.1,SIP_CONTROLLER_LIST=10.77.0.5:5061;transport=tls';
  });
  site = await startSite(
    config,
    relay,
    ['--https', '127.0.0.1:0', '--cert', pem.cert, '--key', pem.key],
    ['tftp', 'dhcp', 'https'],
  );
});
afterAll(async () => {
  await site?.served.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const httpsUrl = () => `https://127.0.0.1:${site!.served.ports.https}/`;
const ALL_HTTPS = [
  'script https 96x1Supgrade.txt',
  'image https S96x1_SALBR7_1_2_0.tar',
  'script https 96x1Supgrade.txt',
  'settings https 46xxsettings.txt',
];

describe('bootwire boot over HTTPS (self-signed certificate)', () => {
  it('a 9608 given --server https://… boots over HTTPS without knowing the certificate', async (ctx) => {
    OPENSSL.use(ctx);
    const r = await bootCli([
      '--model',
      '9608',
      '--mac',
      '00:04:0d:d0:00:01',
      '--dhcp',
      'none',
      '--server',
      httpsUrl(),
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(steps(r.report!)).toEqual(ALL_HTTPS);
    expect(r.report!.phases.find((p) => p.phase === 'image')!.bytes).toBe(IMAGE_FILE_BYTES);
    expect(r.report!.phases[0]!.url).toBe(`${httpsUrl()}96x1Supgrade.txt`);
  });

  it('a 9611 whose option 242 names TLSSRVR boots over HTTPS (port 411, redirected)', async (ctx) => {
    OPENSSL.use(ctx);
    const r = await bootCli(['--model', '9611', '--mac', '00:04:0d:d0:00:02', ...site!.bootArgs]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(steps(r.report!)).toEqual(['dhcp dhcp -', ...ALL_HTTPS]);
    expect(r.report!.phases.slice(1).map((p) => p.url)).toEqual([
      'https://10.77.0.1:411/96x1Supgrade.txt',
      'https://10.77.0.1:411/S96x1_SALBR7_1_2_0.tar',
      'https://10.77.0.1:411/96x1Supgrade.txt',
      'https://10.77.0.1:411/46xxsettings.txt',
    ]);
  });

  it('FetchContext.ca: the right CA boots, a wrong CA is refused at the first file', async (ctx) => {
    OPENSSL.use(ctx);
    const model = findModel('9608')!;
    const good = await bootPhone({
      model,
      mac: '00:04:0d:d0:00:03',
      server: httpsUrl(),
      state: new MemoryStateStore(),
      fetch: { ca: await fs.readFile(pem.cert) },
    });
    expect(good.error).toBeUndefined();
    expect(good.ok).toBe(true);
    expect(good.phases.map((p) => p.protocol)).toEqual(['https', 'https', 'https', 'https']);

    const state = new MemoryStateStore();
    const bad = await bootPhone({ model, mac: '00:04:0d:d0:00:04', server: httpsUrl(), state, fetch: { ca: otherCa } });
    expect(bad.ok).toBe(false);
    expect(bad.failedIn).toBe('script');
    expect(bad.error).toMatch(
      /^script 96x1Supgrade\.txt: https:\/\/127\.0\.0\.1:\d+\/96x1Supgrade\.txt: .*(self[- ]signed|unable to verify|certificate)/i,
    );
    expect(bad.phases).toHaveLength(1);
    expect(bad.phases[0]).toMatchObject({ phase: 'script', protocol: 'https', ok: false, bytes: 0 });
    expect(bad.imageDownloaded).toBe(false);
    expect(await state.load('00:04:0d:d0:00:04')).toEqual({});
  });
});
