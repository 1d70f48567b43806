import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  detectFormat,
  readCapture,
  readCaptureFile,
  type CaptureRecord,
  type CaptureResult,
} from '../../packages/capture/src/index.js';
import { PEERS } from '../helpers/peers.js';
import { block, epb, idb, opb, pcapFile, shb, spb, type Endian } from './build.js';

// ------------------------------------------------------------------------------------------ helpers

const frame = (n: number, len = 60): Buffer => Buffer.alloc(len, n);

/** Every record's data lies inside `bytes` (a view, not a copy). */
function expectViews(r: CaptureResult, bytes: Buffer): void {
  for (const rec of r.records) {
    expect(rec.data.buffer).toBe(bytes.buffer);
    expect(rec.data.byteOffset).toBeGreaterThanOrEqual(bytes.byteOffset);
    expect(rec.data.byteOffset + rec.data.length).toBeLessThanOrEqual(bytes.byteOffset + bytes.length);
  }
}

function expectSane(r: CaptureResult): void {
  r.records.forEach((rec, i) => expect(rec.frame).toBe(i + 1));
  if (r.error) {
    expect(r.error.offset).toBeGreaterThanOrEqual(0);
    expect(r.error.message.length).toBeGreaterThan(0);
  }
}

const plain = (records: CaptureRecord[]) => records.map((r) => ({ ...r, data: r.data.toString('hex') }));

// Three records with distinct contents and lengths (odd ones exercise pcapng padding).
const RECS = [
  { sec: 1_700_000_000, frac: 123456, data: frame(1, 60) },
  { sec: 1_700_000_001, frac: 999999, data: frame(2, 61), origLen: 1514 },
  { sec: 1_700_000_002, frac: 0, data: frame(3, 75) },
];

// ------------------------------------------------------------------------------------------ pcap

describe('classic pcap (pcap-parser)', () => {
  for (const endian of ['little', 'big'] as const) {
    it(`reads microsecond records, ${endian}-endian`, () => {
      const file = pcapFile({ linktype: 1, endian }, RECS);
      const r = readCapture(file);
      expect(r.format).toBe('pcap');
      expect(r.gzip).toBe(false);
      expect(r.error).toBeUndefined();
      expect(r.records).toHaveLength(3);
      expectViews(r, file);
      const [a, b, c] = r.records;
      expect(a).toMatchObject({
        frame: 1,
        linktype: 1,
        interface: 0,
        origLen: 60,
        offset: 24,
        timeNs: 1_700_000_000_123_456_000n,
      });
      expect(a!.time).toBeCloseTo(1_700_000_000.123456, 6);
      expect(a!.data.equals(frame(1, 60))).toBe(true);
      expect(b).toMatchObject({ frame: 2, origLen: 1514, offset: 24 + 16 + 60, timeNs: 1_700_000_001_999_999_000n });
      expect(c).toMatchObject({ frame: 3, offset: 24 + 16 + 60 + 16 + 61, timeNs: 1_700_000_002_000_000_000n });
      expect(c!.data.length).toBe(75);
    });
  }

  it('masks the FCS bits out of the link type field', () => {
    const r = readCapture(pcapFile({ linktype: 0x10000001 }, RECS.slice(0, 1)));
    expect(r.records[0]!.linktype).toBe(1);
  });

  it('reads an empty capture (header only) without error', () => {
    const r = readCapture(pcapFile({ linktype: 1 }, []));
    expect(r).toEqual({ format: 'pcap', gzip: false, records: [] });
  });

  it('refuses version 3.4, which pcap-parser would accept', () => {
    const r = readCapture(pcapFile({ linktype: 1, version: [3, 4] }, RECS));
    expect(r.records).toEqual([]);
    expect(r.error).toMatchObject({ kind: 'unsupported', offset: 4 });
  });

  it('stops at a record claiming an absurd length, keeping those before', () => {
    const file = pcapFile({ linktype: 1 }, RECS);
    const second = 24 + 16 + 60;
    file.writeUInt32LE(0xfffffff0, second + 8);
    const r = readCapture(file);
    expect(r.records).toHaveLength(1);
    expect(r.error).toMatchObject({ kind: 'corrupt', offset: second });
    expect(r.error!.message).toMatch(/record 2 claims 4294967280 captured bytes/);
  });

  it('believes a large record when the file snaplen allows it', () => {
    const big = { sec: 1, frac: 0, data: Buffer.alloc(300_000, 7) };
    expect(readCapture(pcapFile({ linktype: 1, snaplen: 262144 }, [big])).error?.kind).toBe('corrupt');
    expect(readCapture(pcapFile({ linktype: 1, snaplen: 400_000 }, [big])).records).toHaveLength(1);
  });
});

