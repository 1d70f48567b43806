/**
 * Every model boots against `bootwire serve` (DHCP, TFTP and HTTP on loopback, ephemeral ports) with
 * the example root of `bootwire init`: the phases in the model's order and protocols, the image counted
 * byte for byte, and a second boot with the same --state that downloads no image.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootCli,
  IMAGE_FILE_BYTES,
  initRoot,
  PHONES,
  readState,
  relayPort,
  scratch,
  type Site,
  sip1200User,
  startSite,
  steps,
  writeConfig,
} from './helpers.js';

let dir: string;
let root: string;
let site: Site;
let stateDir: string;

beforeAll(async () => {
  dir = await scratch('bw-boot-serve-');
  root = await initRoot(dir);
  stateDir = path.join(dir, 'state');
  const relay = await relayPort();
  site = await startSite(await writeConfig(dir, root, relay), relay);
});
afterAll(async () => {
  await site?.served.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

type Model = (typeof PHONES)[number]['model'];

/** What each model fetches on its first boot (after DHCP), as `phase protocol file`. */
const FIRST: Record<Model, (mac: string) => string[]> = {
  '4610': () => [
    'script http 46xxupgrade.scr',
    'image http a10d01b2_3.bin',
    'script http 46xxupgrade.scr',
    'settings http 46xxsettings.txt',
  ],
  '4620': () => [
    'script http 46xxupgrade.scr',
    'image http a20d01b2_3.bin',
    'script http 46xxupgrade.scr',
    'settings http 46xxsettings.txt',
  ],
  '1608': () => [
    'script http 16xxupgrade.txt',
    'image http ha16xxua1_5_0.bin',
    'script http 16xxupgrade.txt',
    'settings http 46xxsettings.txt',
  ],
  '9608': () => [
    'script http 96x1Supgrade.txt',
    'image http S96x1_SALBR7_1_2_0.tar',
    'script http 96x1Supgrade.txt',
    'settings http 46xxsettings.txt',
  ],
  '9611': () => [
    'script http 96x1Supgrade.txt',
    'image http S96x1_SALBR7_1_2_0.tar',
    'script http 96x1Supgrade.txt',
    'settings http 46xxsettings.txt',
  ],
  // The example root has no SIP<MAC>.cfg: the 1200 asks, gets "not found", and goes on.
  '1220': (mac) => [
    'script tftp 1220SIP.cfg',
    'image tftp SIP12x004.04.09.00.bin',
    'settings tftp 12x0_device.cfg',
    `settings tftp ${sip1200User(mac)} FAILED`,
  ],
  '1230': (mac) => [
    'script tftp 1230SIP.cfg',
    'image tftp SIP12x004.04.09.00.bin',
    'settings tftp 12x0_device.cfg',
    `settings tftp ${sip1200User(mac)} FAILED`,
  ],
  '420HD': () => ['image tftp 420HD.img', 'settings tftp 420HD.cfg'],
  '440HD': () => ['image tftp 440HD.img', 'settings tftp 440HD.cfg'],
};

/** The second boot: the same without the image (the 400HD reads the image header, then stops). */
const SECOND: Record<Model, (mac: string) => string[]> = {
  '4610': () => ['script http 46xxupgrade.scr', 'settings http 46xxsettings.txt'],
  '4620': () => ['script http 46xxupgrade.scr', 'settings http 46xxsettings.txt'],
  '1608': () => ['script http 16xxupgrade.txt', 'settings http 46xxsettings.txt'],
  '9608': () => ['script http 96x1Supgrade.txt', 'settings http 46xxsettings.txt'],
  '9611': () => ['script http 96x1Supgrade.txt', 'settings http 46xxsettings.txt'],
  '1220': (mac) => [
    'script tftp 1220SIP.cfg',
    'settings tftp 12x0_device.cfg',
    `settings tftp ${sip1200User(mac)} FAILED`,
  ],
  '1230': (mac) => [
    'script tftp 1230SIP.cfg',
    'settings tftp 12x0_device.cfg',
    `settings tftp ${sip1200User(mac)} FAILED`,
  ],
  '420HD': () => ['image tftp 420HD.img', 'settings tftp 420HD.cfg'],
  '440HD': () => ['image tftp 440HD.img', 'settings tftp 440HD.cfg'],
};

