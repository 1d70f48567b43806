/**
 * The 400HD without a per-phone configuration file (issue 16 item 4) and `bootwire serve`'s name
 * flags end to end: a missing `<MAC>.cfg` is a skipped phase, not a failed boot; --remap and
 * --lowercase (and the config's `names`) rewrite what TFTP and HTTP serve; a remap file with a bad
 * regular expression stops `serve` at start, naming the line.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../../packages/http/src/client.js';
import { tftpGetBuffer } from '../../packages/tftp/src/client.js';
import { run } from '../helpers/peers.js';
import {
  bootCli,
  CLI,
  classOptions,
  initRoot,
  relayPort,
  scratch,
  serve,
  type Site,
  startSite,
  steps,
  writeConfig,
} from './helpers.js';

let dir: string;
let root: string;
let site: Site;
const MAC = '00:90:8f:c0:00:01';
const CFG = '00908fc00001.cfg';

beforeAll(async () => {
  dir = await scratch('bw-boot-names-');
  root = await initRoot(dir);
  const relay = await relayPort();
  // Option 160 names the firmware only: the phone then asks for <MAC>.cfg, which the root lacks.
  const config = await writeConfig(dir, root, relay, (c) => {
    classOptions(c, 'audiocodes-400hd')['160'] = 'tftp://10.77.0.1/<MODEL>.img';
  });
  site = await startSite(config, relay);
});
afterAll(async () => {
  await site?.served.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('440HD without a per-phone configuration file', () => {
  it('a missing <MAC>.cfg is a skipped phase: the boot succeeds', async () => {
    const r = await bootCli(['--model', '440HD', '--mac', MAC, ...site.bootArgs]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.report!.ok).toBe(true);
    expect(steps(r.report!)).toEqual(['dhcp dhcp -', 'image tftp 440HD.img', `settings tftp ${CFG} FAILED`]);
    const last = r.report!.phases.at(-1)! as { skipped?: boolean; error?: string };
    expect(last.skipped).toBe(true);
    expect(last.error).toMatch(/not found/);
    const text = await bootCli(['--model', '440HD', '--mac', MAC, ...site.bootArgs], { json: false });
    expect(text.stdout).toMatch(new RegExp(`settings tftp://10\\.77\\.0\\.1/${CFG.replace('.', '\\.')} .* skipped: `));
    expect(text.stdout).not.toMatch(/FAILED/);
  });

  it('with the file on the server, the phone reads it', async () => {
    await fs.copyFile(path.join(root, '440HD.cfg'), path.join(root, CFG));
    try {
      const r = await bootCli(['--model', '440HD', '--mac', MAC, ...site.bootArgs]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(steps(r.report!).at(-1)).toBe(`settings tftp ${CFG}`);
    } finally {
      await fs.rm(path.join(root, CFG));
    }
  });

  it('a configuration file that exists but is wrong still fails the boot', async () => {
    await fs.writeFile(path.join(root, CFG), 'no model line in here\n');
    try {
      const r = await bootCli(['--model', '440HD', '--mac', MAC, ...site.bootArgs]);
      expect(r.code).toBe(1);
      expect(r.report!.failedIn).toBe('settings');
    } finally {
      await fs.rm(path.join(root, CFG));
    }
  });
});

describe('serve --remap, --lowercase, config names', () => {
  it('the same rules for TFTP and HTTP', async () => {
    const rules = path.join(dir, 'rules');
    await fs.writeFile(rules, 'r ^firmware/\na \\.exe$\n');
    await fs.writeFile(path.join(root, 'lower.cfg'), 'stored in lowercase\n');
    const s = await serve(
      ['--root', root, '--tftp', '127.0.0.1:0', '--http', '127.0.0.1:0', '--remap', rules, '--lowercase'],
      ['tftp', 'http'],
    );
    try {
      const t = await tftpGetBuffer({ host: '127.0.0.1', port: s.ports.tftp!, filename: 'FIRMWARE/Lower.CFG' });
      expect(t.data.toString()).toBe('stored in lowercase\n');
      const h = await httpGet(`http://127.0.0.1:${s.ports.http}/Firmware/LOWER.cfg`, { keepBody: true });
      expect(h.body!.toString()).toBe('stored in lowercase\n');
      expect((await httpGet(`http://127.0.0.1:${s.ports.http}/x.EXE`)).status).toBe(403);
    } finally {
      await s.stop();
      await fs.rm(path.join(root, 'lower.cfg'));
    }
  });

  it(
    "a bad regular expression stops serve at start with the file's line; so does an unknown " + '--unique-root',
    async () => {
      const rules = path.join(dir, 'bad-rules');
      await fs.writeFile(rules, '# fine\nr ^a b\nr (x)\\1 y\n');
      const r = await run(process.execPath, [CLI, 'serve', '--root', root, '--tftp', '127.0.0.1:0', '--remap', rules], {
        timeoutMs: 20_000,
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(
          `^bootwire: remap file ${rules.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, line 3: regular expression "\\(x\\)\\\\\\\\1" cannot be run in linear time`,
        ),
      );
      const u = await run(
        process.execPath,
        [CLI, 'serve', '--root', root, '--tftp', '127.0.0.1:0', '--unique-root', 'host'],
        { timeoutMs: 20_000 },
      );
      expect([u.code, u.stderr.trim()]).toEqual([2, 'bootwire: --unique-root must be mac or ip, got "host"']);
    },
  );

  it('the config file: names.remap relative to it, names.lowercase, names.uniqueRoot', async () => {
    const confDir = path.join(dir, 'conf-names');
    await fs.mkdir(path.join(root, '127.0.0.1'), { recursive: true });
    await fs.writeFile(path.join(root, '127.0.0.1', 'mine.txt'), 'per address\n');
    await fs.mkdir(confDir, { recursive: true });
    await fs.writeFile(path.join(confDir, 'remap.rules'), 'r ^alias\\.txt$ mine.txt\n');
    await fs.writeFile(
      path.join(confDir, 'bootwire.json'),
      JSON.stringify({
        root: path.relative(confDir, root),
        tftp: { listen: '127.0.0.1:0' },
        names: { remap: 'remap.rules', lowercase: true, uniqueRoot: 'ip' },
      }),
    );
    const s = await serve(['--config', path.join(confDir, 'bootwire.json')], ['tftp']);
    try {
      const t = await tftpGetBuffer({ host: '127.0.0.1', port: s.ports.tftp!, filename: 'ALIAS.txt' });
      expect(t.data.toString()).toBe('per address\n');
    } finally {
      await s.stop();
      await fs.rm(path.join(root, '127.0.0.1'), { recursive: true });
    }
  });
});
