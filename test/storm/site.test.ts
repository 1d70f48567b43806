/**
 * `bootwire storm --site`: the fleet in voice subnets behind ISC dhcrelay, the server behind a shaped
 * uplink, all in network namespaces the storm makes and deletes (root). Real DHCP through the relay
 * (bootwire with no address on the phones' subnets, Kea and dnsmasq for the peers), each phone sending
 * from the address its lease gave it; windows through an uplink queue they overrun, with no loss.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Site } from '../../packages/bootwire/src/storm/site.js';
import { needBinary, PEERS, requireRoot, useAll } from '../helpers/peers.js';
import { CLI, fleetBytes, modelPhones, stormCli, type StormJson, useInitRoot } from './helpers.js';

const init = useInitRoot('bw-storm-site-', '128k');
const KEA = needBinary('kea-dhcp4', 'kea-dhcp4-server');
const UNSHARE = needBinary('unshare', 'util-linux');
const PING = needBinary('ping', 'iputils-ping');

const ourNamespaces = (): string[] => [
  ...(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.match(/^bwsite-\S+/gm) ?? []),
];

type SiteJson = StormJson & { uplink?: { packets: number; dropped: number } };

describe('bootwire storm --site', () => {
  it(
    '30 phones in 3 voice subnets get their leases through dhcrelay and boot from bootwire behind a 1 Gbit/s uplink',
    { timeout: 120_000 },
    async (ctx) => {
      requireRoot(ctx);
      useAll(ctx, PEERS.dhcrelay, PEERS.ip);
      const before = ourNamespaces();
      const r = await stormCli(['--site', '--voice-subnets', '3', '--phones', '30', '--image-size', '128k', '--json'], {
        timeoutMs: 110_000,
      });
      expect(r.code, r.stderr).toBe(0);
      const run = r.json as SiteJson;
      expect([run.server, run.phones, run.booted, run.failed, run.imagesDownloaded]).toEqual([
        'bootwire',
        30,
        30,
        0,
        30,
      ]);
      expect(run.failures).toEqual({});
      expect(Object.keys(run.phases)).toEqual(['dhcp', 'script', 'image', 'settings']);
      // Every byte crossed the shaped uplink (the phones' HTTP and TFTP both): its queue counted them.
      expect(run.uplink!.packets).toBeGreaterThan(run.bytes / 1500);
      expect(ourNamespaces().filter((n) => !before.includes(n))).toEqual([]);
    },
  );

  it(
    "a site: voice subnets with the phones' own addresses, a server with none on them, routed through the router",
    { timeout: 60_000 },
    async (ctx) => {
      requireRoot(ctx);
      useAll(ctx, PING, PEERS.ip);
      const site = Site.create({ voiceSubnets: 2, phonesPerSubnet: 3 });
      try {
        expect(site.voice.map((v) => [v.cidr, v.gateway, v.phones])).toEqual([
          ['10.78.0.0/24', '10.78.0.1', ['10.78.0.10', '10.78.0.11', '10.78.0.12']],
          ['10.78.1.0/24', '10.78.1.1', ['10.78.1.10', '10.78.1.11', '10.78.1.12']],
        ]);
        // The server has no address on the voice subnets, only a route through the router.
        const addrs = spawnSync('ip', ['-n', site.server.name, '-4', '-o', 'addr'], { encoding: 'utf8' }).stdout;
        expect(addrs).toContain('10.79.0.1/24');
        expect(addrs).not.toContain('10.78.');
        // A phone's address reaches the server through the router.
        const ping = spawnSync(
          'ip',
          ['netns', 'exec', site.voice[1]!.name, PING.path!, '-c', '1', '-W', '2', '-I', '10.78.1.12', '10.79.0.1'],
          { encoding: 'utf8' },
        );
        expect(ping.status, ping.stdout + ping.stderr).toBe(0);
      } finally {
        site.destroy();
      }
      expect(ourNamespaces().filter((n) => n.includes(site.id))).toEqual([]);
    },
  );

  it(
    'windows through an uplink queue they overrun: the queue refuses datagrams, none is lost, nothing is resent',
    { timeout: 120_000 },
    async (ctx) => {
      requireRoot(ctx);
      useAll(ctx, PEERS.ip);
      // 20 phones asking windows of 16 x 1428 bytes at once (460 KB) into a 50 Mbit/s uplink with a 2 ms
      // queue (about 76 KB with its 64 KiB bucket).
      const r = await stormCli(
        [
          '--site',
          '--dhcp',
          'none',
          '--protocols',
          'tftp',
          '--uplink',
          '50mbit',
          '--uplink-queue',
          '2',
          '--client-windowsize',
          '16',
          '--client-blksize',
          '1428',
          '--phones',
          '20',
          '--image-size',
          '128k',
          '--json',
        ],
        { timeoutMs: 110_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      const run = r.json as SiteJson;
      expect([run.booted, run.failed]).toEqual([20, 0]);
      expect(run.uplink!.dropped).toBeGreaterThan(0);
      expect(run.retransmits).toBe(0);
    },
  );

  it(
    'the peers in the same site: atftpd with Kea, and dnsmasq, serve the same fleet through the same relay',
    { timeout: 180_000 },
    async (ctx) => {
      requireRoot(ctx);
      useAll(ctx, PEERS.dhcrelay, PEERS.atftpd, PEERS.dnsmasq, KEA, PEERS.ip);
      const r = await stormCli(
        ['--site', '--phones', '20', '--image-size', '128k', '--compare', 'atftpd,dnsmasq', '--json'],
        { timeoutMs: 170_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      const { runs } = r.json as { runs: SiteJson[] };
      expect(runs.map((x) => x.server)).toEqual(['bootwire', 'atftpd+kea', 'dnsmasq']);
      const counts = { '4610': 6, '1608': 2, '9608': 6, '1230': 2, '440HD': 4 };
      const bytes = fleetBytes(init.root, counts);
      for (const run of runs) {
        expect([run.server, run.booted, run.failed, run.imagesDownloaded], JSON.stringify(run.failures)).toEqual([
          run.server,
          20,
          0,
          20,
        ]);
        expect(modelPhones(run)).toEqual(counts);
        expect(run.bytesByProtocol, run.server).toEqual({ tftp: bytes });
        expect(Object.keys(run.phases)).toEqual(['dhcp', 'script', 'image', 'settings']);
        expect(run.serverCpuSeconds, run.server).toBeGreaterThan(0);
      }
    },
  );

  it('without root it says so and exits 2', { timeout: 30_000 }, async (ctx) => {
    requireRoot(ctx); // to become someone else
    // A new user namespace with no mapping: uid 65534 and no capabilities, while files are still reached
    // as their owner (a user switch could not read a checkout in a mode-700 directory such as mktemp's).
    const unshare = UNSHARE.use(ctx);
    const r = spawnSync(
      unshare,
      ['--user', process.execPath, CLI, 'storm', '--site', '--phones', '2', '--no-progress'],
      {
        encoding: 'utf8',
        timeout: 25_000,
      },
    );
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--site .*needs root/);
  });
});
