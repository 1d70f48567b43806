/**
 * The API reference builds with no warnings: TypeDoc (typedoc.json: the library packages' indexes,
 * treatWarningsAsErrors) into a temporary directory. A type a public API refers to but the index does
 * not export, or a broken {@link}, fails it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = mkdtempSync(path.join(tmpdir(), 'bootwire-typedoc-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('API reference (TypeDoc)', () => {
  it('builds every package with no warnings', async () => {
    const bin = path.join(REPO, 'node_modules/typedoc/bin/typedoc');
    const { code, output } = await run(process.execPath, [bin, '--out', out]);
    const text = output.replace(/\x1b\[[0-9;]*m/g, '');
    const problems = text.split('\n').filter((l) => /\[(warning|error)\]/.test(l));
    expect(problems, text).toEqual([]);
    expect(code, text).toBe(0);
    for (const page of [
      '_bootwire_core',
      '_bootwire_tftp',
      '_bootwire_dhcp',
      '_bootwire_capture',
      '_bootwire_http',
      '_bootwire_ftp',
      'bootwire',
    ]) {
      expect(existsSync(path.join(out, 'modules', `${page}.html`)), `${page} documented`).toBe(true);
    }
  }, 600_000);
});
