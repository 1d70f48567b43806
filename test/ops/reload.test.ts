/**
 * SIGHUP rereads the config file (issue 17, item 2): subnets, pools, classes, options, root and limits
 * change for what starts afterwards; a transfer running across the reload finishes on what it started
 * with; leases stay; a config that does not validate is refused with the error a start gives, and the
 * running one stays; listen addresses are rebound (TFTP) or refused with "restart needed"; a storm of
 * SIGHUPs is coalesced while phones boot, and nothing is dropped.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../../packages/http/src/client.js';
import { decodeTftp, encodeAck, encodeRequest } from '../../packages/tftp/src/codec.js';
import { Opcode } from '../../packages/tftp/src/packet.js';
import { tftpGetBuffer } from '../../packages/tftp/src/client.js';
import { RawUdp } from '../helpers/raw-udp.js';
import { needBinary } from '../helpers/peers.js';
import { selfSigned } from '../http/helpers.js';
import {
  cli,
  doras,
  freeUdpPort,
  type LogRecord,
  mac,
  makeRoot,
  relay,
  scratch,
  sha,
  siteConfig,
  type SiteConfig,
  startServe,
  writeConfig,
  type Served,
} from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await scratch('bw-reload-');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A hand-driven lock-step download: the test decides when each ACK goes, so it can pause mid-way. */
class SlowDownload {
  private constructor(
    private readonly c: RawUdp,
    private readonly tid: number,
    readonly blksize: number,
  ) {}
  readonly chunks: Buffer[] = [];
  private block = 0;
  done = false;

  static async start(port: number, file: string, blksize: number): Promise<SlowDownload> {
    const c = await RawUdp.open();
    c.send(encodeRequest(Opcode.RRQ, file, 'octet', [{ name: 'blksize', value: String(blksize) }]), port);
    const d = await c.next(5000);
    if (!d) throw new Error('no answer to the RRQ');
    const p = decodeTftp(d.msg);
    if (!p.ok || p.packet.opcode !== Opcode.OACK) throw new Error(`expected an OACK, got ${JSON.stringify(p)}`);
    const granted = Number(p.packet.options.find((o) => o.key === 'blksize')?.value);
    const dl = new SlowDownload(c, d.port, granted);
    c.send(encodeAck(0), d.port);
    return dl;
  }

  /** Takes `n` more DATA blocks (or up to the last). */
  async take(n: number): Promise<void> {
    for (let i = 0; i < n && !this.done; i++) {
      for (;;) {
        const d = await this.c.next(5000);
        if (!d) throw new Error(`DATA ${this.block + 1} never came`);
        const p = decodeTftp(d.msg);
        if (!p.ok || p.packet.opcode !== Opcode.DATA)
          throw new Error(`expected DATA, got ${JSON.stringify(p.ok ? p.packet : p.error)}`);
        const data = p.packet;
        if (data.block !== ((this.block + 1) & 0xffff)) continue; // a retransmission of one we have
        this.block++;
        this.chunks.push(Buffer.from(data.payload));
        this.c.send(encodeAck(data.block), this.tid);
        if (data.payload.length < this.blksize) this.done = true;
        break;
      }
    }
  }

  close(): void {
    this.c.close();
  }
}

const reloaded = (s: Served) => s.records().filter((r) => r.event === 'reloaded');
const refused = (s: Served) => s.records().filter((r) => r.event === 'reload-refused');

/** Sends SIGHUP and waits for the next reloaded or reload-refused record. */
async function hup(s: Served): Promise<LogRecord> {
  const n = reloaded(s).length + refused(s).length;
  s.signal('SIGHUP');
  await s.waitFor(() => reloaded(s).length + refused(s).length > n, 15_000, 'a reload record');
  return [...reloaded(s), ...refused(s)].sort((a, b) => (a.time as number) - (b.time as number)).at(-1)!;
}

const option242 = (r: Awaited<ReturnType<typeof doras>>[number]) =>
  r.ok ? r.lease.ack.options.raw(242)?.toString('latin1') : `failed: ${r.error}`;

