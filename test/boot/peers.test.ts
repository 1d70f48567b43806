/**
 * `bootwire boot` against other people's servers, with the example root of `bootwire init`.
 *
 * dnsmasq (DHCP + TFTP): its DHCP server cannot be reached relay-style on loopback without root, and
 * its TFTP server only listens on port 69, so it runs in a network namespace the test creates, on a
 * veth pair whose bwv0 carries two addresses of a /24 of this test's own:
 *
 *   10.163.0.1/24  dnsmasq (DHCP on 67, TFTP on 69) and busybox httpd (HTTP on 80)
 *   10.163.0.2/24  the phone's relay socket (port 67): giaddr, where dnsmasq's replies come back
 *
 * dnsmasq's configuration gives each family the options of the init root's bootwire.json, pointing at
 * 10.163.0.1: option 66 to the 1200 (Nortel-SIP-Phone-A), 160 to the 400HD, 242 to the 96xx
 * (ccp.avaya.com), 176 to the 4600 and 242 to the 1600 (Avaya MACs). The 4600's 176 names only a TFTP
 * server, so it boots from dnsmasq's TFTP; the HTTP-only 1608 and 96xx fetch from busybox httpd.
 * `bootwire boot` runs inside the namespace (`ip netns exec`) and needs no --redirect: the servers
 * are where the DHCP answer says, on their standard ports.
 *
 * tftpd-hpa: on a loopback port (the helper runs it with -u root), phones pointed at it with
 * `--dhcp none --server tftp://…`: every model that speaks TFTP.
 *
 * dnsmasq's options are in a configuration file, values of unknown options (176, 242, 160) quoted: a
 * quoted value is sent as one string, commas included (its log shows option 176 as the 50 bytes of
 * "MCIPADD=…,TFTPSRVR=10.163.0.1"). It NUL-terminates option 66; the 1200 reads it all the same.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Daemon, killAllDaemons, startDaemon } from '../helpers/daemon.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { IS_ROOT, PEERS, type Peer, requireRoot, run, startTftpdHpa, useAll } from '../helpers/peers.js';
import { bootCli, IMAGE_FILE_BYTES, initRoot, PHONES, readState, scratch, sip1200User, steps } from './helpers.js';

const SERVER = '10.163.0.1';
const RELAY = '10.163.0.2';

let dir: string;
let root: string;

beforeAll(async () => {
  dir = await scratch('bw-boot-peers-');
  root = await initRoot(dir);
});
afterAll(async () => {
  killAllDaemons();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

type Model = (typeof PHONES)[number]['model'];

const IMAGE: Record<Model, string> = {
  '4610': 'a10d01b2_3.bin',
  '4620': 'a20d01b2_3.bin',
  '1608': 'ha16xxua1_5_0.bin',
  '9608': 'S96x1_SALBR7_1_2_0.tar',
  '9611': 'S96x1_SALBR7_1_2_0.tar',
  '1220': 'SIP12x004.04.09.00.bin',
  '1230': 'SIP12x004.04.09.00.bin',
  '420HD': '420HD.img',
  '440HD': '440HD.img',
};

/** What the model fetches from servers that serve the init root over `proto`; without the image on a second boot. */
function expected(model: Model, mac: string, proto: string, withImage: boolean): string[] {
  const img = withImage ? [`image ${proto} ${IMAGE[model]}`] : [];
  if (model === '4610' || model === '4620')
    return [
      `script ${proto} 46xxupgrade.scr`,
      ...img,
      ...(withImage ? [`script ${proto} 46xxupgrade.scr`] : []),
      `settings ${proto} 46xxsettings.txt`,
    ];
  if (model === '1608')
    return [
      `script ${proto} 16xxupgrade.txt`,
      ...img,
      ...(withImage ? [`script ${proto} 16xxupgrade.txt`] : []),
      `settings ${proto} 46xxsettings.txt`,
    ];
  if (model === '9608' || model === '9611')
    return [
      `script ${proto} 96x1Supgrade.txt`,
      ...img,
      ...(withImage ? [`script ${proto} 96x1Supgrade.txt`] : []),
      `settings ${proto} 46xxsettings.txt`,
    ];
  if (model === '1220' || model === '1230')
    return [
      `script ${proto} ${model}SIP.cfg`,
      ...img,
      `settings ${proto} 12x0_device.cfg`,
      `settings ${proto} ${sip1200User(mac)} FAILED`,
    ];
  // 400HD: the image phase is there on the second boot too (the header read, then a stop).
  return [`image ${proto} ${IMAGE[model]}`, `settings ${proto} ${model}.cfg`];
}

