/**
 * One log record per finished transfer (issue 17, item 3), from `bootwire serve` itself: TFTP and
 * HTTP, ok, refused and failed, with client address and port, file, options negotiated, bytes,
 * milliseconds, retransmissions, result and error; `--log-format pretty`; and per-packet records
 * (DHCP messages, refused requests) quiet at high rates, the rest counted exactly in a summary.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../../packages/http/src/client.js';
import { encodeRequest } from '../../packages/tftp/src/codec.js';
import { Opcode } from '../../packages/tftp/src/packet.js';
import { tftpGetBuffer } from '../../packages/tftp/src/client.js';
import { RawUdp } from '../helpers/raw-udp.js';
import {
  doras,
  freeUdpPort,
  type LogRecord,
  makeRoot,
  relay,
  scratch,
  siteConfig,
  startServe,
  writeConfig,
} from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await scratch('bw-translog-');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const transfers = (records: LogRecord[]) => records.filter((r) => r.event === 'transfer');

describe('transfer records', () => {
  it('TFTP and HTTP: ok, refused, failed, each once, with what was negotiated', async () => {
    const { root } = await makeRoot(path.join(dir, 'records'));
    const s = await startServe(
      [
        '--root',
        root,
        '--tftp',
        '127.0.0.1:0',
        '--http',
        '127.0.0.1:0',
        '--timeout-ms',
        '100',
        '--retries',
        '1',
        '--log-level',
        'info',
      ],
      ['tftp', 'http'],
    );
    try {
      await tftpGetBuffer({
        host: '127.0.0.1',
        port: s.ports.tftp!,
        filename: 'small.cfg',
        blksize: 1468,
        tsize: true,
      });
      await tftpGetBuffer({ host: '127.0.0.1', port: s.ports.tftp!, filename: 'missing.cfg' }).catch(() => {});
      // A client that asks and never acknowledges: the transfer fails after its retries.
      const silent = await RawUdp.open();
      silent.send(encodeRequest(Opcode.RRQ, 'big.bin', 'octet'), s.ports.tftp!);
      await httpGet(`http://127.0.0.1:${s.ports.http}/small.cfg`);
      await httpGet(`http://127.0.0.1:${s.ports.http}/nope.cfg`);
      await s.waitFor((r) => r.event === 'transfer' && r.result === 'failed', 10_000, 'the failed transfer');
      silent.close();
      const recs = transfers(s.records());
      expect(recs).toHaveLength(5);
      const ok = recs.find((r) => r.protocol === 'tftp' && r.result === 'ok')!;
      expect(ok).toMatchObject({
        client: '127.0.0.1',
        file: 'small.cfg',
        direction: 'read',
        options: { mode: 'octet', blksize: '1468', tsize: '600' },
        bytes: 600,
        retransmits: 0,
        level: 30,
      });
      expect(ok.port).toBeGreaterThan(0);
      expect(typeof ok.ms).toBe('number');
      expect(ok.msg).toMatch(/^tftp read small\.cfg to 127\.0\.0\.1:\d+ ok, 600 bytes in \d+ ms$/);
      expect(recs.find((r) => r.protocol === 'tftp' && r.result === 'refused')).toMatchObject({
        file: 'missing.cfg',
        bytes: 0,
        error: 'ERROR 1: "missing.cfg" not found',
      });
      const failed = recs.find((r) => r.protocol === 'tftp' && r.result === 'failed')!;
      expect(failed).toMatchObject({ file: 'big.bin', port: silent.port, bytes: 512, retransmits: 1 });
      expect(failed.error).toMatch(/^ERROR 0: /);
      expect(recs.find((r) => r.protocol === 'http' && r.result === 'ok')).toMatchObject({
        file: 'small.cfg',
        options: { method: 'GET', status: 200 },
        bytes: 600,
        retransmits: 0,
      });
      expect(recs.find((r) => r.protocol === 'http' && r.result === 'refused')).toMatchObject({
        file: '/nope.cfg',
        bytes: 0,
        error: '404 Not Found',
      });
    } finally {
      await s.stop();
    }
  });

  it('--log-format pretty: one readable line a record', async () => {
    const { root } = await makeRoot(path.join(dir, 'pretty'));
    const s = await startServe(
      ['--root', root, '--tftp', '127.0.0.1:0', '--log-level', 'info', '--log-format', 'pretty'],
      ['tftp'],
    );
    try {
      await tftpGetBuffer({ host: '127.0.0.1', port: s.ports.tftp!, filename: 'small.cfg' });
      const end = Date.now() + 10_000;
      while (!/tftp read small\.cfg to 127\.0\.0\.1:\d+ ok, 600 bytes/.test(s.stderr()) && Date.now() < end)
        await new Promise((r) => setTimeout(r, 25));
      const line = s
        .stderr()
        .split('\n')
        .find((l) => l.includes('tftp read small.cfg'))!;
      expect(line).toMatch(
        /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: tftp read small\.cfg to 127\.0\.0\.1:\d+ ok, 600 bytes in \d+ ms /,
      );
      expect(
        s
          .stderr()
          .split('\n')
          .filter((l) => l.startsWith('{')),
      ).toEqual([]);
    } finally {
      await s.stop();
    }
    const bad = await import('./helpers.js').then((h) => h.cli(['serve', '--root', root, '--log-format', 'xml']));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('bootwire: --log-format must be json or pretty, got "xml"\n');
  });

  it(
    'floods of refused requests and DHCP messages are logged up to --log-rate; the rest are counted ' + 'exactly',
    async () => {
      const d = path.join(dir, 'flood');
      await fs.mkdir(d);
      await makeRoot(d);
      const relayPort = await freeUdpPort();
      const config = await writeConfig(d, siteConfig(relayPort));
      // All 100 clients share 127.0.0.1: the per-address limits (64 at once, 200 requests/s) are lifted, they are not
      // what this counts.
      const s = await startServe(
        [
          '--config',
          config,
          '--log-level',
          'info',
          '--log-rate',
          '5',
          '--max-request-rate',
          '0',
          '--max-transfers-per-address',
          '1000',
        ],
        ['tftp', 'dhcp'],
      );
      const FLOOD = 1000;
      const PHONES = 30;
      try {
        // 100 clients (a request from an address:port with one under way is taken for a repetition),
        // each asking for 10 missing files in a row.
        const answered = await Promise.all(
          Array.from({ length: 100 }, async (_, k) => {
            const c = await RawUdp.open();
            let n = 0;
            for (let i = 0; i < FLOOD / 100; i++) {
              c.send(encodeRequest(Opcode.RRQ, `nope-${k}-${i}`, 'octet'), s.ports.tftp!);
              if (await c.next(3000)) n++;
            }
            c.close();
            return n;
          }),
        );
        expect(answered.reduce((a, b) => a + b, 0)).toBe(FLOOD);
        const client = await relay(relayPort, s.ports.dhcp!);
        const got = await doras(client, 1, PHONES);
        await client.close();
        expect(got.every((g) => g.ok)).toBe(true);
      } finally {
        expect(await s.stop()).toBe(0);
      }
      const recs = s.records();
      const refusedLogged = transfers(recs).filter((r) => r.result === 'refused').length;
      const dhcpLogged = recs.filter((r) => /^dhcp (OFFER|ACK) /.test(r.msg ?? '')).length;
      const suppressed = recs.filter((r) => r.event === 'suppressed').map((r) => r.counts as Record<string, number>);
      const total = (kind: string) => suppressed.reduce((n, c) => n + (c[kind] ?? 0), 0);
      const stopped = recs.find((r) => r.msg === 'stopped') as {
        dhcp: { sent: Record<string, number> };
        tftp: { errorsSent: Record<string, number> };
      };
      const refusedSent = stopped.tftp.errorsSent['1']!;
      expect(refusedSent).toBe(FLOOD);
      const repliesSent = Object.values(stopped.dhcp.sent).reduce((a, b) => a + b, 0);
      // A burst of twice the rate, and what the seconds since added; never the flood.
      expect(refusedLogged).toBeGreaterThanOrEqual(10);
      expect(refusedLogged).toBeLessThan(100);
      expect(refusedLogged + total('tftp-refused')).toBe(refusedSent);
      expect(dhcpLogged).toBeLessThan(repliesSent);
      expect(dhcpLogged + total('dhcp')).toBe(repliesSent);
      expect(suppressed.at(-1)).toBeDefined();
    },
  );
});
