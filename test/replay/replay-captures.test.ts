/**
 * `bootwire replay` on real captures, against the built-in servers: every capture in captures/ replays
 * with every conversation ok, and every public capture (../shared/captures/public, skipped when absent)
 * with the outcome listed below, each skip for a documented reason and no difference. A server serving
 * other bytes, a damaged capture, usage errors and the DHCP path to another server are checked too.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLeaseStore } from '../../packages/dhcp/src/leases/store.js';
import { DhcpServer } from '../../packages/dhcp/src/server/server.js';
import { dhcpSchema } from '../../packages/bootwire/src/config/schema.js';
import { trackTftp } from '../../packages/capture/src/tftp-conversations.js';
import {
  recordedTransfers,
  replayCapture,
  replayTftp,
  summarize,
  type ReplayReport,
} from '../../packages/bootwire/src/replay/index.js';
import { TftpServer } from '../../packages/tftp/src/server.js';
import { CAPTURE_FILES, captureFileBytes } from '../../captures/files.mjs';
import { REPO_ROOT } from '../helpers/peers.js';
import { ack, blocks, bytes as someBytes, dg, rrq } from './helpers.js';
import { bindUdp } from '../../packages/core/src/udp.js';

const OWN = path.join(REPO_ROOT, 'captures');
const PUBLIC = path.resolve(REPO_ROOT, '..', 'shared', 'captures', 'public');
const CLI = path.join(REPO_ROOT, 'packages', 'bootwire', 'dist', 'cli', 'main.js');
const isCapture = (f: string) => /\.(pcap|pcapng|cap)(\.gz)?$/.test(f);
const ownCaptures = readdirSync(OWN).filter(isCapture).sort();

const verdicts = (r: ReplayReport) => r.outcomes.map((o) => `${o.verdict} ${o.proto} ${o.what}: ${o.detail}`);
const counts = (r: ReplayReport) => {
  const s = summarize(r);
  return [s.ok, s.skipped, s.different];
};

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, 'replay', ...args], {
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('replay of the captures in captures/ against the built-in servers', () => {
  it('has the captures record.sh makes', () => {
    expect(ownCaptures.length).toBe(20);
  });

  for (const file of ownCaptures) {
    it(`${file}: every conversation ok`, async () => {
      const r = await replayCapture(path.join(OWN, file));
      expect(r.warnings).toEqual([]);
      expect(r.outcomes.length).toBeGreaterThan(0);
      for (const o of r.outcomes) expect(o.verdict, `${o.what}: ${o.detail}`).toBe('ok');
      // The bytes checked are the files the capture was made with.
      for (const [name, size] of Object.entries(CAPTURE_FILES)) {
        const o = r.outcomes.find((x) => x.what.includes(`"${name}"`));
        if (o) expect(o.detail).toContain(`${size} bytes, sha256 ${sha(captureFileBytes(name, size)).slice(0, 16)}`);
      }
    });
  }

  it('says how the recorded servers negotiated where bootwire differs', async () => {
    const r = await replayCapture(path.join(OWN, 'tftp-window-tftpd-hpa.pcap'));
    expect(r.outcomes[0]).toMatchObject({
      verdict: 'ok',
      detail: expect.stringMatching(/; blksize 8192, windowsize 16$/),
      notes: ['windowsize 16, the recorded server gave none (1)'],
    });
    const put = await replayCapture(path.join(OWN, 'tftp-put-bootwire.pcapng'));
    expect(verdicts(put)).toEqual([
      expect.stringMatching(
        /^ok tftp #1 WRQ "upload-80k.bin" from 10\.151\.0\.50:\d+: 80000 bytes, sha256 [0-9a-f]{16}; blksize 512$/,
      ),
      expect.stringMatching(/^ok tftp #2 WRQ "\.\.\/escape\.bin" from 10\.151\.0\.50:\d+: ERROR 2 as recorded$/),
    ]);
    const dhcp = await replayCapture(path.join(OWN, 'dhcp-udhcpc-kea.pcapng'));
    expect(verdicts(dhcp)).toEqual([
      expect.stringMatching(
        /^ok dhcp #1 DISCOVER from [0-9a-f:]{17} \(xid 0x[0-9a-f]{8}\): OFFER 10\.151\.0\.100 with 1, 3, 66, 67, 242 as asked$/,
      ),
      expect.stringMatching(/^ok dhcp #2 REQUEST .*: ACK 10\.151\.0\.100 with 1, 3, 66, 67, 242 as asked$/),
    ]);
  });
});

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/**
 * Expected [ok, skipped, different] per public capture with TFTP or DHCP in it, and why anything is
 * skipped. Captures not listed here must replay with no difference and only skips of these kinds.
 */