// ------------------------------------------------------------------------------------ dnsmasq

const DNSMASQ_CONF = (
  leases: string,
  log: string,
) => `# bootwire boot test: the init root's DHCP classes, for 10.163.0.0/24
port=0
no-resolv
no-hosts
listen-address=${SERVER}
bind-interfaces
dhcp-range=10.163.0.100,10.163.0.199,255.255.255.0,600
dhcp-leasefile=${leases}
dhcp-lease-max=1000
no-ping
enable-tftp
tftp-root=${root}
log-facility=${log}
log-dhcp
user=root
group=root
dhcp-option=option:router,${SERVER}
dhcp-vendorclass=set:sip96,ccp.avaya.com
dhcp-vendorclass=set:nortel,Nortel-SIP-Phone-A
dhcp-vendorclass=set:hd,420HD
dhcp-vendorclass=set:hd,440HD
dhcp-mac=set:avaya,00:04:0d:*:*:*
dhcp-option=tag:nortel,66,${SERVER}
dhcp-option=tag:hd,160,"tftp://${SERVER}/<MODEL>.img;<MODEL>.cfg"
dhcp-option=tag:sip96,242,"HTTPSRVR=${SERVER},SIP_CONTROLLER_LIST=10.163.0.5:5060;transport=tcp"
dhcp-option=tag:avaya,tag:!sip96,176,"MCIPADD=10.163.0.5,MCPORT=1719,TFTPSRVR=${SERVER}"
dhcp-option=tag:avaya,tag:!sip96,242,"MCIPADD=10.163.0.5,MCPORT=1719,HTTPSRVR=${SERVER}"
`;

/**
 * Is `program` listening on SERVER:port or the wildcard (udp or tcp) in the namespace? (dnsmasq's DHCP binds
 * 0.0.0.0:67.)
 */
async function listening(ns: Netns, flags: string, port: number, program: string): Promise<boolean> {
  const r = await ns.exec('ss', [flags, `sport = :${port}`], { timeoutMs: 5000 });
  const text = r.stdout.toString();
  return (
    new RegExp(`(${SERVER.replaceAll('.', '\\.')}|0\\.0\\.0\\.0|\\*):${port}\\b`).test(text) && text.includes(program)
  );
}

