/**
 * Helpers for the `bootwire storm` tests: the CLI run as a process (its --json parsed), an init root,
 * and the exact bytes a fleet fetches from a root, file by file, as each model's flow reads them.
 */
import { afterAll, beforeAll, type ExpectStatic } from 'vitest';
import { promises as fs, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findModel } from '../../packages/bootwire/src/phones/models.js';
import { run, type RunResult } from '../helpers/peers.js';

export const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));

/** The --json object of one run (the fields the tests read). */
export interface StormJson {
  phones: number;
  booted: number;
  failed: number;
  wallSeconds: number;
  bootSeconds: { p50: number; p95: number; p99: number; max: number };
  bytes: number;
  retransmits: number;
  server: string;
  goodputBytesPerSecond: number;
  bytesByProtocol: Record<string, number>;
  faults: { dropped: number; duplicated: number; reordered: number };
  imagesDownloaded: number;
  failures: Record<string, number>;
  phases: Record<string, { p50: number; p95: number; p99: number; max: number }>;
  models: Record<string, { phones: number; failed: number; bootSeconds: unknown }>;
  serverCpuSeconds?: number;
  serverPeakRssBytes?: number;
  simulatorCpuSeconds: number;
  simulatorPeakRssBytes: number;
}

export interface StormRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Parsed stdout, when it is JSON. */
  json: unknown;
  /** Wall seconds the process took (reported, never asserted). */
  seconds: number;
  result: RunResult;
}

/** `bootwire storm --no-progress ARGS` (through `wrap`, e.g. `ip netns exec NS`, when given). */
export async function stormCli(args: string[], opts: { timeoutMs?: number } = {}): Promise<StormRun> {
  const t0 = Date.now();
  const result = await run(process.execPath, [CLI, 'storm', '--no-progress', ...args], {
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
  const stdout = result.stdout.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code: result.code, stdout, stderr: result.stderr, json, seconds: (Date.now() - t0) / 1000, result };
}

export async function scratch(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** `bootwire init DIR/root --image-size SIZE`; returns the root. */
export async function initRoot(dir: string, imageSize: string): Promise<string> {
  const root = path.join(dir, 'root');
  const r = await run(process.execPath, [CLI, 'init', root, '--image-size', imageSize], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`bootwire init failed (${r.code}): ${r.stderr}`);
  return root;
}

/**
 * A scratch directory with an init root in it for the whole test file: made before the first test,
 * removed after the last. Read `.dir` and `.root` inside tests (they are set by then).
 */
export function useInitRoot(prefix: string, imageSize: string): { dir: string; root: string } {
  const site = { dir: '', root: '' };
  beforeAll(async () => {
    site.dir = await scratch(prefix);
    site.root = await initRoot(site.dir, imageSize);
  });
  afterAll(async () => {
    if (site.dir) await fs.rm(site.dir, { recursive: true, force: true });
  });
  return site;
}

/** The 40-phone default fleet (4610=30%,1608=10%,9608=30%,1230=10%,440HD=20%), counted by hand. */
export const DEFAULT_40 = { '4610': 12, '1608': 4, '9608': 12, '1230': 4, '440HD': 8 } as const;

/**
 * Bytes one phone of `model` fetches from `root` on its first boot (an image is always new):
 * - Avaya script phones: the upgrade script, the image, the script again (the phone reboots into the
 *   new application and reads it a second time), then the settings file its GET names;
 * - Avaya 1200: the provisioning file, the [FW] image, 12x0_device.cfg ([DEVICE_CONFIG]); SIP<MAC>.cfg
 *   ([USER_CONFIG]) is not in an init root and counts nothing;
 * - AudioCodes 400HD: <MODEL>.img, then <MODEL>.cfg.
 */
export function bytesPerBoot(root: string, modelName: string): number {
  const model = findModel(modelName);
  if (!model) throw new Error(`no model ${modelName}`);
  const size = (f: string) => statSync(path.join(root, f)).size;
  const f = model.files;
  switch (f.format) {
    case 'avaya-script':
      return 2 * size(f.script!) + size(f.image) + size(f.settings);
    case 'sip1200-provisioning':
      return size(f.script!) + size(f.image) + size('12x0_device.cfg');
    case 'audiocodes-url':
      return size(f.image) + size(`${model.name}.cfg`);
  }
}

/** Bytes a fleet of `counts` (model → phones) fetches from `root`. */
export function fleetBytes(root: string, counts: Readonly<Record<string, number>>): number {
  return Object.entries(counts).reduce((n, [m, c]) => n + c * bytesPerBoot(root, m), 0);
}

/** Per-model phone counts of a --json run. */
export const modelPhones = (j: StormJson) =>
  Object.fromEntries(Object.entries(j.models).map(([m, v]) => [m, v.phones]));

/**
 * A run in which every phone booted with every byte: exit 0, no failure, `counts` phones of each model,
 * one image each, and the bytes those models' files hold under `root`. Gives the run's JSON.
 */
export function expectAllBooted(
  expect: ExpectStatic,
  r: StormRun,
  root: string,
  counts: Readonly<Record<string, number>>,
): StormJson {
  expect(r.code, r.stderr).toBe(0);
  const j = r.json as StormJson;
  const n = Object.values(counts).reduce((a, b) => a + b, 0);
  expect([j.phones, j.booted, j.failed, j.imagesDownloaded]).toEqual([n, n, 0, n]);
  expect(j.failures).toEqual({});
  expect(modelPhones(j)).toEqual(counts);
  expect(j.bytes).toBe(fleetBytes(root, counts));
  return j;
}
