#!/usr/bin/env node
/**
 * The files served and uploaded while recording the captures in this folder. Their bytes come from
 * their name alone (SHA-256 in counter mode), so a test can rebuild them and check what a replay
 * delivered without storing them: block i of file N is sha256(`bootwire-capture:N:i`), concatenated
 * and cut to the file's size.
 *
 *   node captures/files.mjs DIR     writes every file into DIR
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Name → size in bytes. Sizes are chosen for their edges: see README.md. */
export const CAPTURE_FILES = {
  // curl, blksize 1468: 68 full blocks and a short one.
  'curl-100k.bin': 100_000,
  // tftp-hpa, 512-byte lock-step: exactly 128 blocks, so the transfer ends with an empty DATA 129.
  'lockstep-64k.bin': 65_536,
  // atftp, blksize 8192 windowsize 16 over a 1500-byte MTU: every DATA arrives in 6 IP fragments.
  'window-300k.bin': 300_000,
  // uploaded with tftp-hpa's put (WRQ).
  'upload-80k.bin': 80_000,
};

/** The bytes of a capture file, from its name and size. */
export function captureFileBytes(name, size) {
  const out = Buffer.allocUnsafe(Math.ceil(size / 32) * 32);
  for (let i = 0; i * 32 < size; i++) {
    createHash('sha256').update(`bootwire-capture:${name}:${i}`).digest().copy(out, i * 32);
  }
  return out.subarray(0, size);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node captures/files.mjs DIR\n');
    process.exit(2);
  }
  mkdirSync(dir, { recursive: true });
  for (const [name, size] of Object.entries(CAPTURE_FILES)) {
    writeFileSync(path.join(dir, name), captureFileBytes(name, size));
  }
}
