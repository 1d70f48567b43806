/**
 * `bootwire serve` with its lease file in trouble (issue 13), as a user would meet it:
 * - a corrupt leases.db: the server does not start, the message names the file, the file is untouched;
 * - the disk fills up while running: replies are withheld with one error, and SIGTERM still ends the
 *   process cleanly (exit 0, no uncaught SqliteError). The disk is a 1 MiB tmpfs mounted in a mount
 *   namespace of the server's own (`unshare --mount`), so nothing outlives the test.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayClient } from '../../packages/dhcp/src/client/relay-client.js';
import { findBinary, IS_ROOT } from '../helpers/peers.js';

const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));
const UNSHARE = findBinary('unshare', 'util-linux');
const NSENTER = findBinary('nsenter', 'util-linux');

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-dhcp-leases-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const sha = async (f: string) =>
  createHash('sha256')
    .update(await fs.readFile(f))
    .digest('hex');

/** A DHCP-only config on loopback; replies to relays go to `relayPort`. */
async function config(name: string, leases: string, relayPort: number): Promise<string> {
  const file = path.join(dir, `${name}.json`);
  await fs.writeFile(
    file,
    JSON.stringify({
      dhcp: {
        listen: '127.0.0.1:0',
        leases,
        relayPort,
        subnets: [{ subnet: '127.0.0.0/8', pool: '127.3.0.1-127.3.0.200', leaseSeconds: 600 }],
      },
    }),
  );
  return file;
}

/** Runs `cmd` until it prints `ready` (resolves with the output so far) or exits (rejects). */
function started(
  proc: ChildProcess,
  ready: RegExp,
): { out: () => string; ready: Promise<string>; exit: Promise<{ code: number | null; signal: string | null }> } {
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: string | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  const readyP = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not ready in 15 s: ${out}`)), 15_000);
    const check = () => {
      if (ready.test(out)) {
        clearTimeout(t);
        resolve(out);
      }
    };
    proc.stdout!.on('data', check);
    void exit.then((e) => {
      clearTimeout(t);
      reject(new Error(`exited ${e.code ?? e.signal}: ${out}`));
    });
  });
  readyP.catch(() => {});
  return { out: () => out, ready: readyP, exit };
}

describe('bootwire serve with its lease file in trouble', () => {
  it('a corrupt leases.db: the server does not start, names the file, and leaves it untouched', async () => {
    const leases = path.join(dir, 'corrupt.db');
    await fs.writeFile(leases, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(8176, 0x5a)]));
    const before = await sha(leases);
    const proc = spawn(process.execPath, [CLI, 'serve', '--config', await config('corrupt', leases, 9)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const s = started(proc, /dhcp listening/);
    const e = await s.exit;
    expect(e.code, s.out()).toBe(2);
    expect(s.out()).toMatch(
      new RegExp(
        `cannot open leases file ${leases.replaceAll('.', '\\.')}: (file is not a database|database disk ` +
          `image is malformed)`,
      ),
    );
    expect(await sha(leases)).toBe(before);
    expect((await fs.readdir(dir)).filter((f) => f.startsWith('corrupt.db'))).toEqual(['corrupt.db']);
  });

  it(
    'a full disk: replies withheld with one error; SIGTERM then ends the server cleanly',
    { timeout: 60_000 },
    async (ctx) => {
      if (!IS_ROOT) return ctx.skip('needs root (a tmpfs in a mount namespace)');
      if (!UNSHARE || !NSENTER) return ctx.skip('unshare/nsenter (util-linux) missing');
      const disk = path.join(dir, 'disk');
      await fs.mkdir(disk);
      const client = await RelayClient.open({
        bind: { address: '127.0.0.2', port: 0 },
        server: { host: '127.0.0.1', port: 0 },
        timeoutMs: 200,
        retries: 2,
      });
      const cfg = await config('full', path.join(disk, 'leases.db'), client.address.port);
      // The tmpfs exists only in the server's mount namespace; `exec` keeps the pid (for nsenter).
      const proc = spawn(
        UNSHARE,
        [
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          `mount -t tmpfs -o size=1m bwfull "${disk}" && exec "${process.execPath}" "${CLI}` +
            `" serve --config "${cfg}" --log-level warn`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const s = started(proc, /dhcp listening on 127\.0\.0\.1:(\d+)/);
      try {
        await s.ready;
        client.setServer({ host: '127.0.0.1', port: Number(/dhcp listening on 127\.0\.0\.1:(\d+)/.exec(s.out())![1]) });
        const mac = (i: number) => `00:04:0d:00:02:${i.toString(16).padStart(2, '0')}`;
        expect((await client.dora({ mac: mac(1), requestedOptions: [1] })).ok, s.out()).toBe(true);
        // Fill the server's disk from inside its mount namespace.
        const fill = spawnSync(
          NSENTER,
          ['-t', String(proc.pid), '-m', 'sh', '-c', `dd if=/dev/zero of="${disk}/fill" bs=64k 2>&1; df -k "${disk}"`],
          { encoding: 'utf8', timeout: 10_000 },
        );
        expect(fill.stdout, fill.stderr).toMatch(/No space left on device/);
        const results = await Promise.all(
          [2, 3, 4, 5, 6, 7, 8, 9].map((i) => client.dora({ mac: mac(i), requestedOptions: [1] })),
        );
        expect(results.filter((r) => r.ok).length, s.out()).toBeLessThan(8);
        expect(s.out()).toMatch(
          /cannot write leases file .*leases\.db: .*: DHCP replies withheld until the leases can be stored/,
        );
        expect(s.out().match(/replies withheld/g)).toHaveLength(1);
        proc.kill('SIGTERM');
        const e = await s.exit;
        expect(e, s.out()).toEqual({ code: 0, signal: null });
        expect(s.out()).not.toMatch(/SqliteError|Uncaught|at .*\.js:\d+/);
        expect(s.out()).toMatch(/leases not stored at shutdown: cannot write leases file/);
      } finally {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        await client.close();
      }
    },
  );
});
