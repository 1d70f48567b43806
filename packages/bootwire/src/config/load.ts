/**
 * Loading `bootwire.json`: parse, validate, resolve paths against the file's directory. Every problem
 * becomes one ConfigError line that names the field.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { findDuplicateKey } from './duplicate-keys.js';
import { ConfigError } from './errors.js';
import { type BootwireConfig, configSchema } from './schema.js';

export { ConfigError };

/** `dhcp.subnets[0].pool` from zod's path. */
export function fieldName(p: readonly PropertyKey[]): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out || '(top level)';
}

export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${fieldName(i.path)}: ${i.message}`).join('; ');
}

/** Validates an already-parsed document. `baseDir` resolves the relative paths in it. */
export function parseConfig(doc: unknown, baseDir: string): BootwireConfig {
  const r = configSchema.safeParse(doc);
  if (!r.success) throw new ConfigError(formatIssues(r.error));
  const c = r.data;
  if (c.root !== undefined) c.root = path.resolve(baseDir, c.root);
  if (c.dhcp) c.dhcp.leases = path.resolve(baseDir, c.dhcp.leases);
  return c;
}

export async function loadConfig(file: string): Promise<BootwireConfig> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  const dup = findDuplicateKey(text);
  if (dup)
    throw new ConfigError(
      `${file}:${dup.line}: key ${JSON.stringify(dup.key)} written twice in ${dup.path} (first on line ` +
        `${dup.firstLine}); JSON keeps only the last, so bootwire refuses the file`,
    );
  try {
    return parseConfig(doc, path.dirname(path.resolve(file)));
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${file}: ${e.message}`);
    throw e;
  }
}
