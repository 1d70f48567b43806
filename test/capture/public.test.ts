/**
 * The public captures in ../shared/captures/public (listed with their format, link type and packet count
 * in SOURCES.tsv; read in place, never copied into this repository): every file is read in full, its
 * DHCP/TFTP traffic found, and the UDP frames compared with tshark's.
 */
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { readCapture, udpDatagrams, type CaptureResult, type UdpDatagram } from '../../packages/capture/src/index.js';
import { decodeTftp } from '../../packages/tftp/src/codec.js';
import { Opcode } from '../../packages/tftp/src/packet.js';
import { PEERS, REPO_ROOT } from '../helpers/peers.js';

const DIR = path.resolve(REPO_ROOT, '..', 'shared', 'captures', 'public');
const TSV = path.join(DIR, 'SOURCES.tsv');
const PRESENT = existsSync(TSV);
const MISSING = `public captures not found at ${DIR} (SOURCES.tsv and the files it lists): skipped`;

interface Source {
  file: string;
  format: string;
  linktype: string;
  packets: number;
}

function sources(): Source[] {
  const [header, ...lines] = readFileSync(TSV, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const cols = (header ?? '').split('\t');
  const col = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`SOURCES.tsv has no column ${name} (columns: ${cols.join(', ')})`);
    return i;
  };
  const [file, format, linktype, packets] = [col('file'), col('format'), col('linktype'), col('packets')];
  return lines.map((l) => {
    const f = l.split('\t');
    return { file: f[file]!, format: f[format]!, linktype: f[linktype]!, packets: Number(f[packets]) };
  });
}

const FORMATS: Record<string, CaptureResult['format']> = { pcap: 'pcap', nsecpcap: 'pcap-ns', pcapng: 'pcapng' };
const LINKTYPES: Record<string, number> = { ether: 1, 'linux-sll': 113, null: 0, 'ieee-802-11': 105 };

/**
 * Where we knowingly differ from tshark. tftp-heapoverflow.pcap (a fuzzed file from tcpdump's tests) has
 * a UDP length of 12336 in a 12316-byte IP payload: tshark shows the frame as malformed UDP, we skip it.
 */
const NOT_UDP_FOR_US: Record<string, { frames: number[]; warning: RegExp }> = {
  'the-tcpdump-group__tcpdump__tftp-heapoverflow.pcap': {
    frames: [1],
    warning: /^frame 1: UDP length 12336 exceeds the 12316-byte IP payload/,
  },
};

const cache = new Map<string, { bytes: Buffer; result: CaptureResult; datagrams: UdpDatagram[]; warnings: string[] }>();
function load(file: string) {
  let c = cache.get(file);
  if (!c) {
    const bytes = readFileSync(path.join(DIR, file));
    const result = readCapture(bytes);
    c = { bytes, result, ...udpDatagrams(result.records) };
    cache.set(file, c);
  }
  return c;
}

const DHCP_PORTS = new Set([67, 68, 546, 547]);

/** The ports of TFTP requests: 69, or whatever port a decoded RRQ/WRQ went to. */
function tftpServerPorts(datagrams: UdpDatagram[]): Set<number> {
  const ports = new Set<number>();
  for (const d of datagrams) {
    const r = decodeTftp(d.payload);
    if (r.ok && (r.packet.opcode === Opcode.RRQ || r.packet.opcode === Opcode.WRQ)) ports.add(d.dstPort);
  }
  return ports;
}

if (!PRESENT) {
  describe('public captures', () => {
    it('are present', (ctx) => ctx.skip(MISSING));
  });
}

