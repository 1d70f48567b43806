import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../packages/bootwire/dist/cli/main.js', import.meta.url));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function run(args: string[], cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `bootwire serve` and waits for its "listening" line; returns the port it printed. */
async function serve(args: string[]): Promise<{ proc: ChildProcess; port: number; stderr: () => string }> {
  const proc = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on [^\s]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { proc, port, stderr: () => err };
}

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-cli-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('bootwire CLI', () => {
  it('serve with no arguments serves the bundled example root on 127.0.0.1', async () => {
    const { proc, port } = await serve(['--tftp', '127.0.0.1:0']);
    try {
      const r = await run(['get', `tftp://127.0.0.1:${port}/46xxupgrade.scr`, '-o', '-']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('GET 46xxsettings.txt');
    } finally {
      proc.kill('SIGTERM');
    }
    const code = await new Promise((r) => proc.on('exit', r));
    expect(code).toBe(0);
  });

  it('get writes the file whole, and exits 1 with the server error for a missing file', async () => {
    const root = path.join(dir, 'root');
    await fs.mkdir(root);
    const data = randomBytes(100_000);
    await fs.writeFile(path.join(root, 'img.bin'), data);
    const { proc, port } = await serve(['--root', root, '--tftp', '127.0.0.1:0']);
    try {
      const ok = await run(
        ['get', `tftp://127.0.0.1:${port}/img.bin`, '--blksize', '1468', '--windowsize', '8', '--tsize'],
        dir,
      );
      expect(ok.code).toBe(0);
      expect(ok.stderr).toContain('tsize 100000');
      expect(sha(await fs.readFile(path.join(dir, 'img.bin')))).toBe(sha(data));
      const missing = await run(['get', `tftp://127.0.0.1:${port}/nope.bin`, '-o', path.join(dir, 'nope.bin')]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/server error 1: .*not found/);
      // No partial or temporary file left behind.
      expect((await fs.readdir(dir)).sort()).toEqual(['img.bin', 'root']);
    } finally {
      proc.kill('SIGINT');
    }
    expect(await new Promise((r) => proc.on('exit', r))).toBe(0);
  });

  it('put uploads only to a server that allows it', async () => {
    const root = path.join(dir, 'uproot');
    await fs.mkdir(root);
    const local = path.join(dir, 'log.txt');
    await fs.writeFile(local, 'phone log\n');
    const { proc, port } = await serve(['--root', root, '--tftp', '127.0.0.1:0', '--allow-write']);
    try {
      const r = await run(['put', local, `tftp://127.0.0.1:${port}/log.txt`]);
      expect(r.code).toBe(0);
      expect(await fs.readFile(path.join(root, 'log.txt'), 'utf8')).toBe('phone log\n');
    } finally {
      proc.kill('SIGTERM');
    }
    await new Promise((r) => proc.on('exit', r));
  });

  for (const [what, args, message] of [
    ['an unknown flag', ['serve', '--bogus'], /unknown option/],
    ['a missing root', ['serve', '--root', '/nonexistent/root', '--tftp', '127.0.0.1:0'], /root .* does not exist/],
    ['a bad listen address', ['serve', '--tftp', 'nope'], /--tftp/],
    ['a bad number', ['serve', '--max-blksize', '70000'], /--max-blksize/],
    ['a bad URL', ['get', 'http://x/y'], /tftp:\/\//],
    ['a bad blksize', ['get', 'tftp://127.0.0.1/x', '--blksize', '4'], /--blksize/],
  ] as const) {
    it(`${what} gives a one-line error and exit code 2`, async () => {
      const r = await run([...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n').length).toBe(1);
    });
  }
});
