/** `bootwire serve --ftp` as a process: flags, the config's `ftp` section, usage errors. */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PEERS, run, sha256 } from '../helpers/peers.js';
import { scratchDir } from '../http/helpers.js';

const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));
let dir: string;
let root: string;
const img = randomBytes(200_000);
const running: ChildProcess[] = [];

beforeAll(async () => {
  dir = await scratchDir('bw-ftp-cli-');
  root = path.join(dir, 'root');
  await fs.mkdir(root);
  await fs.writeFile(path.join(root, '440HD.img'), img);
});
afterAll(async () => {
  for (const p of running) p.kill('SIGKILL');
  await fs.rm(dir, { recursive: true, force: true });
});

async function serve(args: string[]): Promise<{ proc: ChildProcess; port: number; out: () => string }> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--workers', '0', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(proc);
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const m = /bootwire: ftp listening on \S+:(\d+), root .*, read-only/.exec(out);
    if (m) return { proc, port: Number(m[1]), out: () => out };
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('bootwire serve --ftp', () => {
  it('serves the root with a passive port range and a configured user', async (ctx) => {
    const curl = PEERS.curl.use(ctx);
    const s = await serve([
      '--root',
      root,
      '--tftp',
      '127.0.0.1:0',
      '--ftp',
      '127.0.0.1:0',
      '--ftp-passive-ports',
      '47100-47109',
      '--ftp-user',
      'phone:pw',
    ]);
    const r = await run(curl, [
      '-sS',
      '-m',
      '20',
      '-v',
      '--disable-epsv',
      '-u',
      'phone:pw',
      `ftp://127.0.0.1:${s.port}/440HD.img`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(r.stdout)).toBe(sha256(img));
    const m = /227 Entering Passive Mode \(127,0,0,1,(\d+),(\d+)\)/.exec(r.stderr)!;
    const port = Number(m[1]) * 256 + Number(m[2]);
    expect(port).toBeGreaterThanOrEqual(47100);
    expect(port).toBeLessThanOrEqual(47109);
    s.proc.kill('SIGTERM');
    expect(await new Promise((res) => s.proc.once('exit', res))).toBe(0);
  });

  it("takes the config file's ftp section (anonymous off, users, advertised address)", async (ctx) => {
    const curl = PEERS.curl.use(ctx);
    const cfg = path.join(dir, 'bootwire.json');
    await fs.writeFile(
      cfg,
      JSON.stringify({
        root: 'root',
        tftp: { listen: '127.0.0.1:0' },
        ftp: { listen: '127.0.0.1:0', anonymous: false, users: [{ user: 'u', password: 'p' }], advertise: '192.0.2.1' },
      }),
    );
    const s = await serve(['--config', cfg]);
    const anon = await run(curl, ['-sS', '-m', '20', `ftp://127.0.0.1:${s.port}/440HD.img`]);
    expect(anon.code).toBe(67);
    // EPSV names no address; --ftp-skip-pasv-ip would ignore the advertised one for PASV.
    const r = await run(curl, [
      '-sS',
      '-m',
      '20',
      '-v',
      '-u',
      'u:p',
      '--disable-epsv',
      '--ftp-skip-pasv-ip',
      `ftp://127.0.0.1:${s.port}/440HD.img`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/227 Entering Passive Mode \(192,0,2,1,/);
    expect(sha256(r.stdout)).toBe(sha256(img));
    s.proc.kill('SIGTERM');
    await new Promise((res) => s.proc.once('exit', res));
  });

  it('refuses bad FTP flags with one line and exit 2', async () => {
    for (const bad of [
      ['--ftp', '127.0.0.1:0', '--ftp-passive-ports', '5000-4000'],
      ['--ftp', '127.0.0.1:0', '--ftp-passive-ports', 'many'],
      ['--ftp', '127.0.0.1:0', '--ftp-advertise', '::1'],
      ['--ftp', '127.0.0.1:0', '--ftp-user', 'nocolon'],
      ['--ftp-passive-ports', '5000-5001'],
    ]) {
      const r = await run(process.execPath, [CLI, 'serve', '--root', root, '--tftp', '127.0.0.1:0', ...bad]);
      expect(r.code, `${bad.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
