/**
 * bootwire's DHCP server behind a real relay agent, in three network namespaces the test makes:
 *
 *   client ns                 relay ns                                   server ns
 *   bwcli0  <--veth-->  bwrly0 10.77.0.1/24 | dhcrelay | bwrly1 10.78.0.1/24  <--veth-->  bwsrv0 10.78.0.2/24
 *   udhcpc                    (ISC dhcrelay -4 -d -a)                    bootwire serve --config
 *
 * The server has no address on 10.77.0.0/24: it serves that subnet only through the relay (giaddr
 * 10.77.0.1) and reaches the relay by a route via 10.78.0.1. dhcrelay adds option 82 with the
 * circuit-id set to the name of the interface the request came in on (`bwrly0`); a class matching
 * that circuit-id gives a distinct boot file (option 67), which udhcpc receives as `bootfile`, so
 * the client itself shows that the server saw option 82.
 *
 * The second half is issue 12's site: `bootwire serve` on 0.0.0.0:67 with no `serverId`, serving the
 * relayed subnet: udhcpc and ISC dhclient through dhcrelay, and Kea's perfdhcp as a relay from
 * 10.76.0.1 (another subnet of the router, where the server has no address either), must get leases:
 * option 54 is the address the server's replies leave from toward the relay (10.78.0.2).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, killAllDaemons, startDaemon } from '../helpers/daemon.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { envOf, writeAvayaDhclient } from '../helpers/dhcp-clients.js';
import { IS_ROOT, needBinary, PEERS, requireRoot, run, useAll } from '../helpers/peers.js';

const PERFDHCP = needBinary('perfdhcp', 'kea-admin', ['/usr/sbin']);

const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));

const AVAYA_242 = 'MCIPADD=10.78.0.5,MCPORT=1719,HTTPSRVR=10.78.0.2';

const CONFIG = (leases: string) => ({
  dhcp: {
    listen: '10.78.0.2:67',
    leases,
    // No address of the server is on the relayed subnet: option 54 has to be set.
    serverId: '10.78.0.2',
    subnets: [
      {
        subnet: '10.77.0.0/24',
        pool: '10.77.0.100-10.77.0.199',
        leaseSeconds: 3600,
        options: { router: '10.77.0.1', '66': '10.78.0.2' },
      },
    ],
    classes: [
      // First match wins: the most specific classes first.
      {
        name: 'avaya-on-bwrly0',
        match: { vendorClass: 'ccp.avaya.com', circuitId: 'bwrly0' },
        options: { '242': AVAYA_242, '67': 'relay-bwrly0.scr' },
      },
      {
        name: 'avaya-on-other-port',
        match: { vendorClass: 'ccp.avaya.com', circuitId: { prefix: 'eth' } },
        options: { '242': AVAYA_242, '67': 'wrong-port.scr' },
      },
      {
        name: 'avaya',
        match: { vendorClass: 'ccp.avaya.com' },
        options: { '242': AVAYA_242, '67': '46xxupgrade.scr' },
      },
      { name: 'port-bwrly0', match: { circuitId: 'bwrly0' }, options: { '67': 'port-bwrly0.cfg' } },
    ],
  },
});

/** The site: wildcard listen, no serverId; 10.76.0.0/22 is perfdhcp's relayed subnet. */
const UNCONFIGURED = (leases: string) => {
  const c = CONFIG(leases);
  const { serverId: _, ...dhcp } = c.dhcp;
  return {
    dhcp: {
      ...dhcp,
      listen: '0.0.0.0:67',
      subnets: [
        ...dhcp.subnets,
        { subnet: '10.76.0.0/22', pool: '10.76.0.10-10.76.3.250', leaseSeconds: 600, options: { '66': '10.78.0.2' } },
      ],
    },
  };
};

let dir: string;
let cli: Netns | undefined;
let rly: Netns | undefined;
let srv: Netns | undefined;
let ready = false;

const startServer = (config = 'bootwire.json', level = 'debug') =>
  startDaemon(
    srv!,
    'bootwire serve',
    process.execPath,
    [CLI, 'serve', '--config', path.join(dir, config), '--log-level', level],
    async (out) => /dhcp listening/.test(out),
  );

