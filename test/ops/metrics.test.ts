/**
 * `serve --metrics`: a small storm (TFTP downloads, some of missing files, HTTP GETs and HEADs and a
 * 404, DHCP DORAs through a relay) while /metrics is scraped over and over; then every counter is
 * compared with the test's own counts, and with the server's own totals in its `stopped` record.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../../packages/http/src/client.js';
import { tftpGetBuffer } from '../../packages/tftp/src/client.js';
import {
  cli,
  doras,
  freeUdpPort,
  makeRoot,
  relay,
  scrape,
  scratch,
  sha,
  siteConfig,
  startServe,
  writeConfig,
  type Served,
} from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await scratch('bw-metrics-');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const sample = (m: Map<string, number>, key: string) => m.get(key) ?? 0;

describe('serve --metrics', () => {
  it('counters match a storm exactly, scrapes during it all answer and never go back', async () => {
    const { small, big } = await makeRoot(dir, 3 * 1024 * 1024);
    const relayPort = await freeUdpPort();
    const config = await writeConfig(
      dir,
      siteConfig(relayPort, (c) => (c.metrics = { listen: '127.0.0.1:0' })),
    );
    const s: Served = await startServe(
      ['--config', config, '--log-level', 'info', '--grace', '1'],
      ['tftp', 'dhcp', 'http', 'metrics'],
    );
    try {
      const before = await scrape(s.ports.metrics!);
      expect(before.status).toBe(200);
      // The defaults of prom-client are there too.
      expect(before.text).toMatch(/^process_cpu_seconds_total /m);
      expect(before.text).toMatch(/^nodejs_eventloop_lag_seconds /m);

      // Scrapes all through the storm.
      let scraping = true;
      const scrapes: Map<string, number>[] = [];
      const scraper = (async () => {
        while (scraping) {
          const r = await scrape(s.ports.metrics!);
          expect(r.status).toBe(200);
          scrapes.push(r.samples);
          await new Promise((res) => setTimeout(res, 10));
        }
      })();

      const TFTP_OK = 24;
      const TFTP_MISSING = 6;
      const HTTP_GETS = 10;
      const PHONES = 40;
      const tftpGets = Array.from({ length: TFTP_OK }, (_, i) =>
        tftpGetBuffer({
          host: '127.0.0.1',
          port: s.ports.tftp!,
          filename: i % 4 === 0 ? 'big.bin' : 'small.cfg',
          blksize: i % 2 ? 1468 : 512,
          tsize: true,
        }),
      );
      const missing = Array.from({ length: TFTP_MISSING }, (_, i) =>
        tftpGetBuffer({ host: '127.0.0.1', port: s.ports.tftp!, filename: `missing-${i}.cfg` }).then(
          () => 'served',
          (e: Error) => e.message,
        ),
      );
      const base = `http://127.0.0.1:${s.ports.http}`;
      const httpGets = Array.from({ length: HTTP_GETS }, (_, i) =>
        httpGet(`${base}/${i % 2 ? 'big.bin' : 'small.cfg'}`),
      );
      const head = httpGet(`${base}/big.bin`, { method: 'HEAD' });
      const notFound = httpGet(`${base}/nope.bin`);
      const client = await relay(relayPort, s.ports.dhcp!);
      const leases = doras(client, 1, PHONES);

      const got = await Promise.all(tftpGets);
      const refusedMessages = await Promise.all(missing);
      const httpResults = await Promise.all(httpGets);
      const [headResult, notFoundResult, dhcpResults] = await Promise.all([head, notFound, leases]);
      await client.close();
      scraping = false;
      await scraper;

      // The storm itself went as expected.
      got.forEach((g, i) => expect(sha(g.data)).toBe(sha(i % 4 === 0 ? big : small)));
      expect(refusedMessages.every((m) => /error 1/.test(m))).toBe(true);
      expect(httpResults.map((r) => r.status)).toEqual(Array(HTTP_GETS).fill(200));
      expect([headResult.status, notFoundResult.status]).toEqual([200, 404]);
      expect(dhcpResults.every((r) => r.ok)).toBe(true);
      const dhcpRetransmits = dhcpResults.reduce((n, r) => n + (r.ok ? r.lease.retransmits : r.retransmits), 0);

      // Scrapes during the storm: several, every one parsed, and no counter ever went back.
      expect(scrapes.length).toBeGreaterThanOrEqual(3);
      for (let i = 1; i < scrapes.length; i++) {
        for (const [k, v] of scrapes[i - 1]!) {
          if (/_total(\{|$)/.test(k) && !k.startsWith('process_') && !k.startsWith('nodejs_'))
            expect(scrapes[i]!.get(k) ?? 0, k).toBeGreaterThanOrEqual(v);
        }
      }

      // Transfers finish their records after the client's last ACK: wait for the server's count.
      await s.waitFor(
        () =>
          s.records().filter((r) => r.event === 'transfer' && r.protocol === 'tftp').length >= TFTP_OK + TFTP_MISSING,
        15_000,
        'every TFTP record',
      );
      const m = (await scrape(s.ports.metrics!)).samples;
      const tftpBytes = got.reduce((n, g) => n + g.data.length, 0);
      const httpBytes = httpResults.reduce((n, r) => n + r.bytes, 0);
      expect(sample(m, 'bootwire_transfers_total{protocol="tftp",result="ok"}')).toBe(TFTP_OK);
      expect(sample(m, 'bootwire_transfers_total{protocol="tftp",result="refused"}')).toBe(TFTP_MISSING);
      expect(sample(m, 'bootwire_transfers_total{protocol="tftp",result="failed"}')).toBe(0);
      expect(sample(m, 'bootwire_transfer_bytes_total{protocol="tftp"}')).toBe(tftpBytes);
      expect(sample(m, 'bootwire_transfer_seconds_count{protocol="tftp"}')).toBe(TFTP_OK);
      expect(sample(m, 'bootwire_transfers_total{protocol="http",result="ok"}')).toBe(HTTP_GETS + 1);
      expect(sample(m, 'bootwire_transfers_total{protocol="http",result="refused"}')).toBe(1);
      expect(sample(m, 'bootwire_transfer_bytes_total{protocol="http"}')).toBe(httpBytes);
      expect(sample(m, 'bootwire_http_requests_total{method="GET",status="200"}')).toBe(HTTP_GETS);
      expect(sample(m, 'bootwire_http_requests_total{method="HEAD",status="200"}')).toBe(1);
      expect(sample(m, 'bootwire_http_requests_total{method="GET",status="404"}')).toBe(1);
      expect(sample(m, 'bootwire_active_transfers{protocol="tftp"}')).toBe(0);
      // DHCP: what the phones sent (their retransmissions included) and what they were answered.
      const inTotal = ['DISCOVER', 'REQUEST'].reduce(
        (n, t) => n + sample(m, `bootwire_dhcp_messages_total{type="${t}",direction="in"}`),
        0,
      );
      expect(inTotal).toBe(2 * PHONES + dhcpRetransmits);
      if (dhcpRetransmits === 0) {
        expect(sample(m, 'bootwire_dhcp_messages_total{type="DISCOVER",direction="in"}')).toBe(PHONES);
        expect(sample(m, 'bootwire_dhcp_messages_total{type="OFFER",direction="out"}')).toBe(PHONES);
        expect(sample(m, 'bootwire_dhcp_messages_total{type="ACK",direction="out"}')).toBe(PHONES);
      }
      expect(sample(m, 'bootwire_dhcp_leases{subnet="10.77.0.0/24",state="bound"}')).toBe(PHONES);
      expect(sample(m, 'bootwire_dhcp_pool_addresses{subnet="10.77.0.0/24"}')).toBe(100);
      expect(sample(m, 'bootwire_dhcp_pool_utilization{subnet="10.77.0.0/24"}')).toBeCloseTo(PHONES / 100, 9);
      // Retransmissions: the sum of the server's own transfer records.
      const retransmits = s
        .records()
        .filter((r) => r.event === 'transfer' && r.protocol === 'tftp')
        .reduce((n, r) => n + (r.retransmits as number), 0);
      expect(sample(m, 'bootwire_tftp_retransmits_total')).toBe(retransmits);

      // The server's totals at the end agree with the last scrape.
      const last = (await scrape(s.ports.metrics!)).samples;
      expect(await s.stop()).toBe(0);
      const stopped = s.records().find((r) => r.msg === 'stopped') as {
        tftp: { udp: { deferred: number }; retransmits: number; bytesSent: number };
        dhcp: { sent: Record<string, number> };
      };
      expect(sample(last, 'bootwire_udp_send_backpressure_total')).toBe(stopped.tftp.udp.deferred);
      expect(sample(last, 'bootwire_tftp_retransmits_total')).toBe(stopped.tftp.retransmits);
      expect(sample(last, 'bootwire_transfer_bytes_total{protocol="tftp"}')).toBe(stopped.tftp.bytesSent);
      for (const [type, n] of Object.entries(stopped.dhcp.sent))
        expect(sample(last, `bootwire_dhcp_messages_total{type="${type}",direction="out"}`)).toBe(n);
    } finally {
      await s.stop();
    }
  });

  it('--metrics on the command line; anything but GET /metrics is 404; a port in use is a clear error', async () => {
    const { root } = await makeRoot(path.join(dir, 'flag'));
    const s = await startServe(
      ['--root', root, '--tftp', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--log-level', 'warn'],
      ['tftp', 'metrics'],
    );
    try {
      const r = await httpGet(`http://127.0.0.1:${s.ports.metrics}/`);
      expect(r.status).toBe(404);
      const ok = await scrape(s.ports.metrics!);
      expect(ok.samples.get('bootwire_transfers_total{protocol="tftp",result="ok"}')).toBe(0);
      // DHCP is not served: no DHCP series.
      expect(ok.text).not.toMatch(/^bootwire_dhcp_leases\{/m);
      const clash = await cli([
        'serve',
        '--root',
        root,
        '--tftp',
        '127.0.0.1:0',
        '--metrics',
        `127.0.0.1:${s.ports.metrics}`,
      ]);
      expect(clash.code).toBe(2);
      expect(clash.stderr).toMatch(/^bootwire: cannot serve: listen EADDRINUSE/);
    } finally {
      await s.stop();
    }
  });
});
