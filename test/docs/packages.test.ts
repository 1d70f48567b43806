/**
 * What a new user does, in CI: scripts/check-packages.mjs packs every workspace package, installs the
 * tarballs into a fresh project with the C compilers disabled, compiles examples/ with `tsc --strict`,
 * runs them (and the replay example's vitest test) and checks what importing each library package
 * loads. It needs the npm registry (the packages' own dependencies): skipped, with the reason, when
 * `npm ping` fails. Uses packages' dist/, which `npm test` builds first.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const lastLine = (s: string): string => s.trim().split('\n').pop() ?? '';

const ping = spawnSync('npm', ['ping'], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
const why =
  ping.status === 0
    ? undefined
    : `npm ping failed (no npm registry): ${lastLine(ping.stderr || ping.stdout || String(ping.error ?? ''))}`;

describe('packages as a new user installs them (scripts/check-packages.mjs)', () => {
  it.skipIf(why !== undefined)(
    `pack, install with no compiler, tsc --strict the examples, run them (${why ?? 'registry reachable'})`,
    async () => {
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(REPO, 'scripts/check-packages.mjs')], { cwd: REPO });
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        child.on('error', reject);
        child.on('close', (c) => resolve({ code: c, output }));
      });
      expect(output, output).toMatch(/^all checks passed/m);
      expect(output).not.toMatch(/^FAIL/m);
      expect(code, output).toBe(0);
    },
    900_000,
  );
});