describe('nanosecond pcap', () => {
  for (const endian of ['little', 'big'] as const) {
    it(`reads ns timestamps exactly, ${endian}-endian`, () => {
      const file = pcapFile({ linktype: 101, endian, nanos: true }, [
        { sec: 1_700_000_000, frac: 123_456_789, data: frame(1) },
        { sec: 4_000_000_000, frac: 999_999_999, data: frame(2, 33), origLen: 99 },
      ]);
      const r = readCapture(file);
      expect(r.format).toBe('pcap-ns');
      expect(r.error).toBeUndefined();
      expectViews(r, file);
      expect(r.records.map((x) => x.timeNs)).toEqual([1_700_000_000_123_456_789n, 4_000_000_000_999_999_999n]);
      expect(r.records[0]!.time).toBeCloseTo(1_700_000_000.1234567, 6);
      expect(r.records[1]).toMatchObject({ frame: 2, linktype: 101, origLen: 99, offset: 24 + 16 + 60 });
    });
  }
});

// ------------------------------------------------------------------------------------------ pcapng

/** Two interfaces with different link types and timestamp resolutions, and every packet block kind. */
function twoInterfaces(e: Endian, custom = true): { file: Buffer; expected: Partial<CaptureRecord>[] } {
  const file = Buffer.concat([
    shb(e),
    idb(e, 1), // Ethernet, default resolution (µs)
    block(4, Buffer.from([0, 0, 0, 0]), e), // a name resolution block: skipped
    idb(e, 101, { tsresol: 9, snaplen: 64 }), // raw IP, ns
    epb(e, 0, 1_700_000_000_123_456n, frame(1)),
    epb(e, 1, 1_700_000_000_987_654_321n, frame(2, 41), 1500),
    // A custom block: skipped (tshark 4.0 shows custom blocks as frames of their own, hence `custom`).
    block(custom ? 0x40000bad : 0x99, Buffer.from('custom block, copyable'), e),
    idb(e, 113, { tsresol: 0x80 | 20, tsoffset: 1_000_000_000n }), // SLL, 2^-20 s, +1e9 s offset
    epb(e, 2, (5n << 20n) + (1n << 19n), frame(3, 13)), // 5.5 s after the offset
    spb(e, frame(4, 100), 100), // interface 0; no timestamp
    opb(e, 1, 42n, frame(5, 9)),
    block(5, Buffer.alloc(16), e), // interface statistics: skipped
  ]);
  return {
    file,
    expected: [
      { frame: 1, interface: 0, linktype: 1, timeNs: 1_700_000_000_123_456_000n, origLen: 60 },
      { frame: 2, interface: 1, linktype: 101, timeNs: 1_700_000_000_987_654_321n, origLen: 1500 },
      { frame: 3, interface: 2, linktype: 113, timeNs: 1_000_000_005_500_000_000n, origLen: 13 },
      { frame: 4, interface: 0, linktype: 1, timeNs: 0n, origLen: 100 },
      { frame: 5, interface: 1, linktype: 101, timeNs: 42n, origLen: 9 },
    ],
  };
}

