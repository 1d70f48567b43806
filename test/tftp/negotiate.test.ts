import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decodeTftp, encodeRequest, type OptionPair } from '../../packages/tftp/src/codec.js';
import { negotiate, type OptionPolicy } from '../../packages/tftp/src/negotiate.js';
import { type BlockSource, blockCount, OctetSource } from '../../packages/tftp/src/block-source.js';
import { DEFAULT_BLKSIZE, Opcode, type RequestPacket } from '../../packages/tftp/src/packet.js';

const POLICY: OptionPolicy = { maxBlksize: 1468, maxWindowsize: 16 };

/** A request as the server sees it: encoded and decoded, so `known` is what the decoder made of it. */
function request(
  opcode: typeof Opcode.RRQ | typeof Opcode.WRQ,
  options: [string, string][],
  filename = 'f.bin',
): RequestPacket {
  const r = decodeTftp(
    encodeRequest(
      opcode,
      filename,
      'octet',
      options.map(([name, value]) => ({ name, value })),
    ),
  );
  if (!r.ok) throw new Error(`${r.error.kind}: ${r.error.message}`);
  if (r.packet.opcode !== Opcode.RRQ && r.packet.opcode !== Opcode.WRQ) throw new Error('not a request');
  return r.packet;
}
const rrq = (...options: [string, string][]) => request(Opcode.RRQ, options);
const wrq = (...options: [string, string][]) => request(Opcode.WRQ, options);

