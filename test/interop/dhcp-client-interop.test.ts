/**
 * bootwire's relay-style DHCP client (RelayClient) against the C/C++ servers people run: dnsmasq and
 * ISC Kea. One network namespace per server, with a veth pair inside it; bwv0 carries two addresses:
 *
 *   10.99.0.1/16  the server (port 67)
 *   10.99.0.2/16  the RelayClient's socket (port 67): giaddr 10.99.0.2, where replies come back
 *
 * The test process stays outside the namespace: the client side is a small node script run with
 * `ip netns exec NS node client.mjs`, which imports packages/dhcp/dist/index.js, runs 50 phones' DORAs at
 * once and prints one JSON result per phone. Each phone must get its own address in the pool and
 * option 66 (tftp-server-name) from each server.
 *
 * Server flags worth knowing (found while writing this):
 * - dnsmasq pings every address before offering it (ICMP echo, up to 3 s, and DHCP waits meanwhile):
 *   --no-ping, or 50 relayed phones take minutes and most time out.
 * - dnsmasq does not unquote command-line values: `--dhcp-option=66,"10.99.0.1"` given without a
 *   shell sends the quotes. It also NUL-terminates option 66 ("10.99.0.1\0").
 * - Debian's kea-dhcp4 wants /run/kea for its PID file and logger lock file (created by its systemd
 *   unit, absent here): KEA_PIDFILE_DIR and KEA_LOCKFILE_DIR point them at a scratch directory.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, killAllDaemons, startDaemon } from '../helpers/daemon.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { IS_ROOT, PEERS, requireRoot, run, useAll } from '../helpers/peers.js';
import { ipToInt } from '../../packages/core/src/ipv4.js';

const DHCP_INDEX = fileURLToPath(new URL('../../packages/dhcp/dist/index.js', import.meta.url));
const PHONES = 50;
const SERVER = '10.99.0.1';
const RELAY = '10.99.0.2';

let dir: string;

/** Is something of `program` listening on SERVER:67 in the namespace? */
async function listening(ns: Netns, program: string): Promise<boolean> {
  const r = await ns.exec('ss', ['-Hulnp', 'sport = :67'], { timeoutMs: 5000 });
  const text = r.stdout.toString();
  return new RegExp(`(${SERVER.replaceAll('.', '\\.')}|0\\.0\\.0\\.0|\\*):67\\b`).test(text) && text.includes(program);
}

/** A namespace with bwv0 (10.99.0.1/16 and 10.99.0.2/16) and its veth peer bwv1, both up. */
/** `body` against a peer it starts in a fresh server namespace (`track` it): stopped and deleted after. */
async function inServerNamespace(body: (ns: Netns, track: (d: Daemon) => Daemon) => Promise<void>): Promise<void> {
  const ns = await serverNamespace();
  let server: Daemon | undefined;
  try {
    await body(ns, (d) => (server = d));
  } finally {
    await server?.stop();
    await ns.delete();
  }
}

async function serverNamespace(): Promise<Netns> {
  const ns = await createNetns();
  try {
    for (const args of [
      ['link', 'add', 'bwv0', 'type', 'veth', 'peer', 'name', 'bwv1'],
      ['addr', 'add', `${SERVER}/16`, 'dev', 'bwv0'],
      ['addr', 'add', `${RELAY}/16`, 'dev', 'bwv0'],
      ['link', 'set', 'bwv0', 'up'],
      ['link', 'set', 'bwv1', 'up'],
    ]) {
      const r = await run('ip', ['-n', ns.name, ...args], { timeoutMs: 10_000 });
      if (r.code !== 0) throw new Error(`ip -n ${ns.name} ${args.join(' ')}: ${r.stderr}`);
    }
  } catch (e) {
    await ns.delete().catch(() => {});
    throw e;
  }
  return ns;
}

/** The client side, run inside the namespace: N phones' DORAs through one RelayClient, JSON out. */
const CLIENT_SCRIPT = `
const { RelayClient } = await import(${JSON.stringify(DHCP_INDEX)});
const [count, server, bind] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const client = await RelayClient.open({
  bind: { address: bind, port: 67 }, server: { host: server, port: 67 }, timeoutMs: 1000, retries: 4,
});
const hex = (n) => n.toString(16).padStart(2, '0');
const results = await Promise.all(Array.from({ length: count }, async (_, i) => {
  const mac = '00:04:0d:99:' + hex(i >> 8) + ':' + hex(i & 255);
  const r = await client.dora({
    mac, vendorClass: 'ccp.avaya.com', requestedOptions: [1, 3, 6, 66, 67], requireLeaseTime: true,
  });
  if (!r.ok) return { mac, ok: false, error: r.error, retransmits: r.retransmits };
  const o66 = r.lease.ack.options.raw(66);
  return { mac, ok: true, address: r.lease.address, serverId: r.lease.serverId, leaseSeconds: r.lease.leaseSeconds,
    opt66: o66 === undefined ? null : Buffer.from(o66).toString('latin1'), retransmits: r.lease.retransmits };
}));
await client.close();
process.stdout.write(JSON.stringify(results) + '\\n');
`;

interface PhoneResult {
  mac: string;
  ok: boolean;
  error?: string;
  address?: string;
  serverId?: string;
  leaseSeconds?: number;
  opt66?: string | null;
  retransmits: number;
}

