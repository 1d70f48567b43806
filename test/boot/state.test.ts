import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootPhone } from '../../packages/bootwire/src/boot/boot-phone.js';
import { DirStateStore } from '../../packages/bootwire/src/boot/state.js';
import type { RelayClient } from '../../packages/dhcp/src/client/relay-client.js';
import { buildDhcp, decodeDhcp } from '../../packages/dhcp/src/codec/index.js';
import { findModel } from '../../packages/bootwire/src/phones/models.js';

/** A DHCP client that always gets 10.77.0.150 from an ACK naming no file server. */
function dhcpWithoutFileServer(): RelayClient {
  const bytes = buildDhcp({
    op: 2,
    xid: 1,
    yiaddr: '10.77.0.150',
    chaddr: '00:04:0d:aa:bb:01',
    options: [
      [53, Buffer.from([5])],
      [54, Buffer.from([10, 77, 0, 1])],
      [51, Buffer.from([0, 0, 14, 16])],
    ],
  }).bytes;
  const d = decodeDhcp(bytes);
  if (!d.ok) throw new Error('test ACK does not decode');
  const lease = {
    address: '10.77.0.150',
    serverId: '10.77.0.1',
    leaseSeconds: 3600,
    ack: d.message,
    ms: 1,
    retransmits: 0,
  };
  return { dora: async () => ({ ok: true as const, lease }) } as unknown as RelayClient;
}

describe('phone state', () => {
  it('keeps the leased address when the boot fails after DHCP, and asks for it again next time', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bw-state-'));
    try {
      const store = new DirStateStore(dir);
      const r = await bootPhone({
        model: findModel('9608')!,
        mac: '00:04:0d:aa:bb:01',
        dhcp: dhcpWithoutFileServer(),
        state: store,
      });
      expect([r.ok, r.failedIn, r.address]).toEqual([false, 'script', '10.77.0.150']);
      expect(r.error).toMatch(/names no file server a 9608 reads/);
      expect(JSON.parse(readFileSync(path.join(dir, '00040daabb01.json'), 'utf8'))).toEqual({ address: '10.77.0.150' });
      expect(await store.load('00:04:0d:aa:bb:01')).toEqual({ address: '10.77.0.150' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a state file that is not JSON fails the boot with a clear error, and is left as it is', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bw-state-'));
    try {
      const file = path.join(dir, '00040daabb01.json');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(file, '{not json');
      const r = await bootPhone({
        model: findModel('9608')!,
        mac: '00:04:0d:aa:bb:01',
        dhcp: dhcpWithoutFileServer(),
        state: new DirStateStore(dir),
      });
      expect(r.ok).toBe(false);
      expect(r.error).toBe(`${file} is not a phone state file (not JSON): remove it to start the phone afresh`);
      expect(readFileSync(file, 'utf8')).toBe('{not json');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
