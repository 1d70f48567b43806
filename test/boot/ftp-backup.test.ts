/**
 * The simulated phones against `bootwire serve` for what issue 16 adds: the 1200 SIP and the 400HD
 * booting over FTP when their provisioning says so, and the 1600 / 96xx backing up their user data
 * (BRURI) after a boot and restoring it on the next one, with and without Basic auth.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupData, phoneExtension } from '../../packages/bootwire/src/boot/backup.js';
import { findModel } from '../../packages/bootwire/src/phones/models.js';
import {
  bootCli,
  classOptions,
  IMAGE_FILE_BYTES,
  initRoot,
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
let ftpSite: Site;
let backupSite: Site;
let authSite: Site;
let open: string;
let locked: string;

beforeAll(async () => {
  dir = await scratch('bw-boot-ftp-');
  root = await initRoot(dir);
  // The 1200's provisioning files send their image over FTP too, with a login of its own
  // (SRV_USER_NAME/SRV_USER_PASS); the settings ask for backups.
  for (const name of ['1220SIP.cfg', '1230SIP.cfg']) {
    const prov = path.join(root, name);
    await fs.writeFile(
      prov,
      (await fs.readFile(prov, 'utf8')).replace(
        'PROTOCOL TFTP',
        'PROTOCOL FTP\nSRV_USER_NAME fw\nSRV_USER_PASS fw-secret',
      ),
    );
  }
  const settings = path.join(root, '46xxsettings.txt');
  await fs.writeFile(settings, `SET BRURI http://10.77.0.1/backup\n${await fs.readFile(settings, 'utf8')}`);
  open = path.join(dir, 'open');
  locked = path.join(dir, 'locked');
  await fs.mkdir(open);
  await fs.mkdir(locked);
  const r1 = await relayPort();
  // No anonymous logins: every file needs the login its URL or [FW] section names.
  const ftpConfig = await writeConfig(dir, root, r1, (c) => {
    classOptions(c, 'avaya-1200-sip')['66'] = 'ftp://prov;prov-pw@10.77.0.1';
    classOptions(c, 'audiocodes-400hd')['160'] = 'ftp://prov:prov-pw@10.77.0.1/<MODEL>.img;<MODEL>.cfg';
    c['ftp'] = {
      listen: '127.0.0.1:0',
      anonymous: false,
      users: [
        { user: 'prov', password: 'prov-pw' },
        { user: 'fw', password: 'fw-secret' },
      ],
    };
  });
  ftpSite = await startSite(ftpConfig, r1, [], ['tftp', 'dhcp', 'ftp']);
  const r2 = await relayPort();
  backupSite = await startSite(await writeConfig(dir, root, r2), r2, [
    '--http',
    '127.0.0.1:0',
    '--backup',
    `/backup/=${open}`,
  ]);
  const r3 = await relayPort();
  authSite = await startSite(await writeConfig(dir, root, r3), r3, [
    '--http',
    '127.0.0.1:0',
    '--backup',
    `/backup/=${locked}`,
    '--backup-user',
    'phone:s3cret',
  ]);
});
afterAll(async () => {
  await ftpSite?.served.stop();
  await backupSite?.served.stop();
  await authSite?.served.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('boots over FTP', () => {
  it('1230 with option 66 ftp://user;pass@ and [FW] PROTOCOL FTP with SRV_USER_NAME: every file over FTP', async () => {
    const mac = '00:17:65:c0:00:07';
    const r = await bootCli(['--model', '1230', '--mac', mac, ...ftpSite.bootArgs]);
    expect(r.code, `${r.stdout}\n${r.stderr}\n${ftpSite.served.output().slice(-2000)}`).toBe(0);
    expect(steps(r.report!)).toEqual([
      'dhcp dhcp -',
      'script ftp 1230SIP.cfg',
      'image ftp SIP12x004.04.09.00.bin',
      'settings ftp 12x0_device.cfg',
      `settings ftp ${sip1200User(mac)} FAILED`, // optional per-phone file, not in the root
    ]);
    const image = r.report!.phases.find((p) => p.phase === 'image')!;
    expect(image.bytes).toBe(IMAGE_FILE_BYTES);
    expect(image.url).toBe('ftp://10.77.0.1/SIP12x004.04.09.00.bin');
    expect(r.report!.phases.at(-1)!.error).toMatch(/550/);
  });

  it('440HD with option 160 ftp://: image and configuration over FTP', async () => {
    const r = await bootCli(['--model', '440HD', '--mac', '00:90:8f:c0:00:09', ...ftpSite.bootArgs]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(steps(r.report!)).toEqual(['dhcp dhcp -', 'image ftp 440HD.img', 'settings ftp 440HD.cfg']);
    expect(r.report!.phases[1]!.bytes).toBe(IMAGE_FILE_BYTES);
  });

  it('--server ftp://HOST:PORT/ for a 1220', async () => {
    const r = await bootCli([
      '--model',
      '1220',
      '--mac',
      '00:17:65:c0:00:06',
      '--dhcp',
      'none',
      '--server',
      `ftp://prov:prov-pw@127.0.0.1:${ftpSite.served.ports.ftp}/`,
    ]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(steps(r.report!).slice(0, 2)).toEqual(['script ftp 1220SIP.cfg', 'image ftp SIP12x004.04.09.00.bin']);
    // Without the login the server refuses it (no anonymous here): the boot fails at once, no retries.
    const anon = await bootCli([
      '--model',
      '1220',
      '--mac',
      '00:17:65:c0:00:16',
      '--dhcp',
      'none',
      '--server',
      `ftp://127.0.0.1:${ftpSite.served.ports.ftp}/`,
    ]);
    expect(anon.code).toBe(1);
    expect(anon.report!.failedIn).toBe('script');
    expect(anon.report!.error).toMatch(/530/);
  });
});

describe('backup and restore (BRURI)', () => {
  it.for([
    {
      model: '1608',
      mac: '00:04:0d:c0:00:03',
      script: '16xxupgrade.txt',
      image: 'ha16xxua1_5_0.bin',
      file: '2003_16xxdata.txt',
    },
    {
      model: '9608',
      mac: '00:04:0d:c0:00:04',
      script: '96x1Supgrade.txt',
      image: 'S96x1_SALBR7_1_2_0.tar',
      file: '2004_96xxdata.txt',
    },
  ])(
    '$model backs up after its boot and restores on the next',
    { timeout: 60_000 },
    async ({ model, mac, script, image, file }) => {
      expect(`${phoneExtension(mac)}_`).toBe(file.slice(0, 5));
      const state = path.join(dir, `state-${model}`);
      const first = await bootCli(['--model', model, '--mac', mac, '--state', state, ...backupSite.bootArgs]);
      expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
      expect(steps(first.report!)).toEqual([
        'dhcp dhcp -',
        `script http ${script}`,
        `image http ${image}`,
        `script http ${script}`,
        'settings http 46xxsettings.txt',
        `backup http ${file}`,
      ]);
      const m = findModel(model)!;
      const v1 = backupData(m, mac, 1);
      expect((await fs.readFile(path.join(open, file))).equals(v1)).toBe(true);
      const put = first.report!.phases.at(-1)!;
      expect(put.bytes).toBe(v1.length);
      expect(put.url).toBe(`http://10.77.0.1/backup/${file}`);

      const second = await bootCli(['--model', model, '--mac', mac, '--state', state, ...backupSite.bootArgs]);
      expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);
      expect(steps(second.report!)).toEqual([
        'dhcp dhcp -',
        `script http ${script}`,
        'settings http 46xxsettings.txt',
        `restore http ${file}`,
        `backup http ${file}`,
      ]);
      expect(second.report!.phases.find((p) => p.phase === 'restore')!.bytes).toBe(v1.length);
      expect((await fs.readFile(path.join(open, file))).equals(backupData(m, mac, 2))).toBe(true);

      // A restore that finds other bytes than the phone backed up is a failed phase, not a failed boot.
      await fs.writeFile(path.join(open, file), 'ABKNAME001=Someone else\r\n');
      const third = await bootCli(['--model', model, '--mac', mac, '--state', state, ...backupSite.bootArgs]);
      expect(third.code).toBe(0);
      expect(steps(third.report!).slice(-2)).toEqual([`restore http ${file} FAILED`, `backup http ${file}`]);
    },
  );

  it(
    'with Basic auth: the phone that knows the credentials backs up; one that does not fails that ' + 'phase only',
    async () => {
      const mac = '00:04:0d:c0:00:13';
      const file = `${phoneExtension(mac)}_16xxdata.txt`;
      const without = await bootCli(['--model', '1608', '--mac', mac, ...authSite.bootArgs]);
      expect(without.code).toBe(0);
      expect(without.report!.ok).toBe(true);
      expect(steps(without.report!).at(-1)).toBe(`backup http ${file} FAILED`);
      expect(without.report!.phases.at(-1)!.error).toMatch(/HTTP 401/);
      expect(await fs.readdir(locked)).toEqual([]);
      const withCreds = await bootCli([
        '--model',
        '1608',
        '--mac',
        mac,
        '--backup-user',
        'phone:s3cret',
        ...authSite.bootArgs,
      ]);
      expect(withCreds.code).toBe(0);
      expect(steps(withCreds.report!).at(-1)).toBe(`backup http ${file}`);
      expect((await fs.readFile(path.join(locked, file))).equals(backupData(findModel('1608')!, mac, 1))).toBe(true);
    },
  );
});
