import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../packages/bootwire/src/config/load.js';
import { RelayClient } from '../../packages/dhcp/src/client/relay-client.js';
import { DhcpServer } from '../../packages/dhcp/src/server/server.js';
import { ipToInt } from '../../packages/core/src/ipv4.js';
import { loopbackDhcpServer } from '../helpers/dhcp-server.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-dhcp-client-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A server on loopback that answers relays on the client's port (no root needed). */
async function server(relayPort: number, leases = path.join(dir, `leases-${relayPort}.db`)) {
  return loopbackDhcpServer({
    dir,
    relayPort,
    leases,
    pool: '127.1.0.1-127.1.3.255',
    classes: [{ match: { vendorClass: 'ccp.avaya.com' }, options: { '242': 'MCIPADD=127.0.0.5,HTTPSRVR=127.0.0.1' } }],
  });
}

const mac = (i: number) =>
  `00:04:0d:${((i >> 16) & 255).toString(16).padStart(2, '0')}:` +
  `${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

describe("bootwire's relay-style DHCP client against bootwire's server", () => {
  it(
    '200 phones at once each get their own address and their class options; after a restart they ' + 'keep them',
    async () => {
      const client = await RelayClient.open({
        bind: { address: '127.0.0.2', port: 0 },
        server: { host: '127.0.0.1', port: 0 },
        timeoutMs: 500,
        retries: 4,
      });
      const leases = path.join(dir, 'keep.db');
      let srv = await server(client.address.port, leases);
      client.setServer({ host: '127.0.0.1', port: srv.address().port });
      try {
        const phones = Array.from({ length: 200 }, (_, i) => ({
          mac: mac(i),
          vendorClass: 'ccp.avaya.com',
          requestedOptions: [1, 3, 66, 242],
        }));
        const results = await Promise.all(phones.map((p) => client.dora(p)));
        const addresses = new Set<string>();
        for (const r of results) {
          expect(r.ok, r.ok ? '' : r.error).toBe(true);
          if (!r.ok) continue;
          addresses.add(r.lease.address);
          expect(r.lease.serverId).toBe('127.0.0.1');
          expect(r.lease.leaseSeconds).toBe(600);
          expect(r.lease.ack.options.get(242)).toEqual({
            pairs: [
              ['MCIPADD', '127.0.0.5'],
              ['HTTPSRVR', '127.0.0.1'],
            ],
          });
          expect(r.lease.ack.options.get(66)).toBe('127.0.0.1');
        }
        expect(addresses.size).toBe(200);
        expect(srv.stats().sent).toMatchObject({ OFFER: 200, ACK: 200 });

        // Restart on the same lease file: INIT-REBOOT with the old address is ACKed.
        await srv.close();
        srv = await server(client.address.port, leases);
        client.setServer({ host: '127.0.0.1', port: srv.address().port });
        const again = await Promise.all(
          phones
            .slice(0, 20)
            .map((p, i) =>
              client.dora({ ...p, previousAddress: (results[i] as { lease: { address: string } }).lease.address }),
            ),
        );
        again.forEach((r, i) => {
          expect(r.ok).toBe(true);
          if (r.ok) expect(r.lease.address).toBe((results[i] as { lease: { address: string } }).lease.address);
        });
        expect(srv.stats().sent.OFFER ?? 0).toBe(0);
      } finally {
        await client.close();
        await srv.close();
      }
    },
  );

  it(
    "a reply too big for the client's option 57 is overloaded into file and sname, then trimmed with " + 'a warning',
    async () => {
      const client = await RelayClient.open({
        bind: { address: '127.0.0.2', port: 0 },
        server: { host: '127.0.0.1', port: 0 },
        timeoutMs: 500,
        retries: 2,
      });
      const long = (c: string, n: number) => c.repeat(n);
      const cfg = parseConfig(
        {
          dhcp: {
            listen: '127.0.0.1:0',
            leases: path.join(dir, 'big.db'),
            relayPort: client.address.port,
            subnets: [
              {
                subnet: '127.0.0.0/8',
                pool: '127.2.0.1-127.2.0.50',
                options: {
                  '66': long('a', 200),
                  '160': long('c', 100),
                  '67': long('b', 50),
                  '150': ['127.0.0.1', '127.0.0.3'],
                  '43': `0x${'01'.repeat(120)}`,
                },
              },
            ],
          },
        },
        dir,
      );
      const srv = await DhcpServer.start({ config: cfg.dhcp!, localAddresses: [ipToInt('127.0.0.1')] });
      client.setServer({ host: '127.0.0.1', port: srv.address().port });
      const warnings: string[] = [];
      srv.on('warning', (w) => warnings.push(w));
      try {
        // 576 bytes in all: the options area alone cannot hold 66 + 160 + 67; file and sname take the rest.
        const r = await client.dora({ mac: mac(7), maxMessageSize: 576, requestedOptions: [1, 66, 150, 160, 67] });
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        const ack = r.lease.ack;
        expect(ack.options.overload()).toBe(3);
        expect(ack.options.get(66)).toBe(long('a', 200));
        expect(ack.options.get(160)).toBe(long('c', 100));
        expect(ack.options.get(67)).toBe(long('b', 50));
        expect(ack.options.raw(150)).toEqual(Buffer.from([127, 0, 0, 1, 127, 0, 0, 3]));
        expect(ack.options.get(150)).toEqual(['127.0.0.1', '127.0.0.3']);
        expect(srv.stats().droppedOptions).toBe(0);
        // One more big option asked for last cannot fit anywhere: it is dropped, with a warning.
        const r2 = await client.dora({ mac: mac(8), maxMessageSize: 576, requestedOptions: [1, 66, 150, 160, 67, 43] });
        expect(r2.ok).toBe(true);
        if (!r2.ok) return;
        expect(r2.lease.ack.options.has(43)).toBe(false);
        expect(r2.lease.ack.options.get(67)).toBe(long('b', 50));
        expect(warnings.join('\n')).toMatch(/did not fit its maximum size: dropped options 43/);
        expect(srv.stats().droppedOptions).toBe(2); // from the OFFER and the ACK
      } finally {
        await client.close();
        await srv.close();
      }
    },
  );

  it('a phone whose server never answers gives up after its retries', async () => {
    const client = await RelayClient.open({
      bind: { address: '127.0.0.2', port: 0 },
      server: { host: '127.0.0.1', port: 9 },
      timeoutMs: 20,
      retries: 2,
    });
    try {
      const r = await client.dora({ mac: mac(1), requestedOptions: [1] });
      expect(r).toEqual({ ok: false, error: 'no OFFER after 2 retries', retransmits: 2 });
    } finally {
      await client.close();
    }
  });
});