describe('pcapng', () => {
  for (const e of ['little', 'big'] as const) {
    it(`reads interfaces with their own link types and if_tsresol, ${e}-endian`, () => {
      const { file, expected } = twoInterfaces(e);
      const r = readCapture(file);
      expect(r.format).toBe('pcapng');
      expect(r.error).toBeUndefined();
      expect(r.records).toHaveLength(5);
      r.records.forEach((rec, i) => expect(rec).toMatchObject(expected[i]!));
      expectViews(r, file);
      expect(r.records.map((x) => x.data.length)).toEqual([60, 41, 13, 100, 9]);
      expect(r.records[1]!.data.equals(frame(2, 41))).toBe(true);
      expect(r.records[0]!.time).toBeCloseTo(1_700_000_000.123456, 6);
      expect(r.records[2]!.time).toBe(1_000_000_005.5);
    });
  }

  it('reads a big-endian section after a little-endian one; interface numbers run across sections', () => {
    const file = Buffer.concat([
      shb('little'),
      idb('little', 1),
      epb('little', 0, 1n, frame(1)),
      shb('big'),
      idb('big', 101, { tsresol: 3 }),
      idb('big', 1),
      epb('big', 1, 2n, frame(2)),
      epb('big', 0, 3n, frame(3)),
    ]);
    const r = readCapture(file);
    expect(r.error).toBeUndefined();
    expect(r.records.map((x) => [x.frame, x.interface, x.linktype, x.timeNs])).toEqual([
      [1, 0, 1, 1000n],
      [2, 2, 1, 2000n],
      [3, 1, 101, 3_000_000n],
    ]);
  });

  it('caps a simple packet block at the interface snaplen', () => {
    const r = readCapture(
      Buffer.concat([shb('little'), idb('little', 1, { snaplen: 20 }), spb('little', frame(1, 60), 60)]),
    );
    expect(r.records[0]).toMatchObject({ origLen: 60 });
    expect(r.records[0]!.data.length).toBe(20);
  });

  it('handles if_tsresol beyond nanoseconds (picoseconds) and a negative if_tsoffset', () => {
    const r = readCapture(
      Buffer.concat([
        shb('little'),
        idb('little', 1, { tsresol: 12, tsoffset: -10n }),
        epb('little', 0, 12_345_678_901_234n, frame(1)),
      ]),
    );
    expect(r.records[0]!.timeNs).toBe(12_345_678_901n - 10_000_000_000n);
  });

  const corrupt: [string, (f: Buffer) => void, RegExp][] = [
    ['a zero block length', (f) => f.writeUInt32LE(0, f.length - 92 + 4), /length 0/],
    ['a length that is not a multiple of 4', (f) => f.writeUInt32LE(93, f.length - 92 + 4), /length 93/],
    ['a trailing length that differs', (f) => f.writeUInt32LE(88, f.length - 4), /ends with 88/],
    ['a huge length', (f) => f.writeUInt32LE(0xfffffffc, f.length - 92 + 4), /over the .*limit/],
    ['an unknown interface', (f) => f.writeUInt32LE(7, f.length - 92 + 8), /interface 7/],
    ['a captured length past the block', (f) => f.writeUInt32LE(61, f.length - 92 + 20), /61 captured bytes/],
  ];
  for (const [what, damage, message] of corrupt) {
    it(`reports ${what} at the block's offset, after the records before it`, () => {
      const file = Buffer.concat([
        shb('little'),
        idb('little', 1),
        epb('little', 0, 1n, frame(1)),
        epb('little', 0, 2n, frame(2)),
      ]);
      expect(epb('little', 0, 2n, frame(2)).length).toBe(92); // 28 bytes of header, 60 of data, 4 of trailer
      damage(file);
      const r = readCapture(file);
      expect(r.records).toHaveLength(1);
      expect(r.error).toMatchObject({ kind: 'corrupt', offset: file.length - 92 });
      expect(r.error!.message).toMatch(message);
    });
  }

  it('reports a bad byte-order magic and a section version it does not read', () => {
    const bad = shb('little');
    bad.writeUInt32LE(0x12345678, 8);
    expect(readCapture(bad).error).toMatchObject({ kind: 'corrupt', offset: 0 });
    const v2 = Buffer.concat([
      shb('little'),
      idb('little', 1),
      epb('little', 0, 1n, frame(1)),
      shb('little', [], [2, 0]),
    ]);
    const r = readCapture(v2);
    expect(r.records).toHaveLength(1);
    expect(r.error).toMatchObject({ kind: 'unsupported' });
  });
});

// ------------------------------------------------------------------------------------------ damage

describe('truncated captures', () => {
  interface Case {
    name: string;
    file: Buffer;
    /** Offsets where a cut leaves a well-formed capture (the ends of the header, blocks and records). */
    clean: number[];
    /** Where each record ends. */
    packetEnds: number[];
  }
  const ends = (start: number, parts: Buffer[]): number[] =>
    parts.map((_, i) => start + parts.slice(0, i + 1).reduce((n, p) => n + p.length, 0));
  const cases: Case[] = [];
  for (const nanos of [false, true]) {
    const opts = { linktype: 1, nanos, endian: nanos ? ('big' as const) : ('little' as const) };
    const parts = RECS.map((r) => pcapFile(opts, [r]).subarray(24));
    const packetEnds = ends(24, parts);
    cases.push({
      name: nanos ? 'nanosecond pcap' : 'microsecond pcap',
      file: Buffer.concat([pcapFile(opts, []), ...parts]),
      clean: [24, ...packetEnds],
      packetEnds,
    });
  }
  for (const e of ['little', 'big'] as const) {
    const blocks = [
      shb(e),
      idb(e, 1),
      epb(e, 0, 1n, frame(1, 61)),
      block(0xbad, Buffer.alloc(7), e),
      spb(e, frame(2, 10)),
      epb(e, 0, 3n, frame(3, 3)),
    ];
    const blockEnds = ends(0, blocks);
    cases.push({
      name: `pcapng ${e}-endian`,
      file: Buffer.concat(blocks),
      clean: blockEnds,
      packetEnds: [2, 4, 5].map((i) => blockEnds[i]!),
    });
  }

  for (const { name, file, clean, packetEnds } of cases) {
    it(`${name}: at every byte offset, returns the records before the cut and says where`, () => {
      const full = readCapture(file);
      expect(full.error).toBeUndefined();
      for (let n = 0; n <= file.length; n++) {
        const cut = file.subarray(0, n);
        const r = readCapture(cut);
        expectSane(r);
        const whole = packetEnds.filter((end) => end <= n).length;
        expect(r.records.length, `cut at ${n}`).toBe(whole);
        expect(plain(r.records)).toEqual(plain(full.records.slice(0, whole)));
        if (clean.includes(n)) {
          expect(r.error, `cut at ${n} (a block or record boundary)`).toBeUndefined();
          continue;
        }
        expect(r.error, `cut at ${n}`).toBeDefined();
        const damaged = Math.max(0, ...clean.filter((c) => c < n));
        expect(r.error!.offset, `cut at ${n}`).toBe(damaged);
        expect(r.error!.kind, `cut at ${n}`).toBe(n < 4 ? 'unknown-format' : 'truncated');
      }
    });
  }
});

