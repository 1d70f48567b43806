/**
 * `bootwire serve` loads what its flags ask for and nothing more: the DHCP, HTTP and FTP packages,
 * prom-client (with its tracing dependency), pino-pretty, re2js and the config validator stay unloaded
 * unless a server, --metrics, --log-format pretty, a regex or --config asks for them. Each is memory in
 * the server's main thread (the RSS of the 200-transfer benchmark in docs/performance.md).
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));

// Preloaded. An ES module resolve hook names each package an import reaches (zod is an ES module; the
// workspace's own packages resolve to packages/NAME/dist); on SIGTERM the CommonJS module cache names
// the rest, however they were loaded (an import, or a require made at run time), and the process exits
// (serve's own handler may not be installed yet).
const PRELOAD = `
const { register } = require('node:module');
register('data:text/javascript,' + encodeURIComponent(\`
  export async function resolve(specifier, context, next) {
    const r = await next(specifier, context);
    const m = /node_modules\\\\/((?:@[^/]+\\\\/)?[^/]+)\\\\/|\\\\/packages\\\\/([a-z]+)\\\\/dist\\\\//.exec(r.url);
    if (m) process.stderr.write('LOADED ' + (m[1] ?? '@bootwire/' + m[2]) + '\\\\n');
    return r;
  }\`));
process.on('SIGTERM', () => {
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

  it('TFTP alone, no config: no other server, metrics, pretty logs, regexes or zod', async () => {
    const loaded = await packagesLoaded(root, ['--root', root, '--tftp', '127.0.0.1:0'], 1);
    // Both ways of seeing a package work: piscina is CommonJS, @bootwire/tftp an ES module.
    expect(loaded.has('piscina')).toBe(true);
    expect(loaded.has('@bootwire/tftp')).toBe(true);
    for (const p of [
      'prom-client',
      '@opentelemetry/api',
      'pino-pretty',
      're2js',
      'zod',
      'jsonc-parser',
      'better-sqlite3',
      '@bootwire/dhcp',
      '@bootwire/http',
      '@bootwire/ftp',
    ])
      expect(loaded.has(p), p).toBe(false);
  });

  it('each flag loads what it needs: --metrics, --log-format pretty, --remap, --http, --ftp', async () => {
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
        '--http',
        '127.0.0.1:0',
        '--ftp',
        '127.0.0.1:0',
      ],
      4,
    );
    for (const p of ['prom-client', 'pino-pretty', 're2js', '@bootwire/http', '@bootwire/ftp'])
      expect(loaded.has(p), p).toBe(true);
    expect(loaded.has('@bootwire/dhcp')).toBe(false);
  });

  it('--config loads the config validator (zod)', async () => {
    const file = path.join(root, 'bootwire.json');
    await fs.writeFile(file, JSON.stringify({ root, tftp: { listen: '127.0.0.1:0' } }));
    const loaded = await packagesLoaded(root, ['--config', file], 1);
    expect(loaded.has('zod')).toBe(true);
    expect(loaded.has('@bootwire/dhcp')).toBe(false);
  });
});
