/**
 * `bootwire serve` as a DHCP server for real clients, in network namespaces the test makes: a server
 * namespace (10.77.0.1/24 on one end of a veth pair) and a client namespace on the other end. busybox
 * udhcpc and ISC dhclient must get a lease and their class's options; a server killed with SIGKILL and
 * restarted keeps the client's lease (one a fresh server would not give: the test can tell).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, type Netns } from '../helpers/netns.js';
import { envOf, writeAvayaDhclient } from '../helpers/dhcp-clients.js';
import { PEERS, requireRoot, run, useAll } from '../helpers/peers.js';

const CLI = fileURLToPath(new URL('../../packages/bootwire/dist/cli/main.js', import.meta.url));

/** The address the kill -9 test leases: not the one a fresh server hands out first (.100). */
const SURVIVOR = '10.77.0.150';

let dir: string;
let srv: Netns | undefined;
let cli: Netns | undefined;
let ready = false;

const CONFIG = (leases: string) => ({
  dhcp: {
    listen: '0.0.0.0:67',
    leases,
    subnets: [
      {
        subnet: '10.77.0.0/24',
        pool: '10.77.0.100-10.77.0.199',
        leaseSeconds: 3600,
        options: { router: '10.77.0.1', '66': '10.77.0.1' },
      },
    ],
    classes: [
      {
        match: { vendorClass: 'ccp.avaya.com' },
        options: { '242': 'MCIPADD=10.77.0.5,MCPORT=1719,HTTPSRVR=10.77.0.1', '67': '46xxupgrade.scr' },
      },
      { match: { vendorClass: '440HD' }, options: { '160': 'tftp://10.77.0.1/440HD.img;440HD.cfg' } },
    ],
  },
});

async function startServer(): Promise<{ proc: ChildProcess; out: () => string }> {
  const [cmd, args] = srv!.argv(process.execPath, [
    CLI,
    'serve',
    '--config',
    path.join(dir, 'bootwire.json'),
    '--log-level',
    'debug',
  ]);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 15_000);
    const check = () => {
      if (/dhcp listening/.test(out)) {
        clearTimeout(t);
        resolve();
      }
    };
    proc.stdout.on('data', check);
    proc.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`server exited ${code}: ${out}`));
    });
  });
  return { proc, out: () => out };
}

async function stop(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  await exited;
}

/** A udhcpc script that writes its environment (the lease and options) to a file. */
async function udhcpcScript(): Promise<string> {
  const p = path.join(dir, 'udhcpc.sh');
  await fs.writeFile(p, `#!/bin/sh\n[ "$1" = bound ] && env | sort > "${dir}/udhcpc.$interface.env"\nexit 0\n`, {
    mode: 0o755,
  });
  return p;
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-dhcp-'));
  await fs.writeFile(path.join(dir, 'bootwire.json'), JSON.stringify(CONFIG(path.join(dir, 'leases.db'))));
  srv = await createNetns();
  cli = await createNetns();
  const ip = (args: string[]) => run('ip', args, { timeoutMs: 10_000 });
  await ip(['link', 'add', 'bwsrv0', 'netns', srv.name, 'type', 'veth', 'peer', 'name', 'bwcli0', 'netns', cli.name]);
  await srv.exec('ip', ['addr', 'add', '10.77.0.1/24', 'dev', 'bwsrv0']);
  await srv.exec('ip', ['link', 'set', 'bwsrv0', 'up']);
  await cli.exec('ip', ['link', 'set', 'bwcli0', 'up']);
  ready = true;
});