describe.runIf(PRESENT)('public captures', () => {
  const rows = PRESENT ? sources() : [];

  it('SOURCES.tsv lists every capture in the directory', () => {
    expect(rows.length).toBeGreaterThan(30);
    for (const r of rows) expect(existsSync(path.join(DIR, r.file)), r.file).toBe(true);
  });

  for (const src of rows) {
    describe(src.file, () => {
      it(`is ${src.format}, ${src.packets} records, no error`, () => {
        const { bytes, result } = load(src.file);
        expect(result.format).toBe(FORMATS[src.format]);
        expect(result.gzip).toBe(bytes[0] === 0x1f && bytes[1] === 0x8b);
        expect(result.error).toBeUndefined();
        expect(result.records).toHaveLength(src.packets);
        if (LINKTYPES[src.linktype] !== undefined) expect(result.records[0]?.linktype).toBe(LINKTYPES[src.linktype]);
        if (!result.gzip) for (const r of result.records) expect(r.data.buffer).toBe(bytes.buffer);
      });

      it('cut inside its last record: an error at that record and every record before it', () => {
        const { bytes, result } = load(src.file);
        const last = result.records[result.records.length - 1]!;
        if (result.gzip) {
          const r = readCapture(bytes.subarray(0, bytes.length >> 1));
          expect(r.error).toBeDefined();
          expect(r.records.length).toBeGreaterThan(0);
          expect(r.records.length).toBeLessThan(src.packets);
          for (const [i, rec] of r.records.entries()) expect(rec.data.equals(result.records[i]!.data)).toBe(true);
          return;
        }
        const r = readCapture(bytes.subarray(0, last.offset + 10));
        expect(r.error).toMatchObject({ kind: 'truncated', offset: last.offset });
        expect(r.records).toHaveLength(src.packets - 1);
        expect(r.records.map((x) => x.timeNs)).toEqual(result.records.slice(0, -1).map((x) => x.timeNs));
      });

      it('has DHCP or TFTP datagrams', () => {
        const { datagrams, warnings } = load(src.file);
        const known = NOT_UDP_FOR_US[src.file];
        if (known) {
          expect(datagrams.map((d) => d.frame)).not.toContain(known.frames[0]);
          expect(
            warnings.some((w) => known.warning.test(w)),
            warnings.join('\n'),
          ).toBe(true);
          return;
        }
        const tftp = tftpServerPorts(datagrams);
        tftp.add(69);
        const found = datagrams.filter(
          (d) => DHCP_PORTS.has(d.srcPort) || DHCP_PORTS.has(d.dstPort) || tftp.has(d.srcPort) || tftp.has(d.dstPort),
        );
        expect(
          found.length,
          `${datagrams.length} datagrams; warnings: ${warnings.slice(0, 5).join(' | ')}`,
        ).toBeGreaterThan(0);
      });
    });
  }

  it("the UDP frames, ports and lengths are tshark's, file by file", async (ctx) => {
    const tshark = PEERS.tshark.use(ctx);
    const run = promisify(execFile);
    const mismatches: string[] = [];
    let compared = 0;
    const queue = [...rows];
    const worker = async () => {
      for (let src = queue.shift(); src; src = queue.shift()) {
        const args = [
          '-r',
          path.join(DIR, src.file),
          '-Y',
          'udp',
          '-T',
          'fields',
          '-E',
          'separator=/t',
          '-e',
          'frame.number',
          '-e',
          'frame.protocols',
          '-e',
          'udp.srcport',
          '-e',
          'udp.dstport',
          '-e',
          'udp.length',
        ];
        const { stdout } = await run(tshark, args, { maxBuffer: 64 * 1024 * 1024 });
        // A UDP header quoted in an ICMP error is not a datagram: keep frames where UDP comes before ICMP.
        const theirs = stdout
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => l.split('\t'))
          .filter(([, protocols]) => {
            const layers = (protocols ?? '').split(':');
            const icmp = layers.findIndex((p) => p === 'icmp' || p === 'icmpv6');
            return icmp < 0 || icmp > layers.indexOf('udp');
          })
          .map(([frame, , sport, dport, len]) => {
            const first = (s: string | undefined) => Number((s ?? '').split(',')[0]);
            return { frame: Number(frame), sport: first(sport), dport: first(dport), len: first(len) };
          })
          .filter((t) => !NOT_UDP_FOR_US[src.file]?.frames.includes(t.frame));
        const { datagrams } = load(src.file);
        const ours = new Map<number, UdpDatagram>();
        for (const d of datagrams) if (!ours.has(d.frame)) ours.set(d.frame, d);
        const oursFrames = [...ours.keys()];
        if (oursFrames.join() !== theirs.map((t) => t.frame).join()) {
          mismatches.push(
            `${src.file}: frames differ: ours ${oursFrames.length}, tshark ${theirs.length}` +
              `; first difference near ${firstDifference(
                oursFrames,
                theirs.map((t) => t.frame),
              )}`,
          );
          continue;
        }
        for (const t of theirs) {
          const d = ours.get(t.frame)!;
          const len = d.truncated ? t.len : d.payload.length + 8;
          if (d.srcPort !== t.sport || d.dstPort !== t.dport || len !== t.len) {
            mismatches.push(
              `${src.file} frame ${t.frame}: ours ${d.srcPort}>${d.dstPort} len ${len}, tshark ${t.sport}>` +
                `${t.dport} len ${t.len}`,
            );
          }
        }
        compared += theirs.length;
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(10_000);
  }, 120_000);
});

function firstDifference(a: number[], b: number[]): string {
  for (let i = 0; i < Math.max(a.length, b.length); i++)
    if (a[i] !== b[i]) return `index ${i}: ours ${a[i]}, tshark ${b[i]}`;
  return 'none';
}
