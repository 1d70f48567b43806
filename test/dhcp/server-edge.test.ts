/**
 * The DHCP server's edge on loopback: option 54 from a route lookup when nothing is configured
 * (issue 12), replies withheld while the lease file cannot be written and resumed after (issue 13),
 * a pool's exhaustion said once (issue 14).
 */
import { spawnSync } from 'node:child_process';
import fsDefault, { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../packages/bootwire/src/config/load.js';
import { RelayClient } from '../../packages/dhcp/src/client/relay-client.js';
import { DhcpServer } from '../../packages/dhcp/src/server/server.js';
import { IS_ROOT } from '../helpers/peers.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-dhcp-edge-'));
});
afterAll(async () => {
  spawnSync('chattr', ['-R', '-i', dir]);
  await fs.rm(dir, { recursive: true, force: true });
});

const mac = (i: number) => `00:04:0d:00:01:${i.toString(16).padStart(2, '0')}`;

/**
 * A server listening on the wildcard address with no serverId, serving 10.77.0.0/16 it has no address
 * in; the phones' relay is 127.0.0.2 and names the subnet by link selection.
 */
async function setup(name: string, pool = '10.77.1.1-10.77.1.200', classes: unknown[] = []) {
  const client = await RelayClient.open({
    bind: { address: '127.0.0.2', port: 0 },
    server: { host: '127.0.0.1', port: 0 },
    timeoutMs: 200,
    retries: 2,
    linkSelection: '10.77.0.0',
  });
  const cfg = parseConfig(
    {
      dhcp: {
        listen: '0.0.0.0:0',
        leases: path.join(dir, `${name}.db`),
        relayPort: client.address.port,
        subnets: [{ subnet: '10.77.0.0/16', pool, leaseSeconds: 600 }],
        classes,
      },
    },
    dir,
  );
  const srv = await DhcpServer.start({ config: cfg.dhcp!, localAddresses: [] });
  client.setServer({ host: '127.0.0.1', port: srv.address().port });
  const log: string[] = [];
  srv.on('warning', (m) => log.push(`warning: ${m}`));
  srv.on('alert', (m) => log.push(`alert: ${m}`));
  return { client, srv, log, file: cfg.dhcp!.leases, close: async () => (await client.close(), await srv.close()) };
}