const PUBLIC_EXPECTED: Record<string, [number, number, number]> = {
  // A DISCOVER with no reply: nothing to configure a server from.
  'OISF__suricata-verify__dhcp-option-52-overload-both__input.pcap': [0, 1, 0],
  'OISF__suricata-verify__dhcp-option-52-overload__input.pcap': [2, 0, 0],
  'ahmedelemamn__Wireshark-Captures__capwap-discovery_ipv4_dhcp-opt43.pcapng': [2, 0, 0],
  'ahmedelemamn__Wireshark-Captures__dhcp_v4_basic.pcapng': [3, 0, 0],
  'ahmedelemamn__Wireshark-Captures__dhcp_v4_relay.pcapng': [2, 0, 0],
  'ahmedelemamn__Wireshark-Captures__ipv4-tftp_put.pcapng': [1, 0, 0],
  'arkime__arkime__tftp_rrq.pcap': [1, 0, 0],
  'arkime__arkime__wireshark-dhcp.pcap': [2, 0, 0],
  // Replies from two servers: the REQUEST names the one that answered, replayed as ours.
  'danderson__netboot__dhcp.pcap': [2, 0, 0],
  // A fuzzed transfer: the server "ends" it with ERROR 62620 after 3 blocks (incomplete).
  'iagox86__dissector__tftp.pcap': [1, 1, 0],
  // A fuzzed DHCP message of type 106, and no reply.
  'ntop__nDPI__dhcp-fuzz.pcapng': [0, 1, 0],
  // An unanswered RRQ, an upload cut after block 1, an upload with no DATA captured.
  'ntop__nDPI__tftp.pcap': [1, 3, 0],
  'pangzhiwang__PcapAnalysis__tftp.pcap': [3, 0, 0],
  'realjimmy__sample-captures__Obsolete_Packets.cap': [55, 0, 0],
  'realjimmy__sample-captures__PRIV_bootp-both_overload_empty-no_end.pcap': [0, 1, 0],
  // The capture opens with a RENEW the server NAKs for lack of a lease it had before the capture.
  'realjimmy__sample-captures__dhcp-nak-decline-inform-windows.pcapng': [6, 1, 0],
  'realjimmy__sample-captures__dhcp-over-80211-no-radiotap.pcap': [3, 0, 0],
  // Relayed DISCOVER (hops 2), no reply.
  'realjimmy__sample-captures__dhcp-relay-hops2-huawei.pcapng': [0, 1, 0],
  'realjimmy__sample-captures__dhcp-renew-unicast-and-broadcast.pcapng': [14, 0, 0],
  'realjimmy__sample-captures__dhcpfo.pcapng': [8, 0, 0],
  // The H3C switch's WRQ carries options its server ignored; bootwire grants them and the upload matches.
  'realjimmy__sample-captures__h3c-tftp-upload-startup-cfg-options-ignored.pcap': [1, 0, 0],
  'realjimmy__sample-captures__huawei-ap-dhcp-option43-vlan.pcapng': [4, 0, 0],
  'realjimmy__sample-captures__huawei-nqa-dhcp-probes-option60-nul-padded.pcapng': [57, 0, 0],
  'realjimmy__sample-captures__nb6-startup.pcap': [4, 0, 0],
  'realjimmy__sample-captures__ndsp_v2.pcapng.gz': [2, 0, 0],
  'realjimmy__sample-captures__tftp-rrq-options-ignored-by-server.pcap': [1, 0, 0],
  // Alcatel phones: three RRQs with empty option names (the codec refuses them), and DISCOVERs nobody answered.
  'realjimmy__sample-captures__uaudp_ipv6.pcap': [12, 10, 0],
  'songokas__tftp__receive_capture_no_encryption_stack.pcap': [1, 0, 0],
  'songokas__tftp__send_capture_no_encryption_stack.pcap': [1, 0, 0],
  'the-tcpdump-group__tcpdump__dhcp-rfc3004.pcap': [2, 0, 0],
  'the-tcpdump-group__tcpdump__dhcp-rfc5859.pcap': [2, 0, 0],
  'the-tcpdump-group__tcpdump__dhcpv4v6-rfc5970-rfc8572.pcap': [2, 0, 0],
  'zeek__spicy-tftp__tftp_oack.pcap': [1, 0, 0],
  'zeek__spicy-tftp__tftp_wrq.pcap': [1, 0, 0],
  'zeek__zeek__dhcp.pcap': [5, 0, 0],
  'zeek__zeek__dhcp_time_and_nameserver.pcap': [1, 0, 0],
};

