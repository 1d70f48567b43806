/**
 * `bootwire leases` and `bootwire leases release` (issue 17, item 4): through the running server's
 * control socket (the server holds its SQLite file exclusively), while it writes; from the file when
 * no server runs; the filters; and the bad inputs (bad arguments, a missing file, a file another
 * process holds, a stale socket from a killed server).
 */
import { spawn } from 'node:child_process';
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteLeaseStore } from '../../packages/dhcp/src/leases/store.js';
import {
  cli,
  doras,
  freeUdpPort,
  mac,
  makeRoot,
  relay,
  scratch,
  siteConfig,
  startServe,
  writeConfig,
} from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await scratch('bw-leases-');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

interface Listed {
  source: string;
  leases: { address: string; mac: string; state: string; subnet: string; expires: string; expiresAt: number }[];
}
const json = <T>(r: { stdout: Buffer }) => JSON.parse(r.stdout.toString('utf8')) as T;

async function site(name: string) {
  const d = path.join(dir, name);
  await fs.mkdir(d);
  await makeRoot(d);
  const relayPort = await freeUdpPort();
  const config = await writeConfig(d, siteConfig(relayPort));
  return { d, relayPort, config, db: path.join(d, 'leases.db') };
}

describe('bootwire leases', () => {
  it('lists and releases through the running server, with filters; the release is stored', async () => {
    const { relayPort, config, db } = await site('running');
    const s = await startServe(['--config', config, '--log-level', 'warn'], ['dhcp']);
    expect(s.stdout()).toContain(`control socket ${db}.sock`);
    expect(statSync(`${db}.sock`).mode & 0o777).toBe(0o600);
    const client = await relay(relayPort, s.ports.dhcp!);
    try {
      const got = await doras(client, 1, 5);
      const address = (i: number) => (got[i]!.ok ? got[i]!.lease.address : '');
      const all = await cli(['leases', '--config', config, '--json']);
      expect(all.code, all.stderr).toBe(0);
      const listed = json<Listed>(all);
      expect(listed.source).toBe('server');
      expect(listed.leases.map((l) => l.mac).sort()).toEqual([1, 2, 3, 4, 5].map(mac));
      const order = listed.leases.map((l) => Number(l.address.split('.')[3]));
      expect(order).toEqual([...order].sort((a, b) => a - b));
      expect(listed.leases.every((l) => l.state === 'bound' && l.subnet === '10.77.0.0/24')).toBe(true);

      const byMac = json<Listed>(await cli(['leases', '--db', db, '--mac', mac(3).toUpperCase(), '--json']));
      expect(byMac.leases.map((l) => l.address)).toEqual([address(2)]);
      const byIp = json<Listed>(await cli(['leases', '--config', config, '--ip', address(4), '--json']));
      expect(byIp.leases.map((l) => l.mac)).toEqual([mac(5)]);
      expect(
        json<Listed>(await cli(['leases', '--config', config, '--subnet', '10.78.0.0/24', '--json'])).leases,
      ).toEqual([]);

      // The table: a header and one line a lease; the count on stderr.
      const table = await cli(['leases', '--config', config]);
      expect(table.stdout.toString().split('\n')[0]).toMatch(/^ADDRESS\s+MAC\s+STATE\s+EXPIRES\s+SUBNET\s+HOSTNAME$/);
      expect(table.stdout.toString().trim().split('\n')).toHaveLength(6);
      expect(table.stderr).toBe('5 leases in force (from the running server)\n');

      const rel = await cli(['leases', 'release', '--config', config, '--ip', address(0)]);
      expect(rel.code, rel.stderr).toBe(0);
      expect(rel.stdout.toString()).toBe(`released ${address(0)} (${mac(1)}, 10.77.0.0/24)\n`);
      const after = json<Listed>(await cli(['leases', '--config', config, '--json']));
      expect(after.leases.map((l) => l.mac)).not.toContain(mac(1));
      expect(
        json<Listed>(await cli(['leases', '--config', config, '--expired', '--json'])).leases.map((l) => [
          l.address,
          l.state,
        ]),
      ).toEqual([[address(0), 'released']]);
      // Releasing it again, or an address nobody has: exit 1 with the reason.
      const twice = await cli(['leases', 'release', '--config', config, '--ip', address(0)]);
      expect(twice.code).toBe(1);
      expect(twice.stderr).toBe(`bootwire: no lease in force for ${address(0)}\n`);
      // By MAC, as JSON.
      const byMacRel = await cli(['leases', 'release', '--db', db, '--mac', mac(2), '--json']);
      expect(byMacRel.code).toBe(0);
      expect(json<{ source: string; released: { address: string }[] }>(byMacRel)).toMatchObject({
        source: 'server',
        released: [{ address: address(1) }],
      });
      // The server still answers, and the released state is on disk once it stops.
      const [more] = await doras(client, 10, 1);
      expect(more!.ok).toBe(true);
    } finally {
      await client.close();
      expect(await s.stop()).toBe(0);
    }
    const store = new SqliteLeaseStore(db);
    try {
      expect(
        store
          .all()
          .filter((l) => l.state === 'released')
          .map((l) => l.mac)
          .sort(),
      ).toEqual([mac(1), mac(2)]);
    } finally {
      store.close();
    }
    // The socket is gone with the server.
    await expect(fs.stat(`${db}.sock`)).rejects.toThrow(/ENOENT/);
  });

  it('while the server writes: listings and a release during a storm of DORAs, no lease lost', async () => {
    const { relayPort, config } = await site('busy');
    const s = await startServe(['--config', config, '--log-level', 'warn'], ['dhcp']);
    const client = await relay(relayPort, s.ports.dhcp!, 10_000);
    try {
      const [first] = await doras(client, 1, 1);
      const storm = doras(client, 100, 80);
      const listings = [];
      for (let i = 0; i < 5; i++) listings.push(await cli(['leases', '--config', config, '--json']));
      const release = await cli([
        'leases',
        'release',
        '--config',
        config,
        '--ip',
        first!.ok ? first!.lease.address : '',
      ]);
      const results = await storm;
      expect(results.every((r) => r.ok)).toBe(true);
      for (const l of listings) {
        expect(l.code, l.stderr).toBe(0);
        expect(json<Listed>(l).source).toBe('server');
      }
      expect(release.code, release.stderr).toBe(0);
      const final = json<Listed>(await cli(['leases', '--config', config, '--json']));
      const macs = new Set(final.leases.map((l) => l.mac));
      for (let i = 100; i < 180; i++) expect(macs.has(mac(i)), mac(i)).toBe(true);
      expect(macs.has(mac(1))).toBe(false);
      expect(new Set(final.leases.map((l) => l.address)).size).toBe(final.leases.length);
    } finally {
      await client.close();
      await s.stop();
    }
  });

  it('with no server: from the file itself; a release there is committed before it is reported', async () => {
    const { relayPort, config, db } = await site('offline');
    const s = await startServe(['--config', config, '--log-level', 'warn'], ['dhcp']);
    const client = await relay(relayPort, s.ports.dhcp!);
    const got = await doras(client, 1, 3);
    await client.close();
    await s.stop();
    const listed = await cli(['leases', '--db', db, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(json<Listed>(listed)).toMatchObject({ source: 'file' });
    expect(json<Listed>(listed).leases).toHaveLength(3);
    const a = got[1]!.ok ? got[1]!.lease.address : '';
    const rel = await cli(['leases', 'release', '--config', config, '--ip', a]);
    expect(rel.code, rel.stderr).toBe(0);
    expect(rel.stdout.toString()).toBe(`released ${a} (${mac(2)}, 10.77.0.0/24)\n`);
    // A server started afterwards sees it released, and gives the address to a newcomer when it must.
    const store = new SqliteLeaseStore(db);
    expect(store.get(a)!.state).toBe('released');
    store.close();
  });

  it(
    'a server killed with -9 leaves a stale socket: the command reads the file, a new server takes ' +
      'the socket over',
    async () => {
      const { relayPort, config, db } = await site('stale');
      const s = await startServe(['--config', config, '--log-level', 'warn'], ['dhcp']);
      const client = await relay(relayPort, s.ports.dhcp!);
      await doras(client, 1, 2);
      await client.close();
      s.signal('SIGKILL');
      await s.exited;
      expect(statSync(`${db}.sock`).isSocket()).toBe(true);
      const listed = await cli(['leases', '--config', config, '--json']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(json<Listed>(listed)).toMatchObject({ source: 'file' });
      expect(json<Listed>(listed).leases).toHaveLength(2);
      const again = await startServe(['--config', config, '--log-level', 'warn'], ['dhcp']);
      try {
        expect(again.stdout()).toContain(`control socket ${db}.sock`);
        expect(json<Listed>(await cli(['leases', '--config', config, '--json'])).source).toBe('server');
      } finally {
        await again.stop();
      }
    },
  );

  it(
    'bad inputs: arguments (exit 2), a missing file, a file held by a process with no control socket ' + '(exit 1)',
    async () => {
      const { config, db } = await site('bad');
      for (const args of [
        ['leases'],
        ['leases', '--config', config, '--db', db],
        ['leases', '--db', db, '--mac', 'zz:zz'],
        ['leases', '--db', db, '--ip', '10.0.0.300'],
        ['leases', '--db', db, '--subnet', '10.0.0.0/40'],
        ['leases', 'release', '--db', db],
        ['leases', '--config', path.join(dir, 'nope.json')],
      ]) {
        const r = await cli(args);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      }
      const missing = await cli(['leases', '--db', path.join(dir, 'none.db')]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe(`bootwire: no leases file ${path.join(dir, 'none.db')}\n`);
      expect(await fs.stat(path.join(dir, 'none.db')).catch(() => 'absent')).toBe('absent');

      // Another process holds the file (the server's exclusive lock) and has no control socket.
      new SqliteLeaseStore(db).close();
      const storeModule = fileURLToPath(new URL('../../packages/dhcp/dist/leases/store.js', import.meta.url));
      const holder = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const { SqliteLeaseStore } = await import(${JSON.stringify(storeModule)}); const s = new ` +
            `SqliteLeaseStore(${JSON.stringify(db)}); s.put({ address: '10.77.0.5', clientKey: 'mac:x', mac: ` +
            `'00:00:00:00:00:05', subnet: '10.77.0.0/24', state: 'bound', expiresAt: Date.now() + 60000 }); ` +
            `s.flush(); process.stdout.write('held\\n'); setInterval(() => {}, 1000);`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      try {
        await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
        const held = await cli(['leases', '--db', db]);
        expect(held.code).toBe(1);
        expect(held.stderr).toMatch(
          /^bootwire: .*leases\.db is held by another process whose control socket does not answer/,
        );
      } finally {
        holder.kill('SIGKILL');
      }
    },
  );
});
