import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkRoot,
  exampleRootFiles,
  formatDiagnostic,
  INIT_MARKER,
  InitError,
  parseSize,
  PHONE_MODELS,
  type RootFile,
  writeExampleRoot,
  writeRootAtomically,
} from '../../packages/bootwire/src/phones/index.js';

const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const SMALL = 64 * 1024;

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-phones-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function hashes(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await fs.readdir(root)).sort()) out[f] = sha(await fs.readFile(path.join(root, f)));
  return out;
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('bootwire init', () => {
  it('writes a root that check accepts without a single diagnostic', async () => {
    const root = path.join(dir, 'clean');
    const r = await writeExampleRoot(root, { imageSize: SMALL });
    expect(r.files).toBe(exampleRootFiles().length);
    const c = await checkRoot(root);
    expect(c.diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(c.filesChecked).toBeGreaterThanOrEqual(18);
    // Every model's script, image and settings are there.
    const files = await fs.readdir(root);
    for (const m of PHONE_MODELS) {
      expect(files).toContain(m.files.image);
      if (m.files.script) expect(files).toContain(m.files.script);
    }
    expect(files).toEqual(
      expect.arrayContaining([
        'bootwire.json',
        '46xxsettings.txt',
        '420HD.cfg',
        '440HD.cfg',
        '12x0_device.cfg',
        INIT_MARKER,
      ]),
    );
  });

  it('is deterministic: the same seed gives the same bytes, another seed other images', async () => {
    const a = path.join(dir, 'det-a');
    const b = path.join(dir, 'det-b');
    const c = path.join(dir, 'det-c');
    await writeExampleRoot(a, { imageSize: SMALL });
    await writeExampleRoot(b, { imageSize: SMALL });
    await writeExampleRoot(c, { imageSize: SMALL, seed: 2 });
    const [ha, hb, hc] = await Promise.all([hashes(a), hashes(b), hashes(c)]);
    expect(ha).toEqual(hb);
    expect(hc['README.txt']).toBe(ha['README.txt']);
    expect(hc['440HD.img']).not.toBe(ha['440HD.img']);
  });

  it("gives images their models' typical sizes by default (1.5 MB for the 4600 ... 16 MB for the 96x1)", () => {
    const sizes = Object.fromEntries(
      exampleRootFiles()
        .filter((f) => f.image)
        .map((f) => [f.path, f.image!.payloadBytes]),
    );
    expect(sizes).toEqual({
      'a10d01b2_3.bin': 1_500_000,
      'a20d01b2_3.bin': 1_500_000,
      'ha16xxua1_5_0.bin': 3_000_000,
      'S96x1_SALBR7_1_2_0.tar': 16_000_000,
      'ha96xxua3_2_0_S.bin': 8_000_000,
      'SIP12x004.04.09.00.bin': 6_000_000,
      '420HD.img': 12_000_000,
      '440HD.img': 12_000_000,
    });
  });

  it('refuses a non-empty directory without --force, and with --force one that init did not write', async () => {
    const other = path.join(dir, 'someones');
    await fs.mkdir(other);
    await fs.writeFile(path.join(other, 'precious.txt'), 'keep me');
    await expect(writeExampleRoot(other, { imageSize: SMALL })).rejects.toThrow(/not empty \(use --force/);
    await expect(writeExampleRoot(other, { imageSize: SMALL, force: true })).rejects.toThrow(
      /was not written by bootwire init/,
    );
    expect(await fs.readdir(other)).toEqual(['precious.txt']);
    const file = path.join(dir, 'a-file');
    await fs.writeFile(file, 'x');
    await expect(writeExampleRoot(file)).rejects.toThrow(/is not a directory/);
  });

  it('--force replaces an earlier init root; an empty directory is filled', async () => {
    const root = path.join(dir, 'again');
    await writeExampleRoot(root, { imageSize: SMALL });
    await fs.writeFile(path.join(root, 'leftover.txt'), 'x');
    await writeExampleRoot(root, { imageSize: 2 * SMALL, force: true });
    const files = await fs.readdir(root);
    expect(files).not.toContain('leftover.txt');
    expect((await fs.stat(path.join(root, '440HD.img'))).size).toBe(2 * SMALL + 128);
    const empty = path.join(dir, 'empty');
    await fs.mkdir(empty);
    await writeExampleRoot(empty, { imageSize: SMALL });
    expect((await fs.readdir(empty)).length).toBe(exampleRootFiles().length);
  });

  it(
    'a failure while writing leaves nothing: no partial root, no temporary directory, an old root ' + 'intact',
    async () => {
      const failing = (after: number): Iterable<RootFile> => ({
        *[Symbol.iterator]() {
          let n = 0;
          for (const f of exampleRootFiles({ imageSize: SMALL })) {
            if (n++ === after) throw new Error('disk full (simulated)');
            yield f;
          }
        },
      });
      const fresh = path.join(dir, 'fails');
      await expect(writeRootAtomically(fresh, failing(5), { force: false })).rejects.toThrow(InitError);
      const old = path.join(dir, 'old-root');
      await writeExampleRoot(old, { imageSize: SMALL });
      const before = await hashes(old);
      await expect(writeRootAtomically(old, failing(12), { force: true })).rejects.toThrow('disk full (simulated)');
      expect(await hashes(old)).toEqual(before);
      expect((await fs.readdir(dir)).filter((f) => f.startsWith('.') || f === 'fails')).toEqual([]);
    },
  );

  it('parses sizes as --image-size takes them', () => {
    expect(parseSize('1M')).toBe(1 << 20);
    expect(parseSize('512K')).toBe(512 * 1024);
    expect(parseSize('1.5MiB')).toBe(1.5 * (1 << 20));
    expect(parseSize('8000000')).toBe(8_000_000);
    expect(parseSize('lots')).toBeUndefined();
  });
});

describe('bootwire check', () => {
  it('finds every kind of error, each at its file and line', async () => {
    const root = path.join(dir, 'broken');
    await writeExampleRoot(root, { imageSize: SMALL });
    const edit = async (file: string, from: string, to: string) => {
      const p = path.join(root, file);
      const text = await fs.readFile(p, 'utf8');
      if (!text.includes(from)) throw new Error(`${file} has no ${from}`);
      await fs.writeFile(p, text.replace(from, to));
    };
    await edit('46xxupgrade.scr', 'GOTO GETSET\n# APP1', 'GOTO GETSETT\n# APP1'); // line 5: label
    await edit('16xxupgrade.txt', 'IF $MODEL4 SEQ 1608 GOTO APP1', 'IF $MODEL4 SEQ 1608 GOTO'); // line 3: syntax
    // line 7: missing image
    await edit('96xxupgrade.txt', 'SET APPNAME ha96xxua3_2_0_S.bin', 'SET APPNAME ha96xxua3_3_0_S.bin');
    await edit('96x1Supgrade.txt', 'GET 46xxsettings.txt', 'GET 46XXsettings.txt'); // line 9: missing GET
    await edit('46xxsettings.txt', '# END', '# END\n# LOOP\nSET X 1\nGOTO LOOP'); // line 21: loop
    await edit('1230SIP.cfg', 'FILENAME 12x0_device.cfg', 'FILENAME 1230_device.cfg'); // line 6: missing file
    // line 11: image of another model
    await edit('1220SIP.cfg', 'FILENAME SIP12x004.04.09.00.bin', 'FILENAME a10d01b2_3.bin');
    await edit('420HD.cfg', 'system/type=420HD', 'system/type=440HD'); // line 3: cfg model
    await fs.copyFile(path.join(root, '420HD.img'), path.join(root, '440HD.img')); // header of another model
    const img = await fs.readFile(path.join(root, 'ha16xxua1_5_0.bin'));
    await fs.writeFile(path.join(root, 'ha16xxua1_5_0.bin'), img.subarray(0, img.length - 10)); // truncated
    // option 160 names a missing file
    await edit('bootwire.json', '<MODEL>.img;<MODEL>.cfg', '<MODEL>.img;<MODEL>-site.cfg');
    const c = await checkRoot(root);
    expect(c.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic)).toEqual([
      '1220SIP.cfg:11: [FW] FILENAME a10d01b2_3.bin (the 1220): image is for family avaya-4600, not avaya-1200-sip',
      '1230SIP.cfg:6: [DEVICE_CONFIG] FILENAME 1230_device.cfg: 1230_device.cfg is not in the root',
      '16xxupgrade.txt:3: malformed IF: expected IF $VAR SEQ VALUE GOTO LABEL (the phone reads the line as a comment)',
      '420HD.cfg:3: system/type is "440HD": a 420HD does not apply this file',
      '440HD.img: the 440HD reads 440HD.img: image is for 420HD, not 440HD',
      '46xxsettings.txt:21: GOTO LOOP loops forever: nothing between the label and this line can leave the loop',
      '46xxupgrade.scr:5: label "GETSETT" is not defined: the phone ignores the rest of the file when it gets here',
      '96x1Supgrade.txt:9: GET 46XXsettings.txt: 46XXsettings.txt is not in the root (46xxsettings.txt ' +
        'is: names are case-sensitive)',
      '96xxupgrade.txt:7: SET APPNAME ha96xxua3_3_0_S.bin (the 9620): ha96xxua3_3_0_S.bin is not in the root',
      '96xxupgrade.txt:7: SET APPNAME ha96xxua3_3_0_S.bin (the 9640): ha96xxua3_3_0_S.bin is not in the root',
      'bootwire.json:40: option 160 for the 420HD: 420HD-site.cfg is not in the root',
      'bootwire.json:40: option 160 for the 440HD: 440HD-site.cfg is not in the root',
      'ha16xxua1_5_0.bin: payload is 65526 bytes, the header announces 65536 (truncated image) [wrong-size]',
    ]);
    // The 1608 cannot reach its APPNAME any more (the IF is a comment now): a warning, not an error.
    expect(c.diagnostics.filter((d) => d.severity === 'warning').map(formatDiagnostic)).toEqual([
      '16xxupgrade.txt: warning: no SET APPNAME for the 1608 (MODEL4 1608): it keeps the application it runs',
    ]);
    expect(c.errors).toBe(13);
  });

  it('reports a file that is not JSON at its line, and a GET loop through nested files', async () => {
    const root = path.join(dir, 'broken2');
    await writeExampleRoot(root, { imageSize: SMALL });
    await fs.writeFile(path.join(root, 'bootwire.json'), '{\n  "root": ".",\n  oops\n}\n');
    await fs.appendFile(path.join(root, '46xxsettings.txt'), 'GET 46xxsettings.txt\n');
    const c = await checkRoot(root);
    const lines = c.diagnostics.map(formatDiagnostic);
    expect(lines.find((l) => l.startsWith('bootwire.json'))).toMatch(/^bootwire\.json:3: not valid JSON/);
    expect(lines).toContain('46xxsettings.txt:19: GET 46xxsettings.txt: more than 8 nested GETs: treated as failed');
  });
});

describe('the check and init commands', () => {
  it('init, check (exit 0), a broken root (exit 1), usage errors (exit 2)', async () => {
    const root = path.join(dir, 'cli');
    const i = await run(['init', root, '--image-size', '64K']);
    expect(i.code).toBe(0);
    expect(i.stdout).toMatch(/^wrote 21 files \(0\.\d MiB\) to /);
    const ok = await run(['check', root]);
    expect([ok.code, ok.stdout]).toEqual([0, '']);
    expect(ok.stderr).toMatch(/0 errors, 0 warnings/);
    await fs.appendFile(path.join(root, '46xxupgrade.scr'), 'GOTO NOWHERE\n');
    const bad = await run(['check', root]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe(
      '46xxupgrade.scr:13: label "NOWHERE" is not defined: the phone ignores the rest of the file when it gets here\n',
    );
    const json = await run(['check', root, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      errors: 1,
      diagnostics: [{ file: '46xxupgrade.scr', line: 13, severity: 'error' }],
    });
    expect((await run(['check', path.join(dir, 'nope')])).code).toBe(2);
    expect((await run(['init', root])).code).toBe(2); // not empty, no --force
    expect((await run(['init', path.join(dir, 'x'), '--image-size', 'huge'])).code).toBe(2);
    expect((await run(['init', root, '--force', '--image-size', '1K'])).code).toBe(0);
  });

  it('serve --config ROOT/bootwire.json serves the root (ports moved to 0 for the test)', async () => {
    const root = path.join(dir, 'served');
    await writeExampleRoot(root, { imageSize: SMALL });
    const cfg = JSON.parse(await fs.readFile(path.join(root, 'bootwire.json'), 'utf8')) as Record<
      'tftp' | 'dhcp',
      { listen: string }
    >;
    cfg.tftp.listen = '127.0.0.1:0';
    cfg.dhcp.listen = '127.0.0.1:0';
    const cfgFile = path.join(root, 'bootwire.test.json');
    await fs.writeFile(cfgFile, JSON.stringify(cfg));
    const proc: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--config', cfgFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        let err = '';
        proc.stderr!.on('data', (d) => (err += d));
        proc.stdout!.on('data', (d) => {
          out += d;
          const m =
            /TFTP[^\n]*?listening on [^\s]+:(\d+)|listening on [^\s]+:(\d+)[^\n]*TFTP/i.exec(out) ??
            /listening on [^\s]+:(\d+)/.exec(out);
          if (m && /TFTP|tftp/.test(out)) resolve(Number(m[1] ?? m[2]));
        });
        proc.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err} ${out}`)));
        setTimeout(() => reject(new Error(`no listening line: ${out} ${err}`)), 20_000);
      });
      const got = await run(['get', `tftp://127.0.0.1:${port}/440HD.img`, '-o', path.join(dir, 'got.img')]);
      expect(got.code).toBe(0);
      expect(sha(await fs.readFile(path.join(dir, 'got.img')))).toBe(
        sha(await fs.readFile(path.join(root, '440HD.img'))),
      );
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  });
});

describe('bootwire check on hostile roots', () => {
  it('binary garbage in every file it reads gives diagnostics, not exceptions', async () => {
    const root = path.join(dir, 'garbage');
    await writeExampleRoot(root, { imageSize: SMALL });
    let seed = 7;
    const junk = (n: number) =>
      Buffer.from(Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 255));
    for (const f of ['46xxupgrade.scr', '46xxsettings.txt', '1230SIP.cfg', '440HD.cfg', 'bootwire.json', '420HD.img']) {
      await fs.writeFile(path.join(root, f), junk(5000));
    }
    // over the 1 MiB a script may have
    await fs.writeFile(path.join(root, '96xxupgrade.txt'), `SET APPNAME ${'x'.repeat(2 << 20)}\n`);
    const c = await checkRoot(root);
    const lines = c.diagnostics.map(formatDiagnostic);
    expect(lines).toContain('96xxupgrade.txt: 96xxupgrade.txt is over 1048576 bytes: not a script or settings file');
    expect(lines.some((l) => l.startsWith('420HD.img: not a bootwire image header'))).toBe(true);
    expect(lines.some((l) => l.startsWith('bootwire.json') && l.includes('not valid JSON'))).toBe(true);
    expect(lines.some((l) => l.startsWith('440HD.cfg: no system/type= line'))).toBe(true);
    expect(c.errors).toBeGreaterThan(4);
  });
});

describe('diagnostic lines', () => {
  it('show control characters from hostile files as ?', () => {
    expect(
      formatDiagnostic({ file: 'a\x1b[2J.txt', line: 3, severity: 'warning', message: 'bad \x00\x07 bytes\n' }),
    ).toBe('a?[2J.txt:3: warning: bad ?? bytes?');
  });
});