/** ISC dhcrelay 4.4: -id downstream (client side), -iu upstream (server side), -a adds option 82. */
const startRelay = () =>
  startDaemon(
    rly!,
    'dhcrelay',
    PEERS.dhcrelay.path!,
    ['-4', '-d', '-a', '--no-pid', '-id', 'bwrly0', '-iu', 'bwrly1', '10.78.0.2'],
    async (out) => /Sending on\s+Socket\/fallback/.test(out),
  );

/** Runs `fn` with bootwire (config file `config`) and dhcrelay running, and stops both whatever happens. */
async function withRelayedServer(config: string, fn: (server: Daemon, relay: Daemon) => Promise<void>): Promise<void> {
  const server = await startServer(config);
  try {
    const relay = await startRelay();
    try {
      await fn(server, relay);
    } finally {
      await relay.stop();
    }
  } finally {
    await server.stop();
  }
}

/** A udhcpc script that writes its environment (the lease and options) to a file. */
async function udhcpcScript(): Promise<string> {
  const p = path.join(dir, 'udhcpc.sh');
  await fs.writeFile(p, `#!/bin/sh\n[ "$1" = bound ] && env | sort > "${dir}/udhcpc.$interface.env"\nexit 0\n`, {
    mode: 0o755,
  });
  return p;
}

async function udhcpc(extra: string[]): Promise<{ code: number | null; stderr: string; env: Record<string, string> }> {
  const envFile = path.join(dir, 'udhcpc.bwcli0.env');
  await fs.rm(envFile, { force: true });
  const script = await udhcpcScript();
  const r = await cli!.exec(
    PEERS.busybox.path!,
    ['udhcpc', '-i', 'bwcli0', '-f', '-q', '-n', '-t', '5', '-T', '1', '-s', script, ...extra],
    { timeoutMs: 30_000 },
  );
  const text = await fs.readFile(envFile, 'utf8').catch(() => '');
  return { code: r.code, stderr: r.stderr, env: envOf(text) };
}

/** The JSON lines bootwire logged for its replies. */
function replies(log: string): { type: string; mac: string; yiaddr: string; to: string; className?: string }[] {
  return log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as { type?: string; mac: string; yiaddr: string; to: string; className?: string };
      } catch {
        return undefined;
      }
    })
    .filter(
      (r): r is { type: string; mac: string; yiaddr: string; to: string; className?: string } => r?.type !== undefined,
    );
}

