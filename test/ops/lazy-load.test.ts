/**
 * `bootwire serve` loads what its flags ask for and nothing more: prom-client (with its fifty-module
 * tracing dependency), pino-pretty and re2js stay unloaded unless --metrics, --log-format pretty or a
 * regex asks for them. Each is memory in the server's main thread (RSS of the 200-transfer benchmark).
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));

// Preloaded: on SIGTERM, names every CommonJS package in the module cache on stderr and exits (serve's own
// handler may not be installed yet). These packages are all CommonJS, and the cache holds them however they
// were loaded (import, or a require made at run time).
const PRELOAD = `process.on('SIGTERM', () => {
  const names = new Set();
  for (const f of Object.keys(require.cache)) {
    const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(f);
    if (m) names.add(m[1]);
  }
  require('fs').writeSync(2, [...names].map((n) => 'LOADED ' + n + '\\n').join(''));
  process.exit(0);
});`;

/** The packages `serve ARGS` has loaded once it listens on everything it was asked to. */
function packagesLoaded(root: string, args: string[], listeners: number): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const preload = path.join(root, 'preload.cjs');
    const p = spawn(process.execPath, ['--require', preload, CLI, 'serve', ...args, '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.stdout.on('data', (d) => {
      out += d;
      if ((out.match(/listening on/g) ?? []).length >= listeners) p.kill('SIGTERM');
    });
    p.stderr.on('data', (d) => (err += d));
    p.on('close', () => {
      clearTimeout(t);
      if ((out.match(/listening on/g) ?? []).length < listeners) return reject(new Error(`serve: ${out}${err}`));
      resolve(new Set([...err.matchAll(/^LOADED (\S+)$/gm)].map((m) => m[1]!)));
    });
  });
}

describe('serve loads only what its flags ask for', () => {
  let root: string;
  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'bootwire-lazy-'));
    await fs.writeFile(path.join(root, 'a.bin'), 'x');
    await fs.writeFile(path.join(root, 'preload.cjs'), PRELOAD);
    await fs.writeFile(path.join(root, 'remap.rules'), 'r ^/x/(.*) \\1\n');
  });
  afterAll(() => fs.rm(root, { recursive: true, force: true }));

  it('TFTP alone, JSON logs: no prom-client, pino-pretty or re2js', async () => {
    const loaded = await packagesLoaded(root, ['--root', root, '--tftp', '127.0.0.1:0'], 1);
    expect(loaded.has('piscina')).toBe(true); // the preload sees what is loaded
    for (const p of ['prom-client', '@opentelemetry/api', 'pino-pretty', 're2js']) expect(loaded.has(p), p).toBe(false);
  });

  it('--metrics and --log-format pretty load theirs, a --remap rule re2js', async () => {
    const loaded = await packagesLoaded(
      root,
      [
        '--root',
        root,
        '--tftp',
        '127.0.0.1:0',
        '--metrics',
        '127.0.0.1:0',
        '--log-format',
        'pretty',
        '--remap',
        path.join(root, 'remap.rules'),
      ],
      2,
    );
    for (const p of ['prom-client', 'pino-pretty', 're2js']) expect(loaded.has(p), p).toBe(true);
  });
});