/** Every reason a public capture's conversation may be skipped. */
const DOCUMENTED_SKIPS = [
  /^no reply in the capture gives an address to configure a server from$/,
  /^incomplete \(/,
  /^no answer in the capture$/,
  /^the request does not decode \(empty option name\), so it cannot be sent as recorded$/,
  // A fresh server has no record of the client: RFC 2131 4.3.2 silence (it used to ACK).
  /^the recorded NAK of [\d.]+ rests on lease state from before the capture \((ACK|ignored: no record of this client \(RFC 2131 4\.3\.2: silence\); the recorded server sent NAK) now\)$/,
];

describe.skipIf(!existsSync(PUBLIC))('replay of the public captures against the built-in servers', () => {
  const files = existsSync(PUBLIC) ? readdirSync(PUBLIC).filter(isCapture).sort() : [];
  for (const file of files) {
    it(`${file}`, async () => {
      const r = await replayCapture(path.join(PUBLIC, file));
      expect(r.unreadable).toBeUndefined();
      const why = verdicts(r).join('\n');
      for (const o of r.outcomes) {
        expect(o.verdict, why).not.toBe('different');
        if (o.verdict === 'skipped')
          expect(
            DOCUMENTED_SKIPS.some((re) => re.test(o.detail)),
            `undocumented skip: ${o.detail}`,
          ).toBe(true);
      }
      const expected = PUBLIC_EXPECTED[file];
      if (expected) expect(counts(r), why).toEqual(expected);
      else
        expect(
          r.outcomes.filter((o) => o.verdict === 'ok').length,
          `${file} has TFTP or DHCP conversations: list it in PUBLIC_EXPECTED`,
        ).toBe(0);
    });
  }
});

describe('a server that differs, a damaged capture, and the command line', () => {
  let root: string;
  let wrong: TftpServer;

  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-replay-wrong-'));
    for (const [name, size] of Object.entries(CAPTURE_FILES)) {
      const b = Buffer.from(captureFileBytes(name, size));
      if (name === 'curl-100k.bin') b[70_000] = b[70_000]! ^ 0xff; // one byte changed
      if (name === 'lockstep-64k.bin') {
        await fs.writeFile(path.join(root, name), b.subarray(0, 65_000)); // cut short
        continue;
      }
      await fs.writeFile(path.join(root, name), b);
    }
    wrong = await TftpServer.start({ root, host: '127.0.0.1', port: 0, workers: 0 });
  });

  afterAll(async () => {
    await wrong?.close(0);
    if (root) await fs.rm(root, { recursive: true, force: true });
  });

  it('names the first differing byte when the server serves other bytes', async () => {
    const r = await replayCapture(path.join(OWN, 'tftp-curl-tftpd-hpa.pcap'), {
      tftp: { server: { host: '127.0.0.1', port: wrong.address().port } },
    });
    expect(verdicts(r)).toEqual([
      expect.stringMatching(
        /^different tftp #1 RRQ "curl-100k.bin" from 10\.151\.0\.50:\d+: bytes differ from byte 70000: received 100000 bytes sha256 [0-9a-f]{16}, recorded 100000 bytes sha256 [0-9a-f]{16}$/,
      ),
    ]);
    const short = await replayCapture(path.join(OWN, 'tftp-lockstep-atftpd.pcap'), {
      tftp: { server: { host: '127.0.0.1', port: wrong.address().port } },
    });
    expect(short.outcomes[0]!.detail).toMatch(/^bytes differ from byte 65000: received 65000 bytes/);
  });

  it('exits 1 on the command line, the first difference printed', async () => {
    const r = await cli([path.join(OWN, 'tftp-curl-bootwire.pcapng'), '--server', `127.0.0.1:${wrong.address().port}`]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^DIFFERENT tftp #1 RRQ "curl-100k.bin" from [\d.:]+: bytes differ from byte 70000: /m);
    expect(r.stdout).toMatch(/: 1 conversation: 0 ok, 0 skipped, 1 different\n$/);
    const ok = await cli([path.join(OWN, 'tftp-curl-bootwire.pcapng')]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok {8}tftp #1 RRQ "curl-100k.bin"/m);
  });

  it('exits 2 on usage errors and 1 on a file that is no capture', async () => {
    expect((await cli([path.join(OWN, 'no-such.pcap')])).code).toBe(2);
    expect((await cli([path.join(OWN, 'tftp-curl-bootwire.pcapng'), '--server', 'nowhere'])).code).toBe(2);
    expect((await cli([path.join(OWN, 'tftp-curl-bootwire.pcapng'), '--timeout-ms', 'x'])).code).toBe(2);
    expect((await cli([])).code).toBe(2);
    const readme = await cli([path.join(OWN, 'README.md')]);
    expect(readme.code).toBe(1);
    expect(readme.stdout).toMatch(/cannot read the capture: unknown magic number/);
  });

  it('replays what comes before the damage of a truncated capture and reports the damage', async () => {
    const bytes = await fs.readFile(path.join(OWN, 'tftp-lockstep-tftpd-hpa.pcap'));
    const cut = path.join(root, 'cut.pcap');
    await fs.writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r = await replayCapture(cut);
    expect(r.warnings[0]).toMatch(
      /^the capture is damaged at byte \d+ \(truncated: .*\); replaying the \d+ records before it$/,
    );
    expect(verdicts(r)).toEqual([
      expect.stringMatching(
        /^skipped tftp #1 RRQ "lockstep-64k.bin" .*: incomplete \(the capture ends after block \d+, which is not short\)$/,
      ),
    ]);
    expect(summarize(r).exitCode).toBe(0);

    const two = Buffer.concat([
      await fs.readFile(path.join(OWN, 'tftp-missing-tftpd-hpa.pcap')),
      Buffer.from([1, 2, 3]),
    ]);
    await fs.writeFile(cut, two);
    const c = await cli([cut]);
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/^warning: the capture is damaged at byte 214 /m);
    expect(c.stdout).toMatch(/^ok {8}tftp #1 RRQ "no-such-file.bin" .*: ERROR 1 as recorded/m);
  });

  it('skips files no root can hold, and still replays the rest', async () => {
    const download = (name: string, port: number) => {
      const C = `10.0.0.50:${port}`;
      const T = `10.0.0.1:${port + 1}`;
      const out = [dg(C, '10.0.0.1:69', rrq(name))];
      blocks(someBytes(600, port), 512).forEach((d, i) => out.push(dg(T, C, d), dg(C, T, ack(i + 1))));
      return out;
    };
    const long = 'x'.repeat(300);
    const transfers = recordedTransfers(
      trackTftp([...download(long, 1000), ...download('../up.bin', 1010), ...download('ok.bin', 1020)]),
    );
    const out = await replayTftp(transfers, { server: 'builtin' });
    expect(out.map((o) => `${o.verdict}: ${o.detail}`)).toEqual([
      'skipped: the file cannot be written to a root: ENAMETOOLONG',
      'skipped: the file cannot be served from a root: its name leaves the root (..)',
      expect.stringMatching(/^ok: 600 bytes, sha256 [0-9a-f]{16}; blksize 512$/),
    ]);
  });

  it('replays DHCP to another server (here bootwire on loopback, answering a relay on a high port)', async () => {
    const probe = dgram.createSocket('udp4');
    await bindUdp(probe, 0, '127.0.0.1');
    const relayPort = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    const config = dhcpSchema.parse({
      listen: '127.0.0.1:0',
      leases: 'memory',
      relayPort,
      serverId: '10.151.0.1',
      subnets: [
        {
          subnet: '10.151.0.0/24',
          pool: '10.151.0.100-10.151.0.199',
          options: { router: '10.151.0.1', '66': '10.151.0.1' },
        },
      ],
      classes: [
        { match: { vendorClass: 'ccp.avaya.com' }, options: { '242': 'MCIPADD=10.151.0.5', '67': '46xxupgrade.scr' } },
      ],
    });
    const server = await DhcpServer.start({ config, store: new MemoryLeaseStore(), localAddresses: [] });
    try {
      const r = await replayCapture(path.join(OWN, 'dhcp-dhclient-dnsmasq.pcap'), {
        dhcp: {
          server: { host: '127.0.0.1', port: server.address().port },
          relay: { address: '127.0.0.1', port: relayPort },
        },
      });
      expect(verdicts(r)).toEqual([
        expect.stringMatching(/^ok dhcp #1 DISCOVER .*: OFFER 10\.151\.0\.1\d\d with 1, 3, 66, 67, 242 as asked/),
        expect.stringMatching(/^ok dhcp #2 REQUEST .*: ACK 10\.151\.0\.1\d\d with 1, 3, 66, 67, 242 as asked/),
        expect.stringMatching(/^ok dhcp #3 RELEASE .*: no reply, as recorded$/),
      ]);
      expect(server.stats().sent).toEqual({ OFFER: 1, ACK: 1 });
    } finally {
      await server.close();
    }
  });
});
