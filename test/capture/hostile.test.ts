/**
 * Hostile captures (issue 14): each is built here, read, and must give a clear error or warning with
 * bounded work and memory; a legitimate capture or datagram read right after (or alongside) it must
 * come out whole. No timings are asserted: vitest's timeout is the only clock (the old code took
 * more than 160 s and 84 s on the first two).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGzip, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_RECORDS,
  DEFAULT_MAX_WARNINGS,
  LinkType,
  readCapture,
  udpDatagrams,
  type CaptureRecord,
} from '../../packages/capture/src/index.js';
import { DEFAULT_MAX_FRAGMENTS, MAX_SET_BYTES } from '../../packages/capture/src/reassembly.js';
import { epb, ethernet, idb, ipv4, ipv4Fragments, ipv4Udp, pcapFile, shb, udpHeader } from './build.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Records numbered from 1, all at the same capture time (no set expires on its own). */
function records(linktype: number, frames: Buffer[]): CaptureRecord[] {
  return frames.map((data, i) => ({
    frame: i + 1,
    time: 0,
    timeNs: 0n,
    linktype,
    data,
    origLen: data.length,
    interface: 0,
    offset: 0,
  }));
}

/** A small deterministic generator: the same hostile capture on every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const BIG = Buffer.from(Array.from({ length: 8196 }, (_, i) => (i * 13) & 0xff));
const legit = () =>
  ipv4Fragments(
    { src: '192.0.2.1', dst: '192.0.2.10', proto: 17, payload: udpHeader(69, 2070, BIG), id: 0x0777 },
    1480,
  );

/**
 * 60,000 overlapping fragments of one datagram (6 MB): its first and last fragments, then pieces of
 * 8 to 160 bytes at pseudo-random offsets that never cover 80..88, so it never completes, and are
 * seldom duplicates. The old reassembler sorted every piece held on every arrival: quadratic.
 */
function overlapFlood(count = 60_000): Buffer[] {
  const spec = { src: '198.51.100.7', dst: '192.0.2.10', proto: 17, id: 0x6666 };
  const out = [
    ipv4({ ...spec, payload: Buffer.alloc(80, 1), offset: 0, more: true }),
    ipv4({ ...spec, payload: Buffer.alloc(8, 2), offset: 65_000, more: false }),
  ];
  const rnd = lcg(14);
  while (out.length < count) {
    const size = 8 * (1 + (out.length % 20));
    const offset = 88 + 8 * Math.floor(rnd() * ((65_000 - 88 - size) / 8));
    out.push(ipv4({ ...spec, payload: Buffer.alloc(size, out.length & 0xff), offset, more: true }));
  }
  return out;
}