const BURNT: Record<Model, { name: string; version: string; secondReason: string }> = {
  '4610': { name: 'a10d01b2_3.bin', version: '2.3', secondReason: 'already runs a10d01b2_3.bin' },
  '4620': { name: 'a20d01b2_3.bin', version: '2.3', secondReason: 'already runs a20d01b2_3.bin' },
  '1608': { name: 'ha16xxua1_5_0.bin', version: '1.5.0', secondReason: 'already runs version 1.5.0' },
  '9608': { name: 'S96x1_SALBR7_1_2_0.tar', version: '7.1.2.0', secondReason: 'already runs S96x1_SALBR7_1_2_0.tar' },
  '9611': { name: 'S96x1_SALBR7_1_2_0.tar', version: '7.1.2.0', secondReason: 'already runs S96x1_SALBR7_1_2_0.tar' },
  '1220': {
    name: 'SIP12x004.04.09.00.bin',
    version: 'SIP12x004.04.09.00',
    secondReason: 'VERSION SIP12x004.04.09.00 is not higher than the stored SIP12x004.04.09.00 (AUTO)',
  },
  '1230': {
    name: 'SIP12x004.04.09.00.bin',
    version: 'SIP12x004.04.09.00',
    secondReason: 'VERSION SIP12x004.04.09.00 is not higher than the stored SIP12x004.04.09.00 (AUTO)',
  },
  '420HD': { name: '420HD.img', version: '2.2.8.64', secondReason: 'already runs version 2.2.8.64' },
  '440HD': { name: '440HD.img', version: '2.2.8.64', secondReason: 'already runs version 2.2.8.64' },
};

const FIRST_REASON: Record<Model, string> = {
  '4610': 'runs no application yet',
  '4620': 'runs no application yet',
  '1608': 'runs no known version yet',
  '9608': 'runs no application yet',
  '9611': 'runs no application yet',
  '1220': 'no stored version yet',
  '1230': 'no stored version yet',
  '420HD': 'runs no known version yet',
  '440HD': 'runs no known version yet',
};