beforeAll(async () => {
  if (!IS_ROOT || PEERS.ip.missing) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-dhcp-relay-'));
  await fs.writeFile(path.join(dir, 'bootwire.json'), JSON.stringify(CONFIG(path.join(dir, 'leases.db'))));
  await fs.writeFile(
    path.join(dir, 'unconfigured.json'),
    JSON.stringify(UNCONFIGURED(path.join(dir, 'unconfigured.db'))),
  );
  cli = await createNetns();
  rly = await createNetns();
  srv = await createNetns();
  const ip = async (args: string[]) => {
    const r = await run('ip', args, { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  };
  await ip(['link', 'add', 'bwcli0', 'netns', cli.name, 'type', 'veth', 'peer', 'name', 'bwrly0', 'netns', rly.name]);
  await ip(['link', 'add', 'bwrly1', 'netns', rly.name, 'type', 'veth', 'peer', 'name', 'bwsrv0', 'netns', srv.name]);
  await ip(['-n', rly.name, 'addr', 'add', '10.77.0.1/24', 'dev', 'bwrly0']);
  await ip(['-n', rly.name, 'addr', 'add', '10.78.0.1/24', 'dev', 'bwrly1']);
  // perfdhcp sends out of the interface that holds its -l address: the server side one.
  await ip(['-n', rly.name, 'addr', 'add', '10.76.0.1/22', 'dev', 'bwrly1']);
  await ip(['-n', srv.name, 'addr', 'add', '10.78.0.2/24', 'dev', 'bwsrv0']);
  await ip(['-n', cli.name, 'link', 'set', 'bwcli0', 'up']);
  await ip(['-n', rly.name, 'link', 'set', 'bwrly0', 'up']);
  await ip(['-n', rly.name, 'link', 'set', 'bwrly1', 'up']);
  await ip(['-n', srv.name, 'link', 'set', 'bwsrv0', 'up']);
  // Replies go to giaddr 10.77.0.1, which the server reaches through the relay's other address.
  await ip(['-n', srv.name, 'route', 'add', '10.77.0.0/24', 'via', '10.78.0.1']);
  await ip(['-n', srv.name, 'route', 'add', '10.76.0.0/22', 'via', '10.78.0.1']);
  ready = true;
});

afterAll(async () => {
  killAllDaemons();
  // Deleting a namespace only unmounts its name: the processes in it were stopped above.
  await cli?.delete();
  await rly?.delete();
  await srv?.delete();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('bootwire DHCP server behind ISC dhcrelay (option 82), in network namespaces', () => {
  it(
    'udhcpc gets a lease on the relayed subnet with the Avaya class options, chosen by the circuit-id the relay added',
    { timeout: 90_000 },
    async (ctx) => {
      useAll(ctx, PEERS.busybox, PEERS.dhcrelay, PEERS.ip);
      requireRoot(ctx);
      expect(ready).toBe(true);
      await withRelayedServer('bootwire.json', async (server, relay) => {
        const r = await udhcpc(['-V', 'ccp.avaya.com', '-O', '242', '-O', '66', '-O', '67']);
        const why = `${r.stderr}\n--- relay ---\n${relay.out()}\n--- server ---\n${server.out()}`;
        expect(r.code, why).toBe(0);
        expect(r.env.ip, why).toMatch(/^10\.77\.0\.1\d\d$/);
        expect(r.env.subnet).toBe('255.255.255.0');
        expect(r.env.router).toBe('10.77.0.1');
        expect(r.env.serverid).toBe('10.78.0.2');
        expect(r.env.lease).toBe('3600');
        expect(r.env.tftp).toBe('10.78.0.2');
        expect(Buffer.from(r.env.opt242 ?? '', 'hex').toString()).toBe(AVAYA_242);
        // Only the class that matches circuit-id "bwrly0" gives this file: the server saw option 82.
        expect(r.env.bootfile, why).toBe('relay-bwrly0.scr');

        // The relay added option 82 and forwarded the server's replies to the client.
        expect(relay.out()).toMatch(/Adding \d+-byte relay agent option/);
        expect(relay.out()).toMatch(/Forwarded BOOTREPLY for/);
        // The server answered the relay (giaddr, port 67), with the circuit-id class.
        const sent = replies(server.out());
        expect(sent.map((s) => s.type)).toEqual(expect.arrayContaining(['OFFER', 'ACK']));
        for (const s of sent) {
          expect(s.to).toBe('10.77.0.1:67');
          expect(s.yiaddr).toBe(r.env.ip);
          expect(s.className).toBe('avaya-on-bwrly0');
        }
        expect(server.proc.exitCode).toBeNull();
      });
    },
  );

  it(
    'a client without a vendor class gets the class that matches the relay circuit-id alone',
    { timeout: 90_000 },
    async (ctx) => {
      useAll(ctx, PEERS.busybox, PEERS.dhcrelay, PEERS.ip);
      requireRoot(ctx);
      expect(ready).toBe(true);
      await withRelayedServer('bootwire.json', async (server, relay) => {
        // busybox sends its own option 60 ("udhcp 1.35.0") unless told otherwise; -V '' sends none.
        const r = await udhcpc(['-V', '', '-O', '66', '-O', '67']);
        const why = `${r.stderr}\n--- relay ---\n${relay.out()}\n--- server ---\n${server.out()}`;
        expect(r.code, why).toBe(0);
        expect(r.env.ip, why).toMatch(/^10\.77\.0\.1\d\d$/);
        expect(r.env.bootfile, why).toBe('port-bwrly0.cfg');
        expect(r.env.opt242).toBeUndefined();
        const sent = replies(server.out());
        expect(sent.length).toBeGreaterThanOrEqual(2);
        for (const s of sent) expect(s.className).toBe('port-bwrly0');
      });
    },
  );
});

describe('relayed DHCP where the server has no address and no serverId (issue 12)', () => {
  it(
    'udhcpc through dhcrelay gets a lease and its class options; option 54 is the server address toward the relay',
    { timeout: 90_000 },
    async (ctx) => {
      useAll(ctx, PEERS.busybox, PEERS.dhcrelay, PEERS.ip);
      requireRoot(ctx);
      expect(ready).toBe(true);
      await withRelayedServer('unconfigured.json', async (server, relay) => {
        const r = await udhcpc(['-V', 'ccp.avaya.com', '-O', '242', '-O', '66', '-O', '67']);
        const why = `${r.stderr}\n--- relay ---\n${relay.out()}\n--- server ---\n${server.out()}`;
        expect(r.code, why).toBe(0);
        expect(r.env.ip, why).toMatch(/^10\.77\.0\.1\d\d$/);
        expect(r.env.serverid, why).toBe('10.78.0.2');
        expect(r.env.router).toBe('10.77.0.1');
        expect(r.env.tftp).toBe('10.78.0.2');
        expect(Buffer.from(r.env.opt242 ?? '', 'hex').toString()).toBe(AVAYA_242);
        expect(r.env.bootfile, why).toBe('relay-bwrly0.scr');
        expect(server.proc.exitCode).toBeNull();
      });
    },
  );

  it('ISC dhclient through dhcrelay gets a lease and its class options', { timeout: 90_000 }, async (ctx) => {
    const [dhclient] = useAll(ctx, PEERS.dhclient, PEERS.dhcrelay, PEERS.ip);
    requireRoot(ctx);
    expect(ready).toBe(true);
    const envFile = path.join(dir, 'dhclient.env');
    await fs.rm(envFile, { force: true });
    const { conf, script } = await writeAvayaDhclient(dir, { envFile, timeout: 30 });
    await withRelayedServer('unconfigured.json', async (server, relay) => {
      const lf = path.join(dir, 'dhclient.leases');
      const pf = path.join(dir, 'dhclient.pid');
      const r = await cli!.exec(dhclient!, ['-1', '-v', '-cf', conf, '-sf', script, '-lf', lf, '-pf', pf, 'bwcli0'], {
        timeoutMs: 45_000,
      });
      const why = `${r.stderr}\n--- relay ---\n${relay.out()}\n--- server ---\n${server.out()}`;
      expect(r.code, why).toBe(0);
      const env = envOf(await fs.readFile(envFile, 'utf8'));
      expect(env.new_ip_address, why).toMatch(/^10\.77\.0\.1\d\d$/);
      expect(env.new_dhcp_server_identifier).toBe('10.78.0.2');
      expect(env.new_routers).toBe('10.77.0.1');
      expect(env.new_avaya_242).toBe(AVAYA_242);
      expect(env.new_bootfile_name).toBe('relay-bwrly0.scr');
      await cli!.exec(dhclient!, ['-x', '-pf', pf, '-lf', lf, 'bwcli0']).catch(() => undefined);
    });
  });

  it("Kea's perfdhcp as a relay (a short bounded run) completes every exchange", { timeout: 90_000 }, async (ctx) => {
    const [perfdhcp] = useAll(ctx, PERFDHCP, PEERS.ip);
    requireRoot(ctx);
    expect(ready).toBe(true);
    const server = await startServer('unconfigured.json', 'warn');
    try {
      // 100 DORA/s offered to 300 clients for 3 s from the relay address 10.76.0.1; -W waits for the
      // last replies; -x e says why it stopped. Exit 0 only when every exchange completed.
      const r = await rly!.exec(
        perfdhcp!,
        ['-4', '-l', '10.76.0.1', '-r', '100', '-R', '300', '-p', '3', '-W', '2000000', '-x', 'e', '10.78.0.2'],
        { timeoutMs: 30_000 },
      );
      const out = r.stdout.toString() + r.stderr.toString();
      const why = `${out}\n--- server ---\n${server.out()}`;
      expect(out, why).not.toMatch(/SERVER_IDENTIFIER/);
      expect(r.code, why).toBe(0);
      const sent = /sent packets: (\d+)/.exec(out);
      expect(Number(sent?.[1] ?? 0), why).toBeGreaterThan(100);
      for (const m of out.matchAll(/drops: (\d+)/g)) expect(Number(m[1]), why).toBe(0);
      expect(server.proc.exitCode).toBeNull();
    } finally {
      await server.stop();
    }
  });
});