describe('negotiate', () => {
  it('no options: defaults and an empty OACK', () => {
    const n = negotiate(rrq(), POLICY, 1000);
    expect(n).toEqual({ blksize: DEFAULT_BLKSIZE, windowsize: 1, oack: [] });
    expect(n.timeoutMs).toBeUndefined();
    expect(n.tsize).toBeUndefined();
    expect(negotiate(wrq(), POLICY).oack).toEqual([]);
  });

  it('blksize below the policy max is granted as asked, with the client spelling', () => {
    const n = negotiate(rrq(['BlkSize', '1024']), POLICY, 10);
    expect(n.blksize).toBe(1024);
    expect(n.oack).toEqual([{ name: 'BlkSize', value: '1024' }]);
  });

  it('blksize above the policy max is clamped to it', () => {
    const n = negotiate(rrq(['BLKSIZE', '65464']), POLICY, 10);
    expect(n.blksize).toBe(1468);
    expect(n.oack).toEqual([{ name: 'BLKSIZE', value: '1468' }]);
    expect(negotiate(rrq(['blksize', '1468']), POLICY).oack).toEqual([{ name: 'blksize', value: '1468' }]);
    expect(negotiate(rrq(['blksize', '1469']), POLICY).blksize).toBe(1468);
  });

  it('blksize with leading zeros is answered in canonical form', () => {
    expect(negotiate(rrq(['blksize', '0008']), POLICY).oack).toEqual([{ name: 'blksize', value: '8' }]);
  });

  it('windowsize is clamped to the policy max', () => {
    const big = negotiate(rrq(['WindowSize', '64']), POLICY);
    expect(big.windowsize).toBe(16);
    expect(big.oack).toEqual([{ name: 'WindowSize', value: '16' }]);
    const small = negotiate(rrq(['windowsize', '4']), POLICY);
    expect(small.windowsize).toBe(4);
    expect(small.oack).toEqual([{ name: 'windowsize', value: '4' }]);
  });

  it('timeout is echoed as sent and returned in ms', () => {
    const n = negotiate(rrq(['Timeout', '5']), POLICY);
    expect(n.timeoutMs).toBe(5000);
    expect(n.oack).toEqual([{ name: 'Timeout', value: '5' }]);
    expect(negotiate(rrq(['timeout', '255']), POLICY).timeoutMs).toBe(255_000);
    expect(negotiate(rrq(['timeout', '1']), POLICY).timeoutMs).toBe(1000);
  });

  it('a timeout above the policy cap is declined: left out of the OACK, the server timeout applies', () => {
    const capped = { ...POLICY, maxTimeoutMs: 5000 };
    expect(negotiate(rrq(['timeout', '5']), capped)).toMatchObject({
      timeoutMs: 5000,
      oack: [{ name: 'timeout', value: '5' }],
    });
    const n = negotiate(rrq(['blksize', '1024'], ['timeout', '255']), capped);
    expect(n.timeoutMs).toBeUndefined();
    expect(n.oack).toEqual([{ name: 'blksize', value: '1024' }]);
  });

  it('tsize in a RRQ is answered with the size given', () => {
    const n = negotiate(rrq(['tsize', '0']), POLICY, 123_456);
    expect(n.tsize).toBe(123_456);
    expect(n.oack).toEqual([{ name: 'tsize', value: '123456' }]);
    expect(negotiate(rrq(['TSIZE', '0']), POLICY, 0).oack).toEqual([{ name: 'TSIZE', value: '0' }]);
  });

  it('tsize in a RRQ is left out when the size is unknown', () => {
    const n = negotiate(rrq(['tsize', '0'], ['blksize', '1024']), POLICY);
    expect(n.tsize).toBeUndefined();
    expect(n.oack).toEqual([{ name: 'blksize', value: '1024' }]);
  });

  it('tsize in a WRQ is echoed and returned', () => {
    const n = negotiate(wrq(['tsize', '777']), POLICY);
    expect(n.tsize).toBe(777);
    expect(n.oack).toEqual([{ name: 'tsize', value: '777' }]);
    // the size argument is for RRQs only
    expect(negotiate(wrq(['tsize', '777']), POLICY, 5).tsize).toBe(777);
  });

  it('unknown options are never echoed', () => {
    const n = negotiate(rrq(['multicast', ''], ['rollover', '0'], ['x-vendor', '1']), POLICY, 10);
    expect(n.oack).toEqual([]);
    expect(n).toMatchObject({ blksize: DEFAULT_BLKSIZE, windowsize: 1 });
    const mixed = negotiate(rrq(['multicast', ''], ['blksize', '800'], ['utimeout', '500']), POLICY, 10);
    expect(mixed.oack).toEqual([{ name: 'blksize', value: '800' }]);
  });

  it('the OACK follows the client order', () => {
    const n = negotiate(
      rrq(['tsize', '0'], ['windowsize', '8'], ['foo', 'bar'], ['BlkSize', '9000'], ['timeout', '3']),
      POLICY,
      42,
    );
    expect(n.oack).toEqual([
      { name: 'tsize', value: '42' },
      { name: 'windowsize', value: '8' },
      { name: 'BlkSize', value: '1468' },
      { name: 'timeout', value: '3' },
    ]);
    expect(n).toMatchObject({ blksize: 1468, windowsize: 8, timeoutMs: 3000, tsize: 42 });
    const reversed = negotiate(
      rrq(['timeout', '3'], ['BlkSize', '9000'], ['windowsize', '8'], ['tsize', '0']),
      POLICY,
      42,
    );
    expect(reversed.oack.map((o) => o.name)).toEqual(['timeout', 'BlkSize', 'windowsize', 'tsize']);
  });

  it('the first of a repeated option wins, and is echoed once', () => {
    const n = negotiate(rrq(['blksize', '1024'], ['BLKSIZE', '512'], ['timeout', '2'], ['Timeout', '9']), POLICY);
    expect(n.blksize).toBe(1024);
    expect(n.timeoutMs).toBe(2000);
    expect(n.oack).toEqual([
      { name: 'blksize', value: '1024' },
      { name: 'timeout', value: '2' },
    ]);
  });

  it('a repeated option whose later instance is invalid still negotiates the first', () => {
    const n = negotiate(rrq(['windowsize', '4'], ['windowsize', '0']), POLICY);
    expect(n.windowsize).toBe(4);
    expect(n.oack).toEqual([{ name: 'windowsize', value: '4' }]);
  });

  // ------------------------------------------------------------------------------------- property

  const knownArb = fc
    .oneof(
      fc.tuple(fc.constant('blksize'), fc.integer({ min: 8, max: 65464 })),
      fc.tuple(fc.constant('timeout'), fc.integer({ min: 1, max: 255 })),
      fc.tuple(fc.constant('windowsize'), fc.integer({ min: 1, max: 65535 })),
      fc.tuple(fc.constant('tsize'), fc.nat({ max: 1e9 })),
    )
    .chain(([key, n]) => fc.mixedCase(fc.constant(key)).map((name): OptionPair => ({ name, value: String(n) })));
  const unknownArb = fc
    .record({
      name: fc.constantFrom('multicast', 'rollover', 'utimeout', 'X', 'blksize2'),
      value: fc.string({ maxLength: 5 }),
    })
    .filter((o) => !o.value.includes('\0'));

  it('property: the OACK is the first instance of each known option, in client order, within policy', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(knownArb, unknownArb), { maxLength: 10 }),
        fc.constantFrom(Opcode.RRQ, Opcode.WRQ),
        fc.record({
          maxBlksize: fc.integer({ min: 8, max: 65464 }),
          maxWindowsize: fc.integer({ min: 1, max: 65535 }),
        }),
        fc.option(fc.nat({ max: 1e9 }), { nil: undefined }),
        (options, opcode, policy, size) => {
          const req = request(
            opcode,
            options.map((o) => [o.name, o.value]),
          );
          const n = negotiate(req, policy, size);

          // expected: first instance of each known key, in order
          const seen = new Set<string>();
          const firsts = options.filter((o) => {
            const k = o.name.toLowerCase();
            if (!['blksize', 'timeout', 'windowsize', 'tsize'].includes(k) || seen.has(k)) return false;
            seen.add(k);
            return true;
          });
          const expected = firsts
            .filter((o) => !(o.name.toLowerCase() === 'tsize' && opcode === Opcode.RRQ && size === undefined))
            .map((o): OptionPair => {
              const v = Number(o.value);
              switch (o.name.toLowerCase()) {
                case 'blksize':
                  return { name: o.name, value: String(Math.min(v, policy.maxBlksize)) };
                case 'windowsize':
                  return { name: o.name, value: String(Math.min(v, policy.maxWindowsize)) };
                case 'tsize':
                  return { name: o.name, value: String(opcode === Opcode.RRQ ? size : v) };
                default:
                  return { name: o.name, value: o.value };
              }
            });
          expect(n.oack).toEqual(expected);
          expect(n.blksize).toBeLessThanOrEqual(Math.max(policy.maxBlksize, DEFAULT_BLKSIZE));
          expect(n.windowsize).toBeLessThanOrEqual(policy.maxWindowsize);
          expect(Number.isInteger(n.blksize) && Number.isInteger(n.windowsize)).toBe(true);
          if (!seen.has('blksize')) expect(n.blksize).toBe(DEFAULT_BLKSIZE);
          if (!seen.has('windowsize')) expect(n.windowsize).toBe(1);
          if (!seen.has('timeout')) expect(n.timeoutMs).toBeUndefined();
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('OctetSource and blockCount', () => {
  it('blockCount is floor(size / blksize) + 1', () => {
    expect(blockCount(0, 512)).toBe(1);
    expect(blockCount(1, 512)).toBe(1);
    expect(blockCount(511, 512)).toBe(1);
    expect(blockCount(512, 512)).toBe(2); // an exact multiple ends with an empty block
    expect(blockCount(513, 512)).toBe(2);
    expect(blockCount(1024, 512)).toBe(3);
    expect(blockCount(65464 * 3, 65464)).toBe(4);
    fc.assert(
      fc.property(fc.nat({ max: 1e9 }), fc.integer({ min: 1, max: 65464 }), (size, blksize) => {
        expect(blockCount(size, blksize)).toBe(Math.floor(size / blksize) + 1);
      }),
    );
  });

  it('blocks are views of the original buffer', () => {
    const backing = new ArrayBuffer(4096);
    const bytes = Buffer.from(backing, 100, 1300);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i & 0xff;
    const src = new OctetSource(bytes);
    expect(src.size).toBe(1300);
    const b1 = src.block(1, 512);
    const b3 = src.block(3, 512);
    expect(b1.buffer).toBe(backing);
    expect(b1.byteOffset).toBe(100);
    expect(b1.length).toBe(512);
    expect(b3.buffer).toBe(backing);
    expect(b3.byteOffset).toBe(100 + 1024);
    expect(b3.length).toBe(1300 - 1024);
    bytes[1024] = 0xab;
    expect(b3[0]).toBe(0xab);
  });

  it('blocks of a SharedArrayBuffer copy are views of it too', () => {
    const sab = new SharedArrayBuffer(1000);
    const src = new OctetSource(Buffer.from(sab));
    expect(src.block(2, 300).buffer).toBe(sab);
  });

  it('an exact multiple ends with an empty block; size 0 is one empty block', () => {
    const src = new OctetSource(Buffer.alloc(1024, 7));
    expect(src.block(2, 512).length).toBe(512);
    expect(src.block(3, 512).length).toBe(0);
    const empty = new OctetSource(Buffer.alloc(0));
    expect(empty.size).toBe(0);
    expect(blockCount(empty.size, 512)).toBe(1);
    expect(empty.block(1, 512).length).toBe(0);
  });

  it('blocks can be asked again after release (views cost nothing)', () => {
    const src: BlockSource = new OctetSource(Buffer.from('abcdef'));
    const first = src.block(1, 4);
    src.release(1);
    expect(src.block(1, 4).equals(first)).toBe(true);
  });

  it('property: blocks 1..blockCount are full except a short last one and reassemble the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 1, max: 2048 }), (u8, blksize) => {
        const bytes = Buffer.from(u8);
        const src = new OctetSource(bytes);
        const n = blockCount(src.size, blksize);
        const blocks: Buffer[] = [];
        for (let i = 1; i <= n; i++) {
          const b = src.block(i, blksize);
          expect(b.buffer).toBe(bytes.buffer);
          expect(b.byteOffset).toBe(bytes.byteOffset + Math.min((i - 1) * blksize, bytes.length));
          blocks.push(b);
        }
        for (const b of blocks.slice(0, -1)) expect(b.length).toBe(blksize);
        expect(blocks[n - 1]!.length).toBeLessThan(blksize);
        expect(Buffer.concat(blocks).equals(bytes)).toBe(true);
        // past the end there is nothing
        expect(src.block(n + 1, blksize).length).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});