describe('DHCP server edge', () => {
  it(
    'relayed, no serverId, wildcard listen: OFFER and ACK name the address the reply leaves from ' + 'toward the relay',
    async () => {
      const t = await setup('route');
      try {
        const results = await Promise.all(
          [1, 2, 3].map((i) => t.client.dora({ mac: mac(i), requestedOptions: [1, 3] })),
        );
        for (const r of results) {
          expect(r.ok, r.ok ? '' : r.error).toBe(true);
          if (r.ok) expect(r.lease.serverId).toBe('127.0.0.1'); // the route toward 127.0.0.2 leaves from 127.0.0.1
        }
        expect(t.srv.stats()).toMatchObject({ sent: { OFFER: 3, ACK: 3 }, routeDrops: 0 });
      } finally {
        await t.close();
      }
    },
  );

  it(
    'an ACK leaves only after the WAL holding its lease is on disk (fdatasync), and the server goes ' + 'on meanwhile',
    async () => {
      const t = await setup('durable');
      const held: (() => void)[] = [];
      const real = fsDefault.fdatasync;
      const spy = vi
        .spyOn(fsDefault, 'fdatasync')
        .mockImplementation((fd: number, cb: (e: NodeJS.ErrnoException | null) => void) => {
          held.push(() => real(fd, cb));
        });
      try {
        const done = new Set<number>();
        const dora = (i: number) =>
          t.client
            .dora({ mac: mac(i), requestedOptions: [1] }, { timeoutMs: 20_000, retries: 0 })
            .then((r) => (done.add(i), r));
        const until = async (cond: () => boolean) => {
          while (!cond()) await new Promise((r) => setTimeout(r, 5));
        };
        const first = dora(1);
        await until(() => held.length === 1);
        // Phone 1's lease is committed and its sync held: its ACK is decided but not sent.
        expect(t.srv.stats().sent.ACK).toBe(1);
        expect(done.has(1)).toBe(false);
        // Meanwhile phone 2 is served up to its ACK, which waits for the next sync (one at a time).
        const second = dora(2);
        await until(() => t.srv.stats().sent.ACK === 2);
        expect(held.length).toBe(1);
        expect([done.has(1), done.has(2)]).toEqual([false, false]);
        spy.mockRestore();
        held[0]!();
        const [a, b] = await Promise.all([first, second]);
        expect(a.ok && b.ok).toBe(true);
      } finally {
        spy.mockRestore();
        await t.close();
      }
    },
  );

  it(
    'a hostile option 60 against a (a+)+$ class is answered, and so are the phones beside it',
    { timeout: 10_000 },
    async () => {
      const t = await setup('redos', undefined, [
        { name: 'redos', match: { vendorClass: { regex: '(a+)+$' } }, options: { '67': 'a.scr' } },
      ]);
      try {
        const hostile = ['a'.repeat(28) + '!', 'a'.repeat(254) + '!'];
        const results = await Promise.all([
          ...hostile.map((vendorClass, i) =>
            t.client.dora({ mac: mac(0x40 + i), vendorClass, requestedOptions: [1, 67] }),
          ),
          ...[1, 2, 3].map((i) =>
            t.client.dora({ mac: mac(0x50 + i), vendorClass: 'aaaa', requestedOptions: [1, 67] }),
          ),
        ]);
        expect(results.map((r) => r.ok)).toEqual([true, true, true, true, true]);
        expect(results.map((r) => (r.ok ? r.lease.ack.options.get(67) : 'failed'))).toEqual([
          undefined,
          undefined,
          'a.scr',
          'a.scr',
          'a.scr',
        ]);
      } finally {
        await t.close();
      }
    },
  );

  it('a full pool is said once, not per DISCOVER', async () => {
    const t = await setup('exhausted', '10.77.1.1-10.77.1.2');
    try {
      for (let i = 0; i < 6; i++) await t.client.dora({ mac: mac(i), requestedOptions: [1] }, { retries: 0 });
      expect(t.log.filter((l) => /exhausted/.test(l))).toEqual([
        'warning: pool of 10.77.0.0/16 exhausted: all 2 addresses leased, offered or quarantined; ' +
          'DISCOVERs from it go unanswered until one is free (said once until then)',
      ]);
    } finally {
      await t.close();
    }
  });

  it(
    'lease files made immutable: replies withheld with one clear error, no crash; served again once ' + 'writable',
    async (ctx) => {
      if (!IS_ROOT) return ctx.skip('needs root (chattr +i)');
      const t = await setup('immutable');
      try {
        expect((await t.client.dora({ mac: mac(1), requestedOptions: [1] })).ok).toBe(true);
        const chattr = spawnSync('sh', ['-c', `chattr +i ${t.file}*`], { encoding: 'utf8' });
        if (chattr.status !== 0)
          return ctx.skip(`the filesystem of ${os.tmpdir()} does not support chattr +i: ${chattr.stderr.trim()}`);
        const failed = await t.client.dora({ mac: mac(2), requestedOptions: [1] });
        expect(failed.ok).toBe(false);
        expect(t.srv.stats().withheld).toBeGreaterThan(0);
        expect(t.log.filter((l) => l.startsWith('alert:'))).toEqual([
          expect.stringMatching(
            new RegExp(
              `^alert: cannot write leases file ${t.file.replaceAll('.', '\\.')}: .*: DHCP replies withheld ` +
                `until the leases can be stored`,
            ),
          ),
        ]);
        spawnSync('sh', ['-c', `chattr -i ${t.file}*`]);
        const again = await t.client.dora({ mac: mac(2), requestedOptions: [1] });
        expect(again.ok).toBe(true);
        expect(t.log.at(-1)).toMatch(/^alert: leases stored again/);
      } finally {
        spawnSync('sh', ['-c', `chattr -i ${t.file}*`]);
        await t.close();
      }
    },
  );
});
