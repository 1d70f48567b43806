/**
 * The root `serve` uses when given none: the example root `bootwire init` writes, generated once into
 * the user's cache directory (or the temporary directory when there is none) and reused.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { INIT_MARKER, InitError, writeExampleRoot } from '../phones/init-root.js';

const VERSION = (() => {
  try {
    return (
      JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return 'dev';
  }
})();

function cacheDirs(): string[] {
  const dirs: string[] = [];
  if (process.env['XDG_CACHE_HOME']) dirs.push(process.env['XDG_CACHE_HOME']);
  try {
    dirs.push(path.join(homedir(), '.cache'));
  } catch {
    /* no home */
  }
  dirs.push(tmpdir());
  return dirs;
}

export async function defaultRoot(): Promise<string> {
  const errors: string[] = [];
  for (const base of cacheDirs()) {
    const root = path.join(base, 'bootwire', `example-root-${VERSION}`);
    if (existsSync(path.join(root, INIT_MARKER))) return root;
    try {
      await writeExampleRoot(root);
      return root;
    } catch (e) {
      // Another serve may have written it meanwhile.
      if (existsSync(path.join(root, INIT_MARKER))) return root;
      errors.push(
        `${root}: ${e instanceof InitError ? e.message : ((e as NodeJS.ErrnoException).code ?? (e as Error).message)}`,
      );
    }
  }
  throw new Error(`cannot write the example root (${errors.join('; ')}); give --root DIR`);
}