describe('bootwire boot against bootwire serve (DHCP + TFTP + HTTP on loopback)', () => {
  it.for(PHONES)(
    '$model boots, then boots again without downloading its image',
    { timeout: 60_000 },
    async ({ model, mac }) => {
      const first = await bootCli(['--model', model, '--mac', mac, '--state', stateDir, ...site.bootArgs]);
      const r = first.report!;
      expect(first.code, `${first.stdout}\n${first.stderr}\n${site.served.output().slice(-2000)}`).toBe(0);
      expect(r.ok).toBe(true);
      expect(r.error).toBeUndefined();
      expect([r.model, r.mac]).toEqual([model, mac]);
      expect(steps(r)).toEqual(['dhcp dhcp -', ...FIRST[model](mac)]);
      // The lease is in the example pool, and the DHCP phase names it.
      expect(r.address).toMatch(/^10\.77\.0\.(1[0-9][0-9])$/);
      expect(r.phases[0]!.file).toBe(r.address);
      expect(r.imageDownloaded).toBe(true);
      expect(r.imageDecision).toBe(FIRST_REASON[model]);
      const image = r.phases.find((p) => p.phase === 'image')!;
      expect(image.bytes).toBe(IMAGE_FILE_BYTES);
      expect(image.bytes).toBe((await fs.stat(path.join(root, BURNT[model].name))).size);
      // Scripts and settings are counted exactly too.
      for (const p of r.phases.filter((x) => x.phase !== 'dhcp' && x.phase !== 'image' && x.ok)) {
        expect(p.bytes, p.file).toBe((await fs.stat(path.join(root, p.file))).size);
      }
      expect(await readState(stateDir, mac)).toEqual({
        address: r.address,
        image: { name: BURNT[model].name, version: BURNT[model].version },
      });

      const second = await bootCli(['--model', model, '--mac', mac, '--state', stateDir, ...site.bootArgs]);
      const s = second.report!;
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(s.ok).toBe(true);
      expect(s.imageDownloaded).toBe(false);
      expect(s.imageDecision).toBe(BURNT[model].secondReason);
      expect(steps(s)).toEqual(['dhcp dhcp -', ...SECOND[model](mac)]);
      // The same address again (the phone asks for it; the server keeps it).
      expect(s.address).toBe(r.address);
      if (model.endsWith('HD')) {
        // The 400HD read the header (at least its 128 bytes) and stopped well before the end.
        const head = s.phases.find((p) => p.phase === 'image')!;
        expect(head.bytes).toBeGreaterThanOrEqual(128);
        expect(head.bytes).toBeLessThan(IMAGE_FILE_BYTES);
      }
      expect(await readState(stateDir, mac)).toEqual({
        address: r.address,
        image: { name: BURNT[model].name, version: BURNT[model].version },
      });
    },
  );

  it('--json prints one object of the documented shape; the timeline without --json', async () => {
    const mac = '00:04:0d:b0:01:01';
    const r = await bootCli(['--model', '9608', '--mac', mac, ...site.bootArgs]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const o = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(o).toMatchObject({ model: '9608', mac, ok: true, imageDownloaded: true });
    expect(o).not.toHaveProperty('error');
    const phases = o['phases'] as Record<string, unknown>[];
    expect(phases.length).toBe(5);
    for (const p of phases) {
      expect(typeof p['phase']).toBe('string');
      expect(typeof p['file']).toBe('string');
      expect(typeof p['protocol']).toBe('string');
      expect(Number.isInteger(p['bytes'])).toBe(true);
      expect(typeof p['ms']).toBe('number');
      expect(p['ms'] as number).toBeGreaterThanOrEqual(0);
    }
    expect(phases.map((p) => p['phase'])).toEqual(['dhcp', 'script', 'image', 'script', 'settings']);

    // A failed boot: ok false, an error string, exit code 1. (The 9608's HTTP server answers 404 for a missing script.)
    await fs.rename(path.join(root, '96x1Supgrade.txt'), path.join(root, '96x1Supgrade.txt.off'));
    try {
      const bad = await bootCli(['--model', '9611', '--mac', '00:04:0d:b0:01:02', ...site.bootArgs]);
      expect(bad.code).toBe(1);
      const b = JSON.parse(bad.stdout) as Record<string, unknown>;
      expect(b).toMatchObject({ model: '9611', ok: false, imageDownloaded: false, failedIn: 'script' });
      expect(b['error']).toBe('script 96x1Supgrade.txt: http://10.77.0.1/96x1Supgrade.txt: HTTP 404');
      expect((b['phases'] as { protocol: string; ok: boolean }[]).map((p) => [p.protocol, p.ok])).toEqual([
        ['dhcp', true],
        ['http', false],
      ]);
    } finally {
      await fs.rename(path.join(root, '96x1Supgrade.txt.off'), path.join(root, '96x1Supgrade.txt'));
    }

    const text = await bootCli(['--model', '440HD', '--mac', '00:90:8f:b0:01:03', ...site.bootArgs], { json: false });
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^440HD 00:90:8f:b0:01:03 \(10\.77\.0\.1[0-9]{2}\)$/);
    expect(lines[1]).toMatch(/^ +\d+ ms {2}dhcp +lease 10\.77\.0\.1[0-9]{2} +dhcp +0 B +\d+ ms$/);
    expect(lines[2]).toMatch(
      new RegExp(`^ +\\d+ ms  image +tftp://10\\.77\\.0\\.1/440HD\\.img +tftp +${IMAGE_FILE_BYTES} B +\\d+ ms$`),
    );
    expect(lines[3]).toMatch(/^ +\d+ ms {2}settings tftp:\/\/10\.77\.0\.1\/440HD\.cfg +tftp +281 B +\d+ ms$/);
    expect(lines[4]).toBe('  image: downloaded (runs no known version yet)');
    expect(lines[5]).toMatch(/^ {2}booted in \d+ ms$/);
    expect(lines).toHaveLength(6);
  });
});