describe('IP fragment floods', () => {
  it(
    '60,000 overlapping fragments of one datagram (6 MB): dropped at the fragment bound with one ' +
      'warning; a real datagram beside them is reassembled',
    () => {
      const flood = overlapFlood();
      const total = flood.reduce((n, f) => n + f.length, 0);
      expect(total).toBeGreaterThan(5_000_000);
      const real = legit();
      // The real datagram's fragments arrive in the middle of the flood.
      const frames = [...flood.slice(0, 30_000), ...real, ...flood.slice(30_000)];
      const scan = udpDatagrams(records(LinkType.RAW, frames));
      expect(scan.datagrams).toHaveLength(1);
      expect(scan.datagrams[0]!.payload.equals(BIG)).toBe(true);
      expect(scan.datagrams[0]!.fragments).toEqual([30_001, 30_002, 30_003, 30_004, 30_005, 30_006]);
      const bound = scan.warnings.filter((w) => /more than \d+ fragments/.test(w));
      expect(bound).toHaveLength(1);
      expect(bound[0]).toMatch(
        new RegExp(
          `^frames 1, 2, 3, .*\\(${DEFAULT_MAX_FRAGMENTS} in all\\): IPv4 198\\.51\\.100\\.7 > ` +
            `192\\.0\\.2\\.10 id 0x6666: dropped, more than ${DEFAULT_MAX_FRAGMENTS} fragments`,
        ),
      );
      // The rest of the flood goes to the dropped datagram silently; the counts say what happened.
      expect(scan.warnings.length).toBeLessThan(10);
      expect(scan.fragments).toMatchObject({ reassembled: 1, dropped: 1, droppedByLimits: 1 });
      // Memory: never more than the bound's worth of pieces held, far from the 5 MB of the flood.
      expect(scan.fragments!.peakBytes).toBeLessThanOrEqual(DEFAULT_MAX_FRAGMENTS * 160 + 8196 + 8);
    },
  );

  it('large overlapping fragments: the per-datagram byte bound stops them first', () => {
    const spec = { src: '198.51.100.8', dst: '192.0.2.10', proto: 17, id: 0x5555 };
    const rnd = lcg(7);
    const flood = Array.from({ length: 2000 }, (_, i) =>
      ipv4({ ...spec, payload: Buffer.alloc(1480, i & 0xff), offset: 8 + 8 * Math.floor(rnd() * 7000), more: true }),
    );
    const scan = udpDatagrams(records(LinkType.RAW, [...flood, ...legit()]));
    expect(scan.datagrams).toHaveLength(1);
    expect(scan.warnings.filter((w) => w.includes('id 0x5555'))).toEqual([
      expect.stringMatching(new RegExp(`dropped, more than ${MAX_SET_BYTES} bytes of fragments`)),
    ]);
    expect(scan.fragments!.peakBytes).toBeLessThanOrEqual(MAX_SET_BYTES + 8196 + 8);
    expect(scan.fragments!.droppedByLimits).toBe(1);
  });

  it('bootwire decode says how many datagrams the bounds dropped, and prints the messages around the flood', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bw-hostile-'));
    try {
      const rrq = (port: number) =>
        ipv4Udp('192.0.2.10', '192.0.2.1', port, 69, Buffer.from('\x00\x01boot.cfg\x00octet\x00', 'latin1'));
      const frames = [rrq(2070), ...overlapFlood(20_000), rrq(2071)].map((f) => ethernet(0x0800, f));
      const file = path.join(dir, 'flood.pcap');
      writeFileSync(
        file,
        pcapFile(
          { linktype: 1 },
          frames.map((data, i) => ({ sec: 1_700_000_000, frac: i, data })),
        ),
      );
      const r = spawnSync(
        process.execPath,
        [path.join(REPO, 'packages/bootwire/dist/cli/main.js'), 'decode', '--json', file],
        { encoding: 'utf8' },
      );
      expect(r.status).toBe(0);
      expect(
        r.stdout
          .trimEnd()
          .split('\n')
          .map((l) => (JSON.parse(l) as { src: string }).src),
      ).toEqual(['192.0.2.10:2070', '192.0.2.10:2071']);
      expect(r.stderr).toMatch(/1 fragmented datagram not reassembled: over the reassembly bounds.*--warnings/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A pcap header, then `zeros` zero bytes (zero-length records, all of them), gzip-compressed as a stream. */
async function gzipBomb(zeros: number): Promise<Buffer> {
  const gz = createGzip({ level: 9, memLevel: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise((r) => gz.on('end', r));
  gz.write(pcapFile({ linktype: 1 }, []));
  const mib = Buffer.alloc(1 << 20);
  for (let left = zeros; left > 0; left -= mib.length) {
    if (!gz.write(left >= mib.length ? mib : mib.subarray(0, left))) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await ended;
  return Buffer.concat(out);
}

describe('gzip bombs', () => {
  it(
    'a truncated bomb (about 1 MB that inflates to 1000 MiB): refused on the ratio bound, in one ' + 'bounded pass',
    async () => {
      const bomb = await gzipBomb(1000 * 2 ** 20);
      expect(bomb.length).toBeLessThan(1_100_000);
      const truncated = bomb.subarray(0, bomb.length - 4096);
      const before = process.memoryUsage().rss;
      const peakBefore = process.resourceUsage().maxRSS * 1024;
      const r = readCapture(truncated);
      const peakAfter = process.resourceUsage().maxRSS * 1024;
      expect(r).toMatchObject({ format: 'pcap', gzip: true, records: [], error: { kind: 'gzip', offset: 0 } });
      expect(r.error!.message).toMatch(
        /^gzip: inflates to more than \d+ bytes, over 200 times its \d+ compressed bytes: refused as a compression bomb/,
      );
      // What was inflated before the bound (200 times the input, about 200 MB) is all that was held.
      expect(peakAfter - Math.max(peakBefore, before)).toBeLessThan(450 * 2 ** 20);
      // A legitimate gzip capture right after reads whole.
      const parts = Array.from({ length: 500 }, (_, i) => ({ sec: i, frac: 0, data: Buffer.alloc(60 + (i % 40), i) }));
      const good = readCapture(gzipSync(pcapFile({ linktype: 1 }, parts)));
      expect(good.error).toBeUndefined();
      expect(good.records).toHaveLength(500);
      // bootwire decode: one line that says so, exit 1.
      const tmp = mkdtempSync(path.join(tmpdir(), 'bw-bomb-'));
      try {
        writeFileSync(path.join(tmp, 'bomb.pcap.gz'), truncated);
        const cli = spawnSync(
          process.execPath,
          [path.join(REPO, 'packages/bootwire/dist/cli/main.js'), 'decode', path.join(tmp, 'bomb.pcap.gz')],
          { encoding: 'utf8' },
        );
        expect([cli.status, cli.stdout]).toEqual([1, '']);
        expect(cli.stderr).toMatch(
          /^bootwire: .*bomb\.pcap\.gz: capture gzip at byte offset 0: gzip: inflates to more than \d+ bytes, over 200 times .* compression bomb .*\(0 records read before it\)\n$/,
        );
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    },
    60_000,
  );

  it('the output bound and the ratio bound are options; under them a bomb is just a big capture', async () => {
    const bomb = await gzipBomb(64 * 2 ** 20); // 64 MiB of zero-length records
    const small = readCapture(bomb, { maxGunzipBytes: 10_000_000 });
    expect(small.error!.message).toMatch(/^gzip: inflates to more than 10000000 bytes \(the maxGunzipBytes bound\)/);
    expect(small.records).toEqual([]);
    const ratio = readCapture(bomb, { maxGunzipRatio: 100 });
    expect(ratio.error!.message).toMatch(/over 100 times its/);
    // Allowed: read to the record bound, which stops the zero-length records with an error of its own.
    const allowed = readCapture(bomb, { maxGunzipRatio: 2000, maxRecords: 100_000 });
    expect(allowed.format).toBe('pcap');
    expect(allowed.records).toHaveLength(100_000);
    expect(allowed.error).toMatchObject({ kind: 'limit', offset: 24 + 16 * 100_000 });
  }, 60_000);

  it('a corrupt stream: the records before the damage, and where it is', () => {
    const parts = Array.from({ length: 3000 }, (_, i) => ({
      sec: i,
      frac: 0,
      data: Buffer.from(`record ${i} `.repeat(20)),
    }));
    const file = pcapFile({ linktype: 1 }, parts);
    const z = Buffer.from(gzipSync(file));
    const at = Math.floor(z.length * 0.7);
    z.fill(0xff, at, at + 64);
    const r = readCapture(z);
    const m = /gzip: .* \(at compressed byte (\d+); (\d+) bytes decompressed before it\)$/.exec(r.error!.message);
    expect(m, r.error!.message).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(at);
    expect(r.records.length).toBeGreaterThan(1000);
    expect(r.records.length).toBeLessThan(3000);
    // Every record read is one of the file's, byte for byte.
    const whole = readCapture(file).records;
    r.records.slice(0, -1).forEach((rec, i) => expect(rec.data.equals(whole[i]!.data)).toBe(true));
  });
});

describe('captures of nothing but bad packets', () => {
  it('50,000 bad frames: the first 10,000 warnings are listed, the rest counted in one line', () => {
    const bad = records(
      LinkType.ETHERNET,
      Array.from({ length: 50_000 }, () => Buffer.alloc(10)),
    );
    const good = records(LinkType.RAW, [
      ipv4Udp('192.0.2.10', '192.0.2.1', 2070, 69, Buffer.from('\x00\x01boot.cfg\x00octet\x00', 'latin1')),
    ]);
    const scan = udpDatagrams([...bad, { ...good[0]!, frame: 50_001 }]);
    expect(scan.datagrams.map((d) => d.frame)).toEqual([50_001]);
    expect(scan.warnings).toHaveLength(DEFAULT_MAX_WARNINGS + 1);
    expect(scan.warnings[0]).toBe('frame 1: Ethernet header needs 14 bytes, frame has 10');
    expect(scan.warnings.at(-1)).toBe('40000 more warnings not listed (past the first 10000)');
    expect(udpDatagrams(bad.slice(0, 5), { maxWarnings: 2 }).warnings).toEqual([
      'frame 1: Ethernet header needs 14 bytes, frame has 10',
      'frame 2: Ethernet header needs 14 bytes, frame has 10',
      '3 more warnings not listed (past the first 2)',
    ]);
  });

  it('zero-length records stop at the record bound, with those before it (pcap, nanosecond pcap, pcapng)', () => {
    const n = 1000;
    const empty = Array.from({ length: n }, (_, i) => ({ sec: i, frac: 0, data: Buffer.alloc(0) }));
    for (const file of [pcapFile({ linktype: 1 }, empty), pcapFile({ linktype: 1, nanos: true }, empty)]) {
      const r = readCapture(file, { maxRecords: 300 });
      expect(r.records).toHaveLength(300);
      expect(r.error).toEqual({
        kind: 'limit',
        message: 'more than 300 records (the maxRecords bound): the rest is not read',
        offset: 24 + 16 * 300,
      });
      expect(readCapture(file).records).toHaveLength(n);
    }
    const ng = Buffer.concat([
      shb('little'),
      idb('little', 1),
      ...empty.map((_, i) => epb('little', 0, BigInt(i), Buffer.alloc(0))),
    ]);
    const r = readCapture(ng, { maxRecords: 300 });
    expect(r.records).toHaveLength(300);
    expect(r.error).toMatchObject({ kind: 'limit', offset: shb('little').length + idb('little', 1).length + 300 * 32 });
    expect(DEFAULT_MAX_RECORDS).toBe(5_000_000);
  });
});
