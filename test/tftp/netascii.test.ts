import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  fromNetascii,
  NetasciiDecoder,
  NetasciiEncoder,
  netasciiEncodedLength,
  toNetascii,
} from '../../packages/tftp/src/netascii.js';
import { blockCount, NetasciiSource } from '../../packages/tftp/src/block-source.js';

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;

const bytes = (...b: number[]) => Buffer.from(b);
const arr = (b: Uint8Array) => [...b];

/** Bytes rich in CR, LF and NUL, so pairs and their splits are common. */
const textyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.array(fc.constantFrom(CR, LF, NUL, 0x41, 0x20), { maxLength: 300 }).map((a) => Uint8Array.from(a)),
  fc.array(fc.constantFrom(CR, LF), { maxLength: 64 }).map((a) => Uint8Array.from(a)),
);

/** Splits `data` at the given cut points (sorted, may repeat, so empty chunks occur). */
function split(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = cuts.map((c) => c % (data.length + 1)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(data.subarray(from, p));
    from = p;
  }
  chunks.push(data.subarray(from));
  return chunks;
}

/** Encodes with fill() into blocks whose sizes cycle through `sizes`; returns the blocks. */
function encodeInBlocks(data: Uint8Array, sizes: number[]): Buffer[] {
  const enc = new NetasciiEncoder(data);
  const blocks: Buffer[] = [];
  for (let i = 0; ; i++) {
    const size = sizes[i % sizes.length]!;
    const out = Buffer.alloc(size);
    const n = enc.fill(out);
    expect(n).toBeLessThanOrEqual(size);
    blocks.push(out.subarray(0, n));
    if (n < size) break;
    if (i > 100_000) throw new Error('encoder does not end');
  }
  return blocks;
}

describe('toNetascii', () => {
  it('LF -> CR LF', () => {
    expect(arr(toNetascii(Buffer.from('a\nb\n')))).toEqual(arr(Buffer.from('a\r\nb\r\n')));
  });

  it('CR -> CR NUL', () => {
    expect(arr(toNetascii(bytes(0x61, CR, 0x62)))).toEqual([0x61, CR, NUL, 0x62]);
    expect(arr(toNetascii(bytes(CR)))).toEqual([CR, NUL]);
  });

  it('CR LF on disk becomes CR NUL CR LF', () => {
    expect(arr(toNetascii(bytes(CR, LF)))).toEqual([CR, NUL, CR, LF]);
  });

  it('leaves other bytes, including NUL and high bytes, alone', () => {
    const plain = bytes(0, 1, 0x7f, 0x80, 0xff, 0x20, 0x0c);
    expect(arr(toNetascii(plain))).toEqual(arr(plain));
    expect(toNetascii(new Uint8Array(0)).length).toBe(0);
  });
});

describe('fromNetascii and NetasciiDecoder', () => {
  it('CR LF -> LF', () => {
    expect(fromNetascii(Buffer.from('a\r\nb\r\n')).toString()).toBe('a\nb\n');
  });

  it('CR NUL -> CR', () => {
    expect(arr(fromNetascii(bytes(0x61, CR, NUL, 0x62)))).toEqual([0x61, CR, 0x62]);
  });

  it('a bare CR (neither LF nor NUL after it) is kept', () => {
    expect(arr(fromNetascii(bytes(0x61, CR, 0x62)))).toEqual([0x61, CR, 0x62]);
    expect(arr(fromNetascii(bytes(CR, CR, LF)))).toEqual([CR, LF]);
    expect(arr(fromNetascii(bytes(CR, CR, NUL)))).toEqual([CR, CR]);
  });

  it('a trailing CR is held back by push() and kept by end()', () => {
    const d = new NetasciiDecoder();
    expect(arr(d.push(bytes(0x61, CR)))).toEqual([0x61]);
    expect(arr(d.end())).toEqual([CR]);
    expect(arr(d.end())).toEqual([]); // only once
    expect(arr(fromNetascii(bytes(0x61, CR)))).toEqual([0x61, CR]);
  });

  it('end() without a pending CR returns nothing', () => {
    const d = new NetasciiDecoder();
    expect(arr(d.push(Buffer.from('abc')))).toEqual(arr(Buffer.from('abc')));
    expect(d.end().length).toBe(0);
  });

  it('a pair split across two blocks converts the same', () => {
    const d = new NetasciiDecoder();
    expect(arr(d.push(bytes(0x61, CR)))).toEqual([0x61]);
    expect(arr(d.push(bytes(LF, 0x62, CR)))).toEqual([LF, 0x62]);
    expect(arr(d.push(bytes(NUL)))).toEqual([CR]);
    expect(arr(d.push(bytes(CR)))).toEqual([]);
    expect(arr(d.push(bytes()))).toEqual([]); // an empty block keeps the CR pending
    expect(arr(d.push(bytes(0x63)))).toEqual([CR, 0x63]);
    expect(arr(d.end())).toEqual([]);
  });

  it('does not modify its input', () => {
    const input = bytes(CR, LF, CR, NUL, 0x41);
    const copy = Buffer.from(input);
    new NetasciiDecoder().push(input);
    expect(input.equals(copy)).toBe(true);
  });
});