describe('bootwire boot against dnsmasq (DHCP + TFTP) and busybox httpd, in a network namespace', () => {
  let ns: Netns | undefined;
  let dnsmasq: Daemon | undefined;
  let httpd: Daemon | undefined;
  let leases: string;
  let log: string;
  let setupError: Error | undefined;

  beforeAll(async () => {
    // the tests skip or fail
    if (!IS_ROOT || PEERS.dnsmasq.missing || PEERS.ip.missing || PEERS.ss.missing || PEERS.busybox.missing) return;
    try {
      ns = await createNetns();
      for (const args of [
        ['link', 'add', 'bwv0', 'type', 'veth', 'peer', 'name', 'bwv1'],
        ['addr', 'add', `${SERVER}/24`, 'dev', 'bwv0'],
        ['addr', 'add', `${RELAY}/24`, 'dev', 'bwv0'],
        ['link', 'set', 'bwv0', 'up'],
        ['link', 'set', 'bwv1', 'up'],
      ]) {
        const r = await run('ip', ['-n', ns.name, ...args], { timeoutMs: 10_000 });
        if (r.code !== 0) throw new Error(`ip -n ${ns.name} ${args.join(' ')}: ${r.stderr}`);
      }
      leases = path.join(dir, 'dnsmasq.leases');
      log = path.join(dir, 'dnsmasq.log');
      const conf = path.join(dir, 'dnsmasq.conf');
      await fs.writeFile(conf, DNSMASQ_CONF(leases, log));
      const n = ns;
      dnsmasq = await startDaemon(
        n,
        'dnsmasq',
        PEERS.dnsmasq.path!,
        ['--keep-in-foreground', `--conf-file=${conf}`, '--pid-file='],
        async () => (await listening(n, '-Hulnp', 67, 'dnsmasq')) && (await listening(n, '-Hulnp', 69, 'dnsmasq')),
      );
      httpd = await startDaemon(
        n,
        'busybox httpd',
        PEERS.busybox.path!,
        ['httpd', '-f', '-vv', '-p', `${SERVER}:80`, '-h', root],
        () => listening(n, '-Htlnp', 80, 'busybox'),
      );
    } catch (e) {
      setupError = e as Error;
    }
  });
  afterAll(async () => {
    await httpd?.stop();
    await dnsmasq?.stop();
    await ns?.delete();
  });

  it.for(PHONES)(
    '$model boots from dnsmasq, then again without its image',
    { timeout: 90_000 },
    async ({ model, mac }, ctx) => {
      useAll(ctx, PEERS.dnsmasq, PEERS.ip, PEERS.ss, PEERS.busybox);
      requireRoot(ctx);
      if (setupError) throw setupError;
      const state = path.join(dir, 'state-dnsmasq');
      const args = [
        '--model',
        model,
        '--mac',
        mac,
        '--dhcp',
        `${SERVER}:67`,
        '--relay',
        `${RELAY}:67`,
        '--link-selection',
        'none',
        '--state',
        state,
      ];
      const bootIn = () => bootCli(args, { wrap: ['ip', ['netns', 'exec', ns!.name]], timeoutMs: 60_000 });
      const proto = model === '1608' || model.startsWith('96') ? 'http' : 'tftp';
      const diag = async () =>
        `\n--- dnsmasq ---\n${(await fs.readFile(log, 'utf8').catch(() => '')).slice(-3000)}\n--- httpd ` +
        `---\n${httpd!.out().slice(-1000)}`;

      const first = await bootIn();
      expect(first.code, `${first.stdout}\n${first.stderr}${await diag()}`).toBe(0);
      const r = first.report!;
      expect(steps(r)).toEqual(['dhcp dhcp -', ...expected(model, mac, proto, true)]);
      expect(r.address).toMatch(/^10\.163\.0\.1[0-9]{2}$/);
      expect(r.imageDownloaded).toBe(true);
      expect(r.phases.find((p) => p.phase === 'image')!.bytes).toBe(IMAGE_FILE_BYTES);
      expect(r.phases[1]!.url).toMatch(new RegExp(`^${proto}://10\\.163\\.0\\.1/`));
      expect(((await readState(state, mac)) as { image: { name: string } }).image.name).toBe(IMAGE[model]);
      // dnsmasq recorded the lease.
      expect(await fs.readFile(leases, 'utf8')).toContain(` ${mac} ${r.address} `);

      const second = await bootIn();
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(second.report!.imageDownloaded).toBe(false);
      expect(steps(second.report!)).toEqual(['dhcp dhcp -', ...expected(model, mac, proto, false)]);
      expect(second.report!.address).toBe(r.address);
    },
  );
});

// ---------------------------------------------------------------------------------- tftpd-hpa

describe('bootwire boot against tftpd-hpa (--dhcp none --server tftp://…)', () => {
  let peer: Peer | undefined;
  let setupError: Error | undefined;
  beforeAll(async () => {
    if (!IS_ROOT || PEERS.tftpdHpa.missing) return;
    try {
      peer = await startTftpdHpa(root);
    } catch (e) {
      setupError = e as Error;
    }
  });
  afterAll(async () => {
    await peer?.stop();
  });

  const TFTP_PHONES = PHONES.filter((p) => p.model !== '1608' && !p.model.startsWith('96'));

  it.for(TFTP_PHONES)(
    '$model boots from tftpd-hpa, then again without its image',
    { timeout: 90_000 },
    async ({ model, mac }, ctx) => {
      PEERS.tftpdHpa.use(ctx);
      requireRoot(ctx);
      if (setupError) throw setupError;
      const base = `tftp://127.0.0.1:${peer!.port}/`;
      // The 400HD is given a provisioning URL (firmware;configuration), as an administrator types it.
      const server = model.endsWith('HD') ? `${base}<MODEL>.img;<MODEL>.cfg` : base;
      const state = path.join(dir, 'state-tftpd-hpa');
      const args = ['--model', model, '--mac', mac, '--dhcp', 'none', '--server', server, '--state', state];
      const first = await bootCli(args);
      expect(first.code, `${first.stdout}\n${first.stderr}\n--- tftpd-hpa ---\n${peer!.log().slice(-2000)}`).toBe(0);
      expect(steps(first.report!)).toEqual(expected(model, mac, 'tftp', true));
      expect(first.report!.phases.find((p) => p.phase === 'image')!.bytes).toBe(IMAGE_FILE_BYTES);
      expect(first.report!.phases[0]!.url).toMatch(new RegExp(`^tftp://127\\.0\\.0\\.1:${peer!.port}/`));
      expect(((await readState(state, mac)) as { image: { name: string } }).image.name).toBe(IMAGE[model]);

      const second = await bootCli(args);
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(second.report!.imageDownloaded).toBe(false);
      expect(steps(second.report!)).toEqual(expected(model, mac, 'tftp', false));
    },
  );
});