describe('SIGHUP reload', () => {
  it(
    'applies root, limits, pools and class options to what starts next; a running transfer finishes ' +
      'on what it started with; leases stay',
    async () => {
      const site = path.join(dir, 'apply');
      await fs.mkdir(site);
      const old = await makeRoot(site, 1024 * 1024, 'root');
      const next = await makeRoot(site, 1024 * 1024 + 5, 'root2');
      await fs.writeFile(
        path.join(next.root, 'big.bin'),
        Buffer.concat([next.big.subarray(0, 100), Buffer.from('v2')]),
      );
      const relayPort = await freeUdpPort();
      const edit = (c: SiteConfig) => (c.tftp!.maxBlksize = 1468);
      const config = await writeConfig(site, siteConfig(relayPort, edit));
      const s = await startServe(['--config', config, '--log-level', 'info'], ['tftp', 'dhcp', 'http']);
      const client = await relay(relayPort, s.ports.dhcp!);
      try {
        const [first] = await doras(client, 1, 1);
        expect(option242(first!)).toBe('HTTPSRVR=10.77.0.1');
        const firstAddress = first!.ok ? first!.lease.address : '';
        expect(firstAddress).toBe('10.77.0.100');

        const running = await SlowDownload.start(s.ports.tftp!, 'big.bin', 1468);
        expect(running.blksize).toBe(1468);
        await running.take(10);

        await writeConfig(
          site,
          siteConfig(relayPort, (c) => {
            c.root = 'root2';
            c.tftp!.maxBlksize = 512;
            c.dhcp!.subnets![0]!.pool = ['10.77.0.100-10.77.0.100', '10.77.0.200-10.77.0.249'];
            c.dhcp!.classes![0]!.options = { '242': 'HTTPSRVR=10.77.0.9' };
          }),
        );
        const rec = await hup(s);
        expect(rec.event).toBe('reloaded');
        expect(rec.changed).toEqual(['root', 'tftp.maxBlksize', 'dhcp.subnets[0].pool', 'dhcp.classes[0].options.242']);
        expect(rec.msg).toBe(
          `reloaded ${config}: changed root, tftp.maxBlksize, dhcp.subnets[0].pool, dhcp.classes[0].options.242`,
        );

        // The transfer that was running: its blksize and its file copy, to the end.
        await running.take(1_000_000);
        running.close();
        expect(running.chunks.slice(0, -1).every((c) => c.length === 1468)).toBe(true);
        expect(sha(Buffer.concat(running.chunks))).toBe(sha(old.big));

        // New requests: the new root and the new blksize cap.
        const now = await tftpGetBuffer({ host: '127.0.0.1', port: s.ports.tftp!, filename: 'big.bin', blksize: 1468 });
        expect(now.info.blksize).toBe(512);
        expect(now.data.toString('latin1').endsWith('v2')).toBe(true);
        const overHttp = await httpGet(`http://127.0.0.1:${s.ports.http}/big.bin`, { keepBody: true });
        expect(overHttp.body!.toString('latin1').endsWith('v2')).toBe(true);

        // DHCP: the new class option for every reply; the new pool for a new phone; the old lease kept.
        const [again, newcomer] = await doras(client, 1, 2);
        expect(again!.ok && again!.lease.address).toBe(firstAddress);
        expect(option242(again!)).toBe('HTTPSRVR=10.77.0.9');
        expect(newcomer!.ok && Number(newcomer!.lease.address.split('.')[3])).toBeGreaterThanOrEqual(200);
      } finally {
        await client.close();
        await s.stop();
      }
    },
  );

  it('a config that does not validate is refused with the error a start gives, and the running one stays', async () => {
    const site = path.join(dir, 'bad');
    await fs.mkdir(site);
    const { small } = await makeRoot(site);
    const relayPort = await freeUdpPort();
    const good = siteConfig(relayPort, (c) => (c.tftp!.maxBlksize = 1468));
    const config = await writeConfig(site, good);
    const s = await startServe(['--config', config, '--log-level', 'info'], ['tftp', 'dhcp', 'http']);
    const client = await relay(relayPort, s.ports.dhcp!);
    try {
      const bad: [string, string | SiteConfig][] = [
        ['schema', siteConfig(relayPort, (c) => (c.tftp!.maxBlksize = 3))],
        [
          'pool outside its subnet',
          siteConfig(relayPort, (c) => (c.dhcp!.subnets![0]!.pool = '10.77.0.100-10.77.1.5')),
        ],
        ['not JSON', '{"root": "root",'],
        ['a key written twice', '{"root": "root", "root": "root2"}'],
      ];
      for (const [what, content] of bad) {
        if (typeof content === 'string') await fs.writeFile(config, content);
        else await writeConfig(site, content);
        const rec = await hup(s);
        expect(rec.event, what).toBe('reload-refused');
        // The same words as a start on that file (`bootwire: <error>`, exit 2).
        const start = await cli(['serve', '--config', config, '--workers', '0']);
        expect(start.code, what).toBe(2);
        expect(rec.error, what).toBe(start.stderr.trim().replace(/^bootwire: /, ''));
        expect(rec.msg, what).toBe(`reload refused, still running the previous configuration: ${String(rec.error)}`);
        // Still serving, on the configuration it had.
        const got = await tftpGetBuffer({
          host: '127.0.0.1',
          port: s.ports.tftp!,
          filename: 'small.cfg',
          blksize: 2000,
        });
        expect(got.info.blksize, what).toBe(1468);
        expect(sha(got.data)).toBe(sha(small));
      }
      const [phone] = await doras(client, 20, 1);
      expect(phone!.ok).toBe(true);
      expect(reloaded(s)).toHaveLength(0);
      // Put right, it reloads.
      await writeConfig(site, good);
      expect((await hup(s)).event).toBe('reloaded');
    } finally {
      await client.close();
      await s.stop();
    }
  });

  it(
    'a new TFTP listen address is bound (the old one goes quiet); DHCP and HTTP addresses need a ' + 'restart',
    async () => {
      const site = path.join(dir, 'listen');
      await fs.mkdir(site);
      await makeRoot(site);
      const relayPort = await freeUdpPort();
      const config = await writeConfig(site, siteConfig(relayPort));
      const s = await startServe(['--config', config, '--log-level', 'info'], ['tftp', 'dhcp', 'http']);
      try {
        const oldPort = s.ports.tftp!;
        const newPort = await freeUdpPort();
        await writeConfig(
          site,
          siteConfig(relayPort, (c) => (c.tftp!.listen = `127.0.0.1:${newPort}`)),
        );
        expect((await hup(s)).changed).toEqual(['tftp.listen']);
        const got = await tftpGetBuffer({ host: '127.0.0.1', port: newPort, filename: 'small.cfg' });
        expect(got.data.length).toBe(600);
        const probe = await RawUdp.open();
        probe.send(encodeRequest(Opcode.RRQ, 'small.cfg', 'octet'), oldPort);
        expect(await probe.next(500)).toBeUndefined();
        probe.close();

        for (const [field, edit] of [
          ['dhcp.listen', (c: SiteConfig) => (c.dhcp!.listen = '127.0.0.1:1')],
          ['http listen address', (c: SiteConfig) => (c.http!.listen = '127.0.0.1:1')],
          ['metrics added', (c: SiteConfig) => (c.metrics = { listen: '127.0.0.1:0' })],
        ] as const) {
          await writeConfig(
            site,
            siteConfig(relayPort, (c) => {
              c.tftp!.listen = `127.0.0.1:${newPort}`;
              edit(c);
            }),
          );
          const rec = await hup(s);
          expect(rec.event, field).toBe('reload-refused');
          expect(rec.error, field).toContain(field);
          expect(rec.error, field).toMatch(/restart needed/);
        }
        // Still on the new TFTP port.
        expect((await tftpGetBuffer({ host: '127.0.0.1', port: newPort, filename: 'small.cfg' })).data.length).toBe(
          600,
        );
      } finally {
        await s.stop();
      }
    },
  );

  it(
    '100 SIGHUPs in a second while phones boot: coalesced, every transfer and lease goes through, ' +
      'the last file wins',
    async () => {
      const site = path.join(dir, 'storm');
      await fs.mkdir(site);
      const { big, small } = await makeRoot(site, 2 * 1024 * 1024);
      const relayPort = await freeUdpPort();
      const version = (v: number) =>
        siteConfig(relayPort, (c) => (c.dhcp!.classes![0]!.options = { '242': `HTTPSRVR=10.77.0.${v}` }));
      const config = await writeConfig(site, version(1));
      const s = await startServe(
        ['--config', config, '--log-level', 'info', '--log-rate', '0'],
        ['tftp', 'dhcp', 'http'],
      );
      const client = await relay(relayPort, s.ports.dhcp!, 10_000);
      try {
        const downloads = Array.from({ length: 20 }, (_, i) =>
          tftpGetBuffer({
            host: '127.0.0.1',
            port: s.ports.tftp!,
            filename: i % 2 ? 'big.bin' : 'small.cfg',
            blksize: 512,
          }),
        );
        const gets = Array.from({ length: 10 }, () => httpGet(`http://127.0.0.1:${s.ports.http}/big.bin`));
        const phones = doras(client, 100, 60);
        // Ten bursts of ten signals, 100 ms apart, the file rewritten before each burst.
        for (let burst = 0; burst < 10; burst++) {
          await writeConfig(site, version(burst + 2));
          for (let k = 0; k < 10; k++) s.signal('SIGHUP');
          await new Promise((r) => setTimeout(r, 100));
        }
        const [got, pages, leases] = await Promise.all([Promise.all(downloads), Promise.all(gets), phones]);
        got.forEach((g, i) => expect(sha(g.data)).toBe(sha(i % 2 ? big : small)));
        expect(pages.every((p) => p.status === 200 && p.sha256 === sha(big))).toBe(true);
        expect(leases.every((l) => l.ok)).toBe(true);
        expect(new Set(leases.map((l) => (l.ok ? l.lease.address : ''))).size).toBe(60);
        // Let the last reload finish: then the last file is the one in force.
        await new Promise((r) => setTimeout(r, 500));
        expect(s.proc.exitCode).toBeNull();
        const n = reloaded(s).length;
        expect(refused(s)).toHaveLength(0);
        expect(n).toBeGreaterThanOrEqual(1);
        expect(n).toBeLessThan(100);
        const [late] = await doras(client, 500, 1);
        expect(option242(late!)).toBe('HTTPSRVR=10.77.0.11');
        // The leases from during the storm are all still there.
        const listed = await cli(['leases', '--config', config, '--json']);
        expect(listed.code).toBe(0);
        const macs = new Set(
          (JSON.parse(listed.stdout.toString()) as { leases: { mac: string }[] }).leases.map((l) => l.mac),
        );
        for (let i = 100; i < 160; i++) expect(macs.has(mac(i))).toBe(true);
      } finally {
        await client.close();
        await s.stop();
      }
    },
  );

  it(
    'a rotated HTTPS certificate (same file names) is served to new connections; a key that does not ' +
      'match is refused',
    async (ctx) => {
      const openssl = needBinary('openssl', 'openssl').use(ctx);
      const site = path.join(dir, 'tls');
      await fs.mkdir(site);
      await makeRoot(site);
      const pem = await selfSigned(openssl, site);
      const relayPort = await freeUdpPort();
      const withTls = siteConfig(
        relayPort,
        (c) => (c.http = { listen: '127.0.0.1:0', https: { listen: '127.0.0.1:0', cert: 'cert.pem', key: 'key.pem' } }),
      );
      const config = await writeConfig(site, withTls);
      const s = await startServe(['--config', config, '--log-level', 'info'], ['tftp', 'http', 'https']);
      const fingerprint = () =>
        new Promise<string>((resolve, reject) => {
          const c = tls.connect({ host: '127.0.0.1', port: s.ports.https!, rejectUnauthorized: false }, () => {
            resolve(c.getPeerCertificate().fingerprint256);
            c.end();
          });
          c.on('error', reject);
        });
      try {
        const before = await fingerprint();
        const old = { cert: await fs.readFile(pem.cert), key: await fs.readFile(pem.key) };
        await selfSigned(openssl, site); // new key and certificate under the same names
        const rec = await hup(s);
        expect(rec.event).toBe('reloaded');
        expect(rec.changed).toEqual(['https certificate (contents)', 'https key (contents)']);
        const after = await fingerprint();
        expect(after).not.toBe(before);
        // The old key with the new certificate: refused, the new pair stays in use.
        await fs.writeFile(pem.key, old.key);
        const bad = await hup(s);
        expect(bad.event).toBe('reload-refused');
        expect(bad.error).toMatch(/^bad TLS certificate or key: /);
        expect(await fingerprint()).toBe(after);
      } finally {
        await s.stop();
      }
    },
  );

  it('without --config, SIGHUP says there is nothing to reread and the server goes on', async () => {
    const { root } = await makeRoot(path.join(dir, 'noconfig'));
    const s = await startServe(['--root', root, '--tftp', '127.0.0.1:0', '--log-level', 'info'], ['tftp']);
    try {
      s.signal('SIGHUP');
      await s.waitFor((r) => /nothing to reread/.test(r.msg ?? ''), 10_000, 'the no-config warning');
      expect((await tftpGetBuffer({ host: '127.0.0.1', port: s.ports.tftp!, filename: 'small.cfg' })).data.length).toBe(
        600,
      );
    } finally {
      await s.stop();
    }
  });
});
