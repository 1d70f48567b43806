/**
 * `bootwire storm --protocols ftp` keeps every phone on FTP (bootwire's read-only FTP server on
 * loopback), and a storm over a root whose settings set BRURI backs the 1600 and 96xx phones up.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupData } from '../../packages/bootwire/src/boot/backup.js';
import { writeExampleRoot } from '../../packages/bootwire/src/phones/init-root.js';
import { findModel } from '../../packages/bootwire/src/phones/models.js';
import { DEFAULT_40, fleetBytes, initRoot, modelPhones, scratch, type StormJson, stormCli } from './helpers.js';

let dir: string;
let root: string;
let bytes40: number;

beforeAll(async () => {
  dir = await scratch('bw-storm-ftp-');
  root = await initRoot(dir, '256k');
  bytes40 = fleetBytes(root, DEFAULT_40);
});
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('bootwire storm', () => {
  it('--protocols ftp: 40 phones, every file over FTP', { timeout: 120_000 }, async () => {
    const r = await stormCli(['--phones', '40', '--image-size', '256k', '--protocols', 'ftp', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json as StormJson;
    expect([j.phones, j.booted, j.failed, j.imagesDownloaded]).toEqual([40, 40, 0, 40]);
    expect(j.failures).toEqual({});
    expect(modelPhones(j)).toEqual(DEFAULT_40);
    expect(j.bytesByProtocol).toEqual({ ftp: bytes40 });
    console.log(`storm 40 phones over FTP: wall ${j.wallSeconds} s, server CPU ${j.serverCpuSeconds} s`);
  });

  it('--dhcp none --server ftp://…: the phones are pointed at FTP directly', { timeout: 120_000 }, async () => {
    const r = await stormCli([
      '--phones',
      '10',
      '--image-size',
      '256k',
      '--protocols',
      'ftp',
      '--dhcp',
      'none',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json as StormJson;
    expect(j.booted).toBe(10);
    expect(Object.keys(j.bytesByProtocol)).toEqual(['ftp']);
  });

  it(
    'a root with BRURI: the 1600 and 96xx phones back up, acknowledged byte for byte',
    { timeout: 120_000 },
    async () => {
      const withBackup = path.join(dir, 'brroot');
      await writeExampleRoot(withBackup, { imageSize: 256 * 1024, backupUri: 'http://10.77.0.1/backup/' });
      const r = await stormCli(['--phones', '40', '--root', withBackup, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const j = r.json as StormJson;
      expect(j.booted).toBe(40);
      expect(Object.keys(j.phases)).toEqual(['dhcp', 'script', 'image', 'settings', 'backup']);
      // Every 1608 and 9608 PUT its data file and got a 2xx (a refused PUT counts no bytes).
      const puts =
        DEFAULT_40['1608'] * backupData(findModel('1608')!, '00:04:0d:00:00:01', 1).length +
        DEFAULT_40['9608'] * backupData(findModel('9608')!, '00:04:0d:00:00:01', 1).length;
      expect(j.bytes).toBe(fleetBytes(withBackup, DEFAULT_40) + puts);
    },
  );
});