async function runPhones(ns: Netns, count: number): Promise<PhoneResult[]> {
  const script = path.join(dir, 'client.mjs');
  await fs.writeFile(script, CLIENT_SCRIPT);
  const r = await ns.exec(process.execPath, [script, String(count), SERVER, RELAY], { timeoutMs: 60_000 });
  if (r.code !== 0)
    throw new Error(`client script failed (${r.code ?? r.signal}${r.timedOut ? ', timed out' : ''}): ${r.stderr}`);
  return JSON.parse(r.stdout.toString()) as PhoneResult[];
}

function expectLeases(results: PhoneResult[], log: string): void {
  const failed = results.filter((r) => !r.ok);
  expect(failed, `${JSON.stringify(failed.slice(0, 5))}\n--- server ---\n${log.slice(-4000)}`).toEqual([]);
  expect(results).toHaveLength(PHONES);
  const addresses = results.map((r) => r.address!);
  expect(new Set(addresses).size).toBe(PHONES);
  for (const r of results) {
    const a = ipToInt(r.address!);
    expect(a >= ipToInt('10.99.1.1') && a <= ipToInt('10.99.200.254'), `${r.address} outside the pool`).toBe(true);
    expect(r.serverId).toBe(SERVER);
    expect(r.leaseSeconds).toBe(600);
    // dnsmasq NUL-terminates option 66; Kea does not.
    expect(r.opt66?.replace(/\0+$/, '')).toBe(SERVER);
  }
}

beforeAll(async () => {
  if (!IS_ROOT) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-dhcp-client-'));
});

afterAll(async () => {
  killAllDaemons();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe("bootwire's RelayClient against dnsmasq and Kea, in a network namespace", () => {
  it(`dnsmasq gives ${PHONES} relayed phones distinct addresses and option 66`, { timeout: 120_000 }, async (ctx) => {
    const [dnsmasq] = useAll(ctx, PEERS.dnsmasq, PEERS.ip, PEERS.ss);
    requireRoot(ctx);
    await inServerNamespace(async (ns, track) => {
      const leases = path.join(dir, 'dnsmasq.leases');
      const log = path.join(dir, 'dnsmasq.log');
      const server = track(
        await startDaemon(
          ns,
          'dnsmasq',
          dnsmasq!,
          [
            '--keep-in-foreground',
            '--conf-file=/dev/null',
            '--port=0',
            '--no-resolv',
            '--no-hosts',
            '--pid-file=',
            '--dhcp-range=10.99.1.1,10.99.200.254,255.255.0.0,600',
            `--listen-address=${SERVER}`,
            '--bind-interfaces',
            `--dhcp-leasefile=${leases}`,
            `--dhcp-option=66,${SERVER}`,
            '--dhcp-lease-max=100000',
            '--no-ping',
            `--log-facility=${log}`,
            '--user=root',
            '--group=root',
          ],
          () => listening(ns, 'dnsmasq'),
        ),
      );
      const results = await runPhones(ns, PHONES);
      const text = await fs.readFile(log, 'utf8').catch(() => '');
      expectLeases(results, `${server.out()}\n${text}`);
      // dnsmasq wrote every lease to its file, and logged the relayed exchanges.
      const lines = (await fs.readFile(leases, 'utf8')).split('\n').filter(Boolean);
      expect(lines).toHaveLength(PHONES);
      for (const r of results) expect(lines.some((l) => l.includes(` ${r.mac} ${r.address} `))).toBe(true);
      expect(text).toMatch(/DHCPACK\(bwv0\)/);
      expect(server.proc.exitCode).toBeNull();
    });
  });

  it(`Kea gives ${PHONES} relayed phones distinct addresses and option 66`, { timeout: 120_000 }, async (ctx) => {
    const [kea] = useAll(ctx, PEERS.kea, PEERS.ip, PEERS.ss);
    requireRoot(ctx);
    await inServerNamespace(async (ns, track) => {
      const runDir = path.join(dir, 'kea-run');
      await fs.mkdir(runDir, { recursive: true });
      const leases = path.join(dir, 'kea-leases4.csv');
      const conf = path.join(dir, 'kea-dhcp4.json');
      await fs.writeFile(
        conf,
        JSON.stringify({
          Dhcp4: {
            'interfaces-config': { interfaces: [`bwv0/${SERVER}`], 'dhcp-socket-type': 'udp' },
            'lease-database': { type: 'memfile', persist: true, name: leases, 'lfc-interval': 0 },
            'valid-lifetime': 600,
            subnet4: [
              {
                id: 1,
                subnet: '10.99.0.0/16',
                pools: [{ pool: '10.99.1.1-10.99.200.254' }],
                'option-data': [{ name: 'tftp-server-name', data: SERVER }],
              },
            ],
            loggers: [{ name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'INFO' }],
          },
        }),
      );
      const server = track(
        await startDaemon(
          ns,
          'kea-dhcp4',
          kea!,
          ['-c', conf],
          async (out) => /DHCP4_STARTED/.test(out) && (await listening(ns, 'kea-dhcp4')),
          { ...process.env, KEA_PIDFILE_DIR: runDir, KEA_LOCKFILE_DIR: runDir },
        ),
      );
      const results = await runPhones(ns, PHONES);
      expectLeases(results, server.out());
      // The memfile (persist: true) holds every lease: a header line, then one line per lease.
      const rows = (await fs.readFile(leases, 'utf8')).split('\n').filter(Boolean).slice(1);
      expect(new Set(rows.map((l) => l.split(',')[0])).size).toBe(PHONES);
      expect(server.out()).toMatch(/DHCP4_LEASE_ALLOC/);
      expect(server.proc.exitCode).toBeNull();
    });
  });
});
