#!/usr/bin/env node
// What a new user does, checked: every workspace package packed (`npm pack`), installed from the
// tarballs into a fresh project with the C compilers disabled (CC=/bin/false: the batch-UDP addon and
// SQLite are optional and must not be needed), the examples compiled with `tsc --strict` against the
// installed packages and run, and an import of each library package checked to load no config
// validator, database, worker pool or logger. Needs the npm registry (the packages' own dependencies)
// and `npm run build` first. Prints one line per step; exits 1 on the first failure.
//
//   node scripts/check-packages.mjs [--keep]
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');
const work = mkdtempSync(path.join(tmpdir(), 'bootwire-packages-'));
const app = path.join(work, 'app');
const noCompiler = {
  ...process.env,
  CC: '/bin/false',
  CXX: '/bin/false',
  npm_config_build_from_source: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
  npm_config_update_notifier: 'false',
};

function step(what, cmd, args, o = {}) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...o });
  const s = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    console.log(`FAIL ${what} (${s} s): ${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    if (!keep) rmSync(work, { recursive: true, force: true });
    process.exit(1);
  }
  console.log(`ok   ${what} (${s} s)`);
  return r.stdout;
}

try {
  step('npm pack of every workspace package', 'npm', ['pack', '--workspaces', '--pack-destination', work, '--silent'], {
    cwd: REPO,
  });
  const tarballs = readdirSync(work)
    .filter((f) => f.endsWith('.tgz'))
    .map((f) => path.join(work, f));
  cpSync(path.join(REPO, 'examples'), app, { recursive: true });
  cpSync(path.join(REPO, 'captures', 'tftp-curl-bootwire.pcapng'), path.join(app, 'tftp-curl-bootwire.pcapng'));
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'bootwire-user', private: true, type: 'module' }, null, 2),
  );
  step(`install of ${tarballs.length} tarballs with no C compiler`, 'npm', ['install', '--no-save', ...tarballs], {
    cwd: app,
    env: noCompiler,
  });
  step(
    'install of typescript, @types/node and vitest (to compile and run the examples)',
    'npm',
    ['install', '--no-save', 'typescript@5.9', '@types/node@20', 'vitest@~4.1.12', ...tarballs],
    { cwd: app, env: noCompiler },
  );
  step(
    'tsc --strict on the examples',
    process.execPath,
    [path.join(app, 'node_modules/typescript/bin/tsc'), '-p', app],
    { cwd: app },
  );
  const offer = step(
    'avaya-offer: an OFFER with typed 242 and 43, read back',
    process.execPath,
    ['dist/avaya-offer.js'],
    { cwd: app },
  );
  if (!/option 242: MCIPADD=10\.77\.0\.5,10\.77\.0\.6,MCPORT=1719,HTTPSRVR=10\.77\.0\.1/.test(offer))
    throw new Error(`avaya-offer printed: ${offer}`);
  const types = step(
    'capture-dhcp-types: a capture read, DHCP message types counted',
    process.execPath,
    ['dist/capture-dhcp-types.js', path.join(REPO, 'captures', 'dhcp-udhcpc-bootwire.pcap')],
    { cwd: app },
  );
  if (!/^DISCOVER\s+\d+$/m.test(types) || !/^ACK\s+\d+$/m.test(types))
    throw new Error(`capture-dhcp-types printed: ${types}`);
  const settings = step(
    "tftp-settings-per-phone: a TFTP server computing each phone's file",
    process.execPath,
    ['dist/tftp-settings-per-phone.js'],
    { cwd: app },
  );
  if (!/SET MAC 00:04:0d:aa:bb:01/.test(settings)) throw new Error(`tftp-settings-per-phone printed: ${settings}`);
  step(
    'replay.test.ts: a capture replayed inside a vitest test',
    process.execPath,
    [path.join(app, 'node_modules/vitest/vitest.mjs'), 'run', 'replay.test.ts'],
    { cwd: app, env: { ...process.env, CI: 'true' } },
  );
  // What importing each library package loads: a resolve hook records every module resolved.
  const hook = `
    import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(\`
      export async function resolve(specifier, context, next) {
        const r = await next(specifier, context);
        if (/node_modules/.test(r.url)) process.stderr.write('LOADED ' + r.url + '\\\\n');
        return r;
      }\`));`;
  const probe =
    `for (const p of ['@bootwire/core', '@bootwire/tftp', '@bootwire/dhcp', '@bootwire/capture', ` +
    `'@bootwire/http']) { const t = performance.now(); await import(p); console.log(p, ` +
    `(performance.now() - t).toFixed(0), 'ms'); }`;
  const r = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, '--input-type=module', '-e', probe],
    { cwd: app, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`importing the packages failed: ${r.stderr}`);
  const heavy = ['zod', 'pino', 'better-sqlite3', 'piscina', 'commander', 're2js'];
  const loaded = [...new Set([...r.stderr.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)].map((m) => m[1]))];
  const bad = loaded.filter((p) => heavy.includes(p));
  if (bad.length) throw new Error(`importing the library packages loaded ${bad.join(', ')}`);
  console.log(
    `ok   importing @bootwire/core, tftp, dhcp, capture, http loads no ${heavy.join(', ')} (loaded: ` +
      `${loaded.filter((p) => !p.startsWith('@bootwire/')).join(', ') || 'nothing else'}); ` +
      `${r.stdout.trim().split('\n').join(', ')}`,
  );
  console.log(`all checks passed${keep ? `; the project is in ${app}` : ''}`);
} catch (e) {
  console.log(`FAIL ${e.message}`);
  process.exitCode = 1;
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true });
}
