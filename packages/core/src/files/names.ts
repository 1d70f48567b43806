/**
 * Name rules shared by TFTP, HTTP and FTP: a requested name is folded to lowercase (dnsmasq's
 * --tftp-lowercase: ASCII letters, before anything else), then rewritten by tftpd-hpa remap rules
 * (remap.ts). The same rules apply to every protocol, so a phone that asks for `SIPDefault.cnf` over
 * TFTP and `/sipdefault.cnf` over HTTP gets the same file.
 */
import { readFile } from 'node:fs/promises';
import type { ClientInfo, FileRequest, NameMapper, NameResult } from './resolver.js';
import { applyRemap, parseRemapRules, type RemapRules } from './remap.js';

export interface NameRulesOptions {
  /** Fold names to lowercase first (ASCII letters only). */
  lowercase?: boolean;
  /** Rules in tftpd-hpa's `-m` format, already parsed. */
  remap?: RemapRules;
}

export class RemapFileError extends Error {
  override name = 'RemapFileError';
}

/** Reads and checks a remap file; a bad line refuses it with the file and line named. */
export async function loadRemapFile(file: string): Promise<RemapRules> {
  let text: string;
  try {
    text = await readFile(file, 'latin1');
  } catch (e) {
    throw new RemapFileError(
      `cannot read remap file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const parsed = parseRemapRules(text);
  if (!parsed.ok) throw new RemapFileError(`remap file ${file}, line ${parsed.line}: ${parsed.message}`);
  return parsed.rules;
}

const toLower = (s: string) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/** A NameMapper from the options; undefined when there is nothing to map (the hot path skips it). */
export function nameRules(o: NameRulesOptions): NameMapper | undefined {
  const { lowercase, remap } = o;
  const hasRules = remap !== undefined && remap.rules.length > 0;
  if (!lowercase && !hasRules) return undefined;
  return (request: FileRequest, client: ClientInfo, op: 'read' | 'write'): NameResult => {
    const name = lowercase ? toLower(request.name) : request.name;
    if (!hasRules) return { ok: true, name };
    return applyRemap(remap, name, {
      op: op === 'read' ? 'G' : 'P',
      address: client.address,
      ...(client.phone ? { phone: client.phone } : {}),
    });
  };
}