// ------------------------------------------------------------------------------------------ gzip and detection

describe('gzip and format detection', () => {
  it('reads gzip-compressed captures transparently, by magic number', () => {
    const { file } = twoInterfaces('big');
    const z = gzipSync(file);
    const r = readCapture(z);
    expect(r).toMatchObject({ format: 'pcapng', gzip: true });
    expect(r.error).toBeUndefined();
    expect(plain(r.records)).toEqual(plain(readCapture(file).records));
    const ns = readCapture(gzipSync(pcapFile({ linktype: 1, nanos: true }, RECS)));
    expect(ns).toMatchObject({ format: 'pcap-ns', gzip: true });
    expect(ns.records).toHaveLength(3);
  });

  it('a truncated gzip capture gives the records before the cut and an error', () => {
    const parts = Array.from({ length: 200 }, (_, i) => ({ sec: i, frac: 0, data: Buffer.alloc(100 + (i % 50), i) }));
    const file = pcapFile({ linktype: 1 }, parts);
    const z = gzipSync(file, { level: 1 });
    for (const n of [0, 5, 10, 20, Math.floor(z.length / 3), Math.floor(z.length / 2), z.length - 9, z.length - 1]) {
      const r = readCapture(z.subarray(0, n));
      expectSane(r);
      expect(r.error, `cut at ${n}`).toBeDefined();
      expect(plain(r.records)).toEqual(plain(readCapture(file).records.slice(0, r.records.length)));
    }
    // Cut in the middle: some records survive, and the message names the gzip damage.
    const half = readCapture(z.subarray(0, Math.floor(z.length / 2)));
    expect(half.records.length).toBeGreaterThan(10);
    expect(half.error!.message).toMatch(/gzip: unexpected end of file/);
    // Only the trailer cut: every record is there, the error is the gzip one.
    const trailer = readCapture(z.subarray(0, z.length - 1));
    expect(trailer.records).toHaveLength(200);
    expect(trailer.error).toMatchObject({ kind: 'gzip', offset: file.length });
  });

  it('a corrupt gzip stream gives what decompressed before the damage', () => {
    const parts = Array.from({ length: 300 }, (_, i) => ({
      sec: i,
      frac: 0,
      data: Buffer.from(`record ${i} `.repeat(20)),
    }));
    const file = pcapFile({ linktype: 1 }, parts);
    const z = Buffer.from(gzipSync(file));
    for (let i = Math.floor(z.length * 0.6); i < Math.floor(z.length * 0.6) + 16; i++) z[i] = 0xff;
    const r = readCapture(z);
    expectSane(r);
    expect(r.error).toBeDefined();
    expect(r.records.length).toBeGreaterThan(0);
    expect(r.records.length).toBeLessThan(300);
    expect(plain(r.records)).toEqual(plain(readCapture(file).records.slice(0, r.records.length)));
  });

  it('ignores the file name and reports unknown magic numbers', () => {
    expect(detectFormat(pcapFile({ linktype: 1 }, []))).toBe('pcap');
    expect(detectFormat(shb('big'))).toBe('pcapng');
    expect(detectFormat(Buffer.from('hello world'))).toBeUndefined();
    expect(readCapture(Buffer.alloc(0))).toMatchObject({
      format: 'unknown',
      records: [],
      error: { kind: 'unknown-format', offset: 0 },
    });
    expect(readCapture(Buffer.from('GET / HTTP/1.1\r\n')).error!.message).toMatch(/unknown magic number 47455420/);
    expect(readCapture(gzipSync(gzipSync(Buffer.from('x')))).error!.message).toMatch(/gzip inside gzip/);
  });

  it('readCaptureFile reads from disk; a missing file rejects', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bootwire-capture-'));
    try {
      const f = path.join(dir, 'looks-like.pcap'); // a pcapng named .pcap
      writeFileSync(f, twoInterfaces('little').file);
      const r = await readCaptureFile(f);
      expect(r.format).toBe('pcapng');
      expect(r.records).toHaveLength(5);
      await expect(readCaptureFile(path.join(dir, 'missing.pcap'))).rejects.toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------------------------------------ properties

describe('never throws, never hangs', () => {
  const MAGICS = ['d4c3b2a1', 'a1b2c3d4', '4d3cb2a1', 'a1b23c4d', '0a0d0d0a', '1f8b0800'].map((h) =>
    Buffer.from(h, 'hex'),
  );

  it('random bytes, with and without a known magic number', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1, max: MAGICS.length - 1 }), fc.uint8Array({ maxLength: 600 }), (m, bytes) => {
        const buf = m < 0 ? Buffer.from(bytes) : Buffer.concat([MAGICS[m]!, Buffer.from(bytes)]);
        const r = readCapture(buf);
        expectSane(r);
        if (!r.gzip) expectViews(r, buf);
      }),
      { numRuns: 3000 },
    );
  });

  it('valid captures with random bytes overwritten', () => {
    const files = [
      pcapFile({ linktype: 1 }, RECS),
      pcapFile({ linktype: 1, nanos: true, endian: 'big' }, RECS),
      twoInterfaces('little').file,
      twoInterfaces('big').file,
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: files.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (which, edits, cutAt) => {
          const buf = Buffer.from(files[which]!);
          for (const [at, v] of edits) buf[at % buf.length] = v;
          const cut = buf.subarray(0, buf.length - (cutAt % 8 === 0 ? cutAt % buf.length : 0));
          const r = readCapture(cut);
          expectSane(r);
          expectViews(r, cut);
          expect(r.records.length).toBeLessThanOrEqual(cut.length / 12);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

// ------------------------------------------------------------------------------------------ tshark

describe('hand-built captures agree with tshark', () => {
  it(
    'frame numbers, interfaces, lengths and ns timestamps of multi-interface and mixed-endian ' + 'pcapng, and ns pcap',
    (ctx) => {
      const tshark = PEERS.tshark.use(ctx);
      const dir = mkdtempSync(path.join(tmpdir(), 'bootwire-capture-'));
      try {
        const files: [string, Buffer][] = [
          ['le.pcapng', twoInterfaces('little', false).file],
          ['be.pcapng', twoInterfaces('big', false).file],
          ['mixed.pcapng', Buffer.concat([twoInterfaces('little', false).file, twoInterfaces('big', false).file])],
          ['ns.pcap', pcapFile({ linktype: 1, nanos: true, endian: 'big' }, RECS)],
          ['us.pcap', pcapFile({ linktype: 1, endian: 'big' }, RECS)],
        ];
        for (const [name, bytes] of files) {
          const f = path.join(dir, name);
          writeFileSync(f, bytes);
          const out = execFileSync(
            tshark,
            [
              '-r',
              f,
              '-T',
              'fields',
              '-e',
              'frame.number',
              '-e',
              'frame.interface_id',
              '-e',
              'frame.time_epoch',
              '-e',
              'frame.len',
              '-e',
              'frame.cap_len',
            ],
            {
              encoding: 'utf8',
              stdio: ['ignore', 'pipe', 'ignore'],
            },
          );
          // A simple packet block has no timestamp: tshark leaves the field empty, we give 0.
          const theirs = out
            .trim()
            .split('\n')
            .map((l) => l.split('\t').map((v, i) => (i === 2 && v === '' ? '0.000000000' : v)));
          // tshark numbers interfaces within their section; ours run across the file (3 per section here).
          const local = (r: CaptureRecord) => (name === 'mixed.pcapng' && r.frame > 5 ? r.interface - 3 : r.interface);
          const ours = readCapture(bytes).records.map((r) => [
            String(r.frame),
            name.endsWith('.pcapng') ? String(local(r)) : '',
            epoch(r.timeNs),
            String(r.origLen),
            String(r.data.length),
          ]);
          expect(ours, name).toEqual(theirs);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

/** tshark's frame.time_epoch: seconds with 9 decimals. */
function epoch(ns: bigint): string {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${(a % 1_000_000_000n).toString().padStart(9, '0')}`;
}
