/**
 * The captures bootwire records itself (captures/, made by captures/record.sh): every file reads to its
 * end in the format its name and README promise, every DHCP message decodes and re-encodes byte for
 * byte, every TFTP packet of every conversation decodes, the IP fragments of the blksize-8192 transfers
 * reassemble, and the files rebuilt from the DATA are the ones captures/files.mjs generates.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCapture, trackTftp, udpDatagrams } from '../../packages/capture/src/index.js';
import { decodeDhcp, encodeDhcp } from '../../packages/dhcp/src/codec/index.js';
import { recordedTransfers } from '../../packages/bootwire/src/replay/files-from-capture.js';
import { decodeTftp, encodeTftp } from '../../packages/tftp/src/codec.js';
import { Opcode } from '../../packages/tftp/src/packet.js';
import { CAPTURE_FILES, captureFileBytes } from '../../captures/files.mjs';
import { REPO_ROOT } from '../helpers/peers.js';

const DIR = path.join(REPO_ROOT, 'captures');
const FILES = readdirSync(DIR)
  .filter((f) => /\.pcap(ng)?$/.test(f))
  .sort();

/** What record.sh writes: pcapng for bootwire's TFTP runs, nanosecond pcap for atftpd's, per README. */
function expectedFormat(file: string): string {
  if (file.endsWith('.pcapng')) return 'pcapng';
  if (file.startsWith('tftp-') && file.includes('-atftpd.')) return 'pcap-ns';
  return 'pcap';
}

function load(file: string) {
  const bytes = readFileSync(path.join(DIR, file));
  const capture = readCapture(bytes);
  return { bytes, capture, ...udpDatagrams(capture.records) };
}

describe('captures/', () => {
  it('holds the DHCP and TFTP captures record.sh makes, under 5 MB in all', () => {
    expect(FILES.filter((f) => f.startsWith('dhcp-'))).toHaveLength(6);
    expect(FILES.filter((f) => f.startsWith('tftp-'))).toHaveLength(14);
    const total = FILES.reduce((n, f) => n + readFileSync(path.join(DIR, f)).length, 0);
    expect(total).toBeLessThan(5 * 1024 * 1024);
  });

  for (const file of FILES) {
    describe(file, () => {
      it(`reads to its end as ${expectedFormat(file)}, Ethernet, without a warning`, () => {
        const { capture, warnings, datagrams } = load(file);
        expect(capture.error).toBeUndefined();
        expect(capture.format).toBe(expectedFormat(file));
        expect(capture.records.length).toBeGreaterThan(0);
        for (const r of capture.records) expect(r.linktype).toBe(1);
        expect(warnings).toEqual([]);
        expect(datagrams.length).toBeGreaterThan(0);
      });

      if (file.startsWith('dhcp-')) {
        it('decodes every DHCP message and re-encodes it byte for byte', () => {
          const { datagrams } = load(file);
          const dhcp = datagrams.filter((d) => d.srcPort === 67 || d.dstPort === 67);
          expect(dhcp.length).toBeGreaterThanOrEqual(4);
          const types: number[] = [];
          for (const d of dhcp) {
            const r = decodeDhcp(d.payload, { requireCookie: true });
            expect(r.ok, `frame ${d.frame}`).toBe(true);
            if (!r.ok) continue;
            expect(r.issues, `frame ${d.frame}`).toEqual([]);
            expect(encodeDhcp(r.message).equals(d.payload), `frame ${d.frame}`).toBe(true);
            types.push(r.message.options.messageType()!);
          }
          // A DORA; dhclient then releases its lease.
          expect(types.slice(0, 4)).toEqual([1, 2, 3, 5]);
          if (file.includes('dhclient')) expect(types.slice(4)).toEqual([7]);
          const offer = decodeDhcp(dhcp[1]!.payload);
          if (!offer.ok) throw new Error('no offer');
          expect(offer.message.yiaddr).toMatch(/^10\.151\.0\.1\d\d$/);
          expect(offer.message.options.get(242)).toEqual({
            pairs: [
              ['MCIPADD', '10.151.0.5'],
              ['MCPORT', '1719'],
              ['HTTPSRVR', '10.151.0.1'],
            ],
          });
        });
      }

      if (file.startsWith('tftp-')) {
        it('decodes every TFTP packet of its conversations, and rebuilds the files it moved', () => {
          const { datagrams } = load(file);
          const items = [...trackTftp(datagrams)];
          expect(items.length).toBeGreaterThan(1);
          for (const i of items) {
            expect(i.conversation, `frame ${i.datagram.frame}`).toBeDefined();
            const p = decodeTftp(i.datagram.payload);
            expect(p.ok, `frame ${i.datagram.frame}`).toBe(true);
            if (p.ok) expect(encodeTftp(p.packet).equals(i.datagram.payload), `frame ${i.datagram.frame}`).toBe(true);
          }
          const transfers = recordedTransfers(items);
          for (const t of transfers) {
            const size = CAPTURE_FILES[t.conversation.filename.replace(/^\.\.\/escape\.bin$/, '')];
            if (t.status === 'complete') {
              expect(size, t.conversation.filename).toBeDefined();
              expect(t.file!.equals(captureFileBytes(t.conversation.filename, size!))).toBe(true);
            } else {
              // The refusals record.sh asks for: a missing file, an upload leaving the root.
              expect(t.status).toBe('refused');
              expect([t.conversation.filename, t.error!.code]).toEqual(
                file.startsWith('tftp-missing-') ? ['no-such-file.bin', 1] : ['../escape.bin', 2],
              );
            }
          }
        });
      }

      if (file.startsWith('tftp-window-')) {
        it('carries each 8192-byte block in IP fragments that reassemble', () => {
          const { datagrams } = load(file);
          const data = datagrams.filter((d) => d.payload.length === 8196 && d.payload.readUInt16BE(0) === Opcode.DATA);
          expect(data.length).toBeGreaterThanOrEqual(36);
          for (const d of data) expect(d.fragments).toHaveLength(6);
        });
      }
    });
  }
});
