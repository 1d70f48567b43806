/**
 * Lossless on everything we have: every DHCP datagram (UDP port 67 or 68) in every capture under
 * ../shared/captures/public/ and the project's own captures/ decodes and re-encodes to the same bytes,
 * and every option value read from them as its typed value encodes back (encodeOption) to a value that
 * reads the same.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readCaptureFile, udpDatagrams } from '../../packages/capture/src/index.js';
import { decodeDhcp, encodeDhcp } from '../../packages/dhcp/src/codec/index.js';
import { checkOptionRoundTrip } from '../helpers/dhcp-options.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DIRS = [path.resolve(REPO, '../shared/captures/public'), path.join(REPO, 'captures')];
const files = DIRS.filter(existsSync).flatMap((d) =>
  readdirSync(d)
    .filter((f) => /\.(pcap|pcapng|cap)(\.gz)?$/.test(f))
    .map((f) => path.join(d, f)),
);

describe('DHCP codec on every capture', () => {
  it.skipIf(files.length === 0)('finds captures to walk', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  let total = 0;
  let typed = 0;
  for (const file of files) {
    it(`${path.basename(file)}: every DHCP datagram round-trips byte for byte`, async () => {
      const capture = await readCaptureFile(file);
      const { datagrams } = udpDatagrams(capture.records);
      for (const d of datagrams) {
        if (![67, 68].includes(d.srcPort) && ![67, 68].includes(d.dstPort)) continue;
        if (d.truncated) continue; // cut by the capture's snaplen: not the bytes that were sent
        const r = decodeDhcp(d.payload);
        if (!r.ok) {
          // Only what is not a BOOTP message at all may fail: shorter than the fixed header.
          expect(r.error.kind, `frame ${d.frame}: ${r.error.message}`).toBe('truncated');
          continue;
        }
        total++;
        expect(encodeDhcp(r.message).equals(d.payload), `frame ${d.frame} re-encodes differently`).toBe(true);
        const o = r.message.options;
        const vendorClass = o.vendorClass();
        for (const code of o.codes())
          if (checkOptionRoundTrip(code, o.raw(code)!, code === 43 ? vendorClass : undefined)) typed++;
      }
    });
  }

  // These totals are the public captures' (beside the repository when present); captures/ alone holds fewer.
  it.skipIf(!existsSync(DIRS[0]!))('walked hundreds of DHCP messages and thousands of typed option values', () => {
    expect(total).toBeGreaterThan(100);
    expect(typed).toBeGreaterThan(1000);
  });
});
