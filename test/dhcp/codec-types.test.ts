/**
 * The typed options' compile-time guarantees (`options.get(242)` is an AvayaList; encodeOption refuses
 * a string for it) hold only if the compiler agrees: typed-options.types.ts is compiled here, and every
 * line of it fails to compile when the registry's code-to-type map is wrong.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

it('the registry types every option by code and by name, both ways (tsc)', () => {
  const args = [
    '--noEmit',
    '--strict',
    '--noUncheckedIndexedAccess',
    '--skipLibCheck',
    '--target',
    'ES2022',
    '--module',
    'NodeNext',
    '--moduleResolution',
    'NodeNext',
    '--types',
    'node',
  ];
  const r = spawnSync(process.execPath, [TSC, ...args, path.join(HERE, 'typed-options.types.ts')], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
});