describe('netasciiEncodedLength', () => {
  it('counts one extra byte per CR and LF', () => {
    expect(netasciiEncodedLength(new Uint8Array(0))).toBe(0);
    expect(netasciiEncodedLength(Buffer.from('abc'))).toBe(3);
    expect(netasciiEncodedLength(Buffer.from('a\nb\r\n'))).toBe(8);
  });

  it('equals the encoded length (property)', () => {
    fc.assert(
      fc.property(textyBytes, (x) => {
        expect(netasciiEncodedLength(x)).toBe(toNetascii(x).length);
      }),
      { numRuns: 500 },
    );
  });
});

describe('netascii properties', () => {
  it('fromNetascii(toNetascii(x)) equals x', () => {
    fc.assert(
      fc.property(textyBytes, (x) => {
        expect(arr(fromNetascii(toNetascii(x)))).toEqual(arr(x));
      }),
      { numRuns: 1000 },
    );
  });

  it('the encoding never has a CR that is not followed by LF or NUL', () => {
    fc.assert(
      fc.property(textyBytes, (x) => {
        const e = toNetascii(x);
        for (let i = 0; i < e.length; i++) {
          if (e[i] === CR) expect([LF, NUL]).toContain(e[i + 1]);
          if (e[i] === LF) expect(e[i - 1]).toBe(CR);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('NetasciiEncoder.fill into blocks of any size 1..64 concatenates to toNetascii(x)', () => {
    fc.assert(
      fc.property(textyBytes, fc.integer({ min: 1, max: 64 }), (x, size) => {
        const blocks = encodeInBlocks(x, [size]);
        // Every block but the last is full; the last is short (empty when the length is a multiple).
        for (const b of blocks.slice(0, -1)) expect(b.length).toBe(size);
        expect(blocks[blocks.length - 1]!.length).toBeLessThan(size);
        expect(blocks.length).toBe(blockCount(netasciiEncodedLength(x), size));
        expect(arr(Buffer.concat(blocks))).toEqual(arr(toNetascii(x)));
      }),
      { numRuns: 1000 },
    );
  });

  it('NetasciiEncoder.fill with a different size for every block concatenates to toNetascii(x)', () => {
    fc.assert(
      fc.property(
        textyBytes,
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }),
        (x, sizes) => {
          expect(arr(Buffer.concat(encodeInBlocks(x, sizes)))).toEqual(arr(toNetascii(x)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('a pair split by a 1-byte block converts the same', () => {
    const enc = new NetasciiEncoder(bytes(0x61, LF, CR));
    const out = Buffer.alloc(2);
    expect(enc.fill(out)).toBe(2);
    expect(arr(out)).toEqual([0x61, CR]);
    expect(enc.done).toBe(false);
    const one = Buffer.alloc(1);
    expect(enc.fill(one)).toBe(1);
    expect(arr(one)).toEqual([LF]);
    expect(enc.fill(one)).toBe(1);
    expect(arr(one)).toEqual([CR]);
    expect(enc.done).toBe(false); // the NUL of the CR is still pending
    expect(enc.fill(one)).toBe(1);
    expect(arr(one)).toEqual([NUL]);
    expect(enc.done).toBe(true);
    expect(enc.fill(one)).toBe(0);
  });

  it('one NetasciiDecoder over arbitrary splits of toNetascii(x) gives x', () => {
    fc.assert(
      fc.property(textyBytes, fc.array(fc.nat(), { maxLength: 12 }), (x, cuts) => {
        const d = new NetasciiDecoder();
        const parts = split(toNetascii(x), cuts).map((c) => d.push(c));
        parts.push(d.end());
        expect(arr(Buffer.concat(parts))).toEqual(arr(x));
      }),
      { numRuns: 1000 },
    );
  });

  it('decoding any bytes (valid netascii or not) is independent of how they are split', () => {
    fc.assert(
      fc.property(textyBytes, fc.array(fc.nat(), { maxLength: 12 }), (y, cuts) => {
        const d = new NetasciiDecoder();
        const parts = split(y, cuts).map((c) => d.push(c));
        parts.push(d.end());
        expect(arr(Buffer.concat(parts))).toEqual(arr(fromNetascii(y)));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('NetasciiSource', () => {
  function readAll(src: NetasciiSource, blksize: number): Buffer[] {
    const n = blockCount(src.size, blksize);
    const blocks: Buffer[] = [];
    for (let i = 1; i <= n; i++) blocks.push(src.block(i, blksize));
    return blocks;
  }

  it('size is the netascii length', () => {
    expect(new NetasciiSource(Buffer.from('a\nb\r')).size).toBe(6);
  });

  it('blocks reassemble to toNetascii(x) for any blksize', () => {
    fc.assert(
      fc.property(textyBytes, fc.integer({ min: 1, max: 128 }), (x, blksize) => {
        const src = new NetasciiSource(x);
        expect(src.size).toBe(toNetascii(x).length);
        const blocks = readAll(src, blksize);
        for (const b of blocks.slice(0, -1)) expect(b.length).toBe(blksize);
        expect(blocks[blocks.length - 1]!.length).toBeLessThan(blksize);
        expect(arr(Buffer.concat(blocks))).toEqual(arr(toNetascii(x)));
      }),
      { numRuns: 500 },
    );
  });

  it('blocks reassemble when each window is released as it is acknowledged', () => {
    fc.assert(
      fc.property(textyBytes, fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 8 }), (x, blksize, window) => {
        const src = new NetasciiSource(x);
        const n = blockCount(src.size, blksize);
        const got: Buffer[] = [];
        for (let first = 1; first <= n; first += window) {
          const last = Math.min(first + window - 1, n);
          const sent: Buffer[] = [];
          for (let i = first; i <= last; i++) sent.push(Buffer.from(src.block(i, blksize)));
          // a timeout: the window is sent again and must be byte-identical
          for (let i = first; i <= last; i++) expect(src.block(i, blksize).equals(sent[i - first]!)).toBe(true);
          got.push(...sent);
          src.release(last);
        }
        expect(arr(Buffer.concat(got))).toEqual(arr(toNetascii(x)));
      }),
      { numRuns: 300 },
    );
  });

  it('blocks can be re-read until released; a released block throws', () => {
    const x = Buffer.from('line one\nline two\r\nline three\n'.repeat(4));
    const src = new NetasciiSource(x);
    const b1 = src.block(1, 16);
    const b3 = src.block(3, 16); // produces 2 and 3 on the way
    const b2 = src.block(2, 16);
    expect(src.block(1, 16)).toBe(b1);
    expect(src.block(2, 16)).toBe(b2);
    expect(src.block(3, 16)).toBe(b3);
    const expected = toNetascii(x);
    expect(arr(Buffer.concat([b1, b2, b3]))).toEqual(arr(expected.subarray(0, 48)));

    src.release(2);
    expect(() => src.block(1, 16)).toThrow(RangeError);
    expect(() => src.block(2, 16)).toThrow(RangeError);
    expect(src.block(3, 16)).toBe(b3);
    const b4 = src.block(4, 16);
    expect(arr(b4)).toEqual(arr(expected.subarray(48, 64)));

    src.release(4);
    expect(() => src.block(3, 16)).toThrow(/released/);
    expect(() => src.block(4, 16)).toThrow(RangeError);
  });

  it('an empty file is one empty block', () => {
    const src = new NetasciiSource(new Uint8Array(0));
    expect(src.size).toBe(0);
    expect(src.block(1, 512).length).toBe(0);
  });

  it('a length that is an exact multiple ends with an empty block', () => {
    const src = new NetasciiSource(Buffer.from('ab\n')); // 4 bytes on the wire
    expect(arr(src.block(1, 2))).toEqual([0x61, 0x62]);
    expect(arr(src.block(2, 2))).toEqual([CR, LF]);
    expect(src.block(3, 2).length).toBe(0);
    expect(blockCount(src.size, 2)).toBe(3);
  });
});