afterAll(async () => {
  await srv?.delete();
  await cli?.delete();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('bootwire DHCP server with real clients, in network namespaces', () => {
  it(
    'busybox udhcpc gets a lease and the Avaya class options (242, 66, 67); a SIGKILLed and ' +
      'restarted server keeps the lease',
    async (ctx) => {
      useAll(ctx, PEERS.busybox, PEERS.ip);
      requireRoot(ctx);
      expect(ready).toBe(true);
      const script = await udhcpcScript();
      const udhcpc = (extra: string[] = []) =>
        cli!.exec(
          PEERS.busybox.path!,
          [
            'udhcpc',
            '-i',
            'bwcli0',
            '-f',
            '-q',
            '-n',
            '-t',
            '4',
            '-T',
            '1',
            '-V',
            'ccp.avaya.com',
            '-O',
            '242',
            '-O',
            '66',
            '-O',
            '67',
            '-s',
            script,
            ...extra,
          ],
          { timeoutMs: 30_000 },
        );
      let server = await startServer();
      try {
        // The client asks for .150: a fresh server (or one that lost its leases) would give .100 to a
        // DISCOVER without a request, so only a lease that survived brings the client back to .150.
        const r = await udhcpc(['-r', SURVIVOR]);
        expect(r.code, `${r.stderr}\n${server.out()}`).toBe(0);
        const env = envOf(await fs.readFile(path.join(dir, 'udhcpc.bwcli0.env'), 'utf8'));
        expect(env.ip).toBe(SURVIVOR);
        expect(env.subnet).toBe('255.255.255.0');
        expect(env.router).toBe('10.77.0.1');
        expect(env.serverid).toBe('10.77.0.1');
        expect(env.lease).toBe('3600');
        expect(env.tftp).toBe('10.77.0.1');
        expect(env.bootfile).toBe('46xxupgrade.scr');
        expect(Buffer.from(env.opt242 ?? '', 'hex').toString()).toBe(
          'MCIPADD=10.77.0.5,MCPORT=1719,HTTPSRVR=10.77.0.1',
        );

        // kill -9 right after the ACK, restart: a DISCOVER that asks for nothing gets .150 back, which
        // only the lease on disk can tell the new server.
        await stop(server.proc, 'SIGKILL');
        server = await startServer();
        await fs.rm(path.join(dir, 'udhcpc.bwcli0.env'));
        const again = await udhcpc();
        expect(again.code, `${again.stderr}\n${server.out()}`).toBe(0);
        expect(envOf(await fs.readFile(path.join(dir, 'udhcpc.bwcli0.env'), 'utf8')).ip).toBe(SURVIVOR);
        // And INIT-REBOOT with its address is ACKed (a server without the record would stay silent).
        await fs.rm(path.join(dir, 'udhcpc.bwcli0.env'));
        expect((await udhcpc(['-r', SURVIVOR])).code).toBe(0);
        expect(envOf(await fs.readFile(path.join(dir, 'udhcpc.bwcli0.env'), 'utf8')).ip).toBe(SURVIVOR);
      } finally {
        await stop(server.proc);
      }
    },
  );

  it('ISC dhclient with a vendor class and a request for 242 gets a lease and the option', async (ctx) => {
    const [dhclient] = useAll(ctx, PEERS.dhclient, PEERS.ip);
    requireRoot(ctx);
    expect(ready).toBe(true);
    const { conf, script } = await writeAvayaDhclient(dir, {
      envFile: `${dir}/dhclient.env`,
      timeout: 20,
      clientId: '01:02:00:00:00:00:42',
    });
    const server = await startServer();
    try {
      const r = await cli!.exec(
        dhclient!,
        [
          '-1',
          '-v',
          '-cf',
          conf,
          '-sf',
          script,
          '-lf',
          path.join(dir, 'dhclient.leases'),
          '-pf',
          path.join(dir, 'dhclient.pid'),
          'bwcli0',
        ],
        { timeoutMs: 40_000 },
      );
      expect(r.code, `${r.stderr}\n${server.out()}`).toBe(0);
      const env = envOf(await fs.readFile(path.join(dir, 'dhclient.env'), 'utf8'));
      expect(env.new_ip_address).toMatch(/^10\.77\.0\.1\d\d$/);
      expect(env.new_routers).toBe('10.77.0.1');
      expect(env.new_avaya_242).toBe("'MCIPADD=10.77.0.5,MCPORT=1719,HTTPSRVR=10.77.0.1'".replaceAll("'", ''));
      expect(env.new_bootfile_name).toBe('46xxupgrade.scr');
      await cli!
        .exec(dhclient!, [
          '-x',
          '-pf',
          path.join(dir, 'dhclient.pid'),
          '-lf',
          path.join(dir, 'dhclient.leases'),
          'bwcli0',
        ])
        .catch(() => undefined);
    } finally {
      await stop(server.proc);
    }
  });

  it('keeps answering good clients while bad packets are thrown at it', async (ctx) => {
    useAll(ctx, PEERS.busybox, PEERS.ip);
    requireRoot(ctx);
    const server = await startServer();
    try {
      // Garbage and truncated DHCP sent from the server's own namespace to its socket.
      const flood = `
        const d = require('node:dgram'); const s = d.createSocket('udp4');
        const base = Buffer.alloc(300); base[0] = 1; base[1] = 1; base[2] = 6; base.writeUInt32BE(0x63825363, 236);
        let n = 0;
        const go = () => {
          for (let i = 0; i < 200; i++) {
            const r = require('node:crypto').randomBytes(1 + (n % 600));
            const t = Buffer.concat([base.subarray(0, 240), Buffer.from([53, 1, 1, 55, 200]), r]);
            s.send(n % 2 ? r : t, 67, '10.77.0.1');
            n++;
          }
          if (n < 2000) setImmediate(go); else setTimeout(() => s.close(), 100);
        };
        go();`;
      const f = await srv!.exec(process.execPath, ['-e', flood], { timeoutMs: 20_000 });
      expect(f.code, f.stderr).toBe(0);
      const script = await udhcpcScript();
      const r = await cli!.exec(
        PEERS.busybox.path!,
        ['udhcpc', '-i', 'bwcli0', '-f', '-q', '-n', '-t', '4', '-T', '1', '-V', '440HD', '-O', '160', '-s', script],
        { timeoutMs: 30_000 },
      );
      expect(r.code, `${r.stderr}\n${server.out()}`).toBe(0);
      const env = envOf(await fs.readFile(path.join(dir, 'udhcpc.bwcli0.env'), 'utf8'));
      expect(Buffer.from(env.opt160 ?? '', 'hex').toString()).toBe('tftp://10.77.0.1/440HD.img;440HD.cfg');
      expect(server.proc.exitCode).toBeNull();
    } finally {
      await stop(server.proc);
    }
  });
});
