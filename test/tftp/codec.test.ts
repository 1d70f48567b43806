import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  dataHeader,
  decodeTftp,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  encodeTftp,
} from '../../packages/tftp/src/codec.js';
import {
  type DecodeErrorKind,
  type DecodeResult,
  type KnownOptions,
  Opcode,
  type TftpOption,
  type TftpPacket,
} from '../../packages/tftp/src/packet.js';

// ------------------------------------------------------------------------------------------ helpers

/** Concatenates wire pieces: strings are UTF-8 (write NULs as '\0'), arrays are raw bytes. */
function wire(...parts: (string | readonly number[])[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
}

const op = (n: number): number[] => [n >> 8, n & 0xff];

function ok(r: DecodeResult): TftpPacket {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.kind}: ${r.error.message}`);
  return r.packet;
}

/** An RRQ for `f` (octet) with the options given as name, value, name, value…, decoded. */
function rrqWithOptions(...namesAndValues: string[]) {
  const p = ok(decodeTftp(wire(op(1), 'f\0', 'octet\0', ...namesAndValues.map((s) => `${s}\0`))));
  if (p.opcode !== Opcode.RRQ) throw new Error('not a RRQ');
  return p;
}

/** The request's options, in order, as [name as sent, key, value]. */
function expectOptions(p: { options: readonly TftpOption[] }, want: [string, string, string][]): void {
  expect(p.options).toEqual(want.map(([name, key, value]) => ({ name, key, value })));
}

function errKind(buf: Buffer): DecodeErrorKind {
  const r = decodeTftp(buf);
  if (r.ok) throw new Error(`expected an error for ${buf.toString('hex')}, got ${JSON.stringify(r.packet)}`);
  expect(r.error.offset).toBeGreaterThanOrEqual(0);
  expect(r.error.offset).toBeLessThanOrEqual(buf.length);
  expect(typeof r.error.message).toBe('string');
  expect(r.error.message.length).toBeGreaterThan(0);
  return r.error.kind;
}

const ERROR_KINDS: readonly DecodeErrorKind[] = [
  'truncated',
  'unknown-opcode',
  'unterminated',
  'empty-filename',
  'bad-mode',
  'odd-options',
  'empty-option-name',
  'bad-option-value',
  'trailing-bytes',
];

const KNOWN_KEYS = ['blksize', 'timeout', 'tsize', 'windowsize'] as const;
type KnownKey = (typeof KNOWN_KEYS)[number];

const asciiLower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** The reference model for `known`: first instance of each known option wins. */
function knownOf(options: readonly TftpOption[]): KnownOptions {
  const known: KnownOptions = {};
  for (const o of options) {
    if ((KNOWN_KEYS as readonly string[]).includes(o.key) && known[o.key as KnownKey] === undefined) {
      known[o.key as KnownKey] = Number(o.value);
    }
  }
  return known;
}

// ------------------------------------------------------------------------------- decoding by kind

describe('decodeTftp: every packet kind from hand-written bytes', () => {
  it('decodes a RRQ without options', () => {
    const p = ok(decodeTftp(wire(op(1), 'pxelinux.0\0', 'octet\0')));
    expect(p).toEqual({ opcode: Opcode.RRQ, filename: 'pxelinux.0', mode: 'octet', options: [], known: {} });
  });

  it('decodes a WRQ with options', () => {
    const p = ok(
      decodeTftp(wire(op(2), 'cfg/SEP001122.cnf.xml\0', 'octet\0', 'blksize\0', '1428\0', 'tsize\0', '2048\0')),
    );
    expect(p).toEqual({
      opcode: Opcode.WRQ,
      filename: 'cfg/SEP001122.cnf.xml',
      mode: 'octet',
      options: [
        { name: 'blksize', key: 'blksize', value: '1428' },
        { name: 'tsize', key: 'tsize', value: '2048' },
      ],
      known: { blksize: 1428, tsize: 2048 },
    });
  });

  it('decodes a UTF-8 filename', () => {
    const p = ok(decodeTftp(wire(op(1), 'dossier/été.bin\0', 'octet\0')));
    expect(p.opcode === Opcode.RRQ && p.filename).toBe('dossier/été.bin');
  });

  it('decodes every known option with its numeric value', () => {
    const p = ok(
      decodeTftp(
        wire(
          op(1),
          'f\0',
          'octet\0',
          'blksize\0',
          '8\0',
          'timeout\0',
          '255\0',
          'tsize\0',
          '0\0',
          'windowsize\0',
          '65535\0',
        ),
      ),
    );
    expect(p.opcode === Opcode.RRQ && p.known).toEqual({ blksize: 8, timeout: 255, tsize: 0, windowsize: 65535 });
  });

  it('accepts the range boundaries of every known option', () => {
    const cases: [string, string, number][] = [
      ['blksize', '8', 8],
      ['blksize', '65464', 65464],
      ['timeout', '1', 1],
      ['timeout', '255', 255],
      ['windowsize', '1', 1],
      ['windowsize', '65535', 65535],
      ['tsize', '0', 0],
      ['tsize', String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
      ['blksize', '0000000000000512', 512], // leading zeros are still digits
    ];
    for (const [name, value, n] of cases) {
      const p = ok(decodeTftp(wire(op(1), 'f\0', 'octet\0', `${name}\0`, `${value}\0`)));
      expect(p.opcode === Opcode.RRQ && p.known).toEqual({ [name]: n });
      expect(p.opcode === Opcode.RRQ && p.options).toEqual([{ name, key: name, value }]);
    }
  });

  it('decodes DATA with its block number and payload', () => {
    const p = ok(decodeTftp(wire(op(3), [0x12, 0x34], [1, 2, 3, 0, 255])));
    expect(p.opcode).toBe(Opcode.DATA);
    if (p.opcode !== Opcode.DATA) return;
    expect(p.block).toBe(0x1234);
    expect([...p.payload]).toEqual([1, 2, 3, 0, 255]);
  });

  it('decodes an empty DATA (the last block of an exact multiple)', () => {
    const p = ok(decodeTftp(wire(op(3), [0xff, 0xff])));
    expect(p.opcode === Opcode.DATA && p.block).toBe(65535);
    expect(p.opcode === Opcode.DATA && p.payload.length).toBe(0);
  });

  it('decodes ACK', () => {
    expect(ok(decodeTftp(wire(op(4), [0, 0])))).toEqual({ opcode: Opcode.ACK, block: 0 });
    expect(ok(decodeTftp(wire(op(4), [0xab, 0xcd])))).toEqual({ opcode: Opcode.ACK, block: 0xabcd });
  });

  it('decodes ERROR', () => {
    expect(ok(decodeTftp(wire(op(5), [0, 1], 'File not found\0')))).toEqual({
      opcode: Opcode.ERROR,
      code: 1,
      message: 'File not found',
    });
    expect(ok(decodeTftp(wire(op(5), [0xff, 0xfe], '\0')))).toEqual({
      opcode: Opcode.ERROR,
      code: 0xfffe,
      message: '',
    });
  });

  it('decodes an ERROR whose message has no NUL (lenient)', () => {
    expect(ok(decodeTftp(wire(op(5), [0, 2], 'Access violation')))).toEqual({
      opcode: Opcode.ERROR,
      code: 2,
      message: 'Access violation',
    });
    expect(ok(decodeTftp(wire(op(5), [0, 8])))).toEqual({ opcode: Opcode.ERROR, code: 8, message: '' });
  });

  it('an ERROR message stops at its first NUL', () => {
    expect(ok(decodeTftp(wire(op(5), [0, 0], 'a\0b\0')))).toEqual({ opcode: Opcode.ERROR, code: 0, message: 'a' });
  });

  it('decodes OACK', () => {
    const p = ok(decodeTftp(wire(op(6), 'blksize\0', '1024\0', 'windowsize\0', '8\0')));
    expect(p).toEqual({
      opcode: Opcode.OACK,
      options: [
        { name: 'blksize', key: 'blksize', value: '1024' },
        { name: 'windowsize', key: 'windowsize', value: '8' },
      ],
      known: { blksize: 1024, windowsize: 8 },
    });
  });

  it('decodes an empty OACK', () => {
    expect(ok(decodeTftp(wire(op(6))))).toEqual({ opcode: Opcode.OACK, options: [], known: {} });
  });

  it('mode is case-insensitive and lower-cased', () => {
    for (const [spelled, mode] of [
      ['OCTET', 'octet'],
      ['Octet', 'octet'],
      ['NetAscii', 'netascii'],
      ['NETASCII', 'netascii'],
      ['MaIl', 'mail'],
    ] as const) {
      const p = ok(decodeTftp(wire(op(1), 'f\0', `${spelled}\0`)));
      expect(p.opcode === Opcode.RRQ && p.mode).toBe(mode);
    }
  });

  it('mode "mail" is accepted by the decoder', () => {
    const p = ok(decodeTftp(wire(op(2), 'user\0', 'mail\0')));
    expect(p).toMatchObject({ opcode: Opcode.WRQ, filename: 'user', mode: 'mail' });
  });

  it('option names are case-insensitive: key lower-cased, name keeps its spelling', () => {
    const p = rrqWithOptions('BlkSize', '1024', 'TSIZE', '0', 'WindowSize', '4');
    expectOptions(p, [
      ['BlkSize', 'blksize', '1024'],
      ['TSIZE', 'tsize', '0'],
      ['WindowSize', 'windowsize', '4'],
    ]);
    expect(p.known).toEqual({ blksize: 1024, tsize: 0, windowsize: 4 });
  });

  it('only ASCII letters fold: a KELVIN SIGN does not spell "blksize"', () => {
    // 'K' (U+212A).toLowerCase() === 'k': a Unicode-aware fold would make this name the blksize option.
    const p = rrqWithOptions('BL\u212aSIZE', 'nonsense');
    expect(p.known).toEqual({});
    expect(p.options).toHaveLength(1);
    expect(p.options[0]!.name).toBe('BL\u212aSIZE');
    expect(p.options[0]!.key).not.toBe('blksize');
  });

  it('unknown options are kept in `options` but absent from `known`', () => {
    const p = rrqWithOptions('multicast', '', 'blksize', '512', 'X-Vendor', 'abc');
    expectOptions(p, [
      ['multicast', 'multicast', ''],
      ['blksize', 'blksize', '512'],
      ['X-Vendor', 'x-vendor', 'abc'],
    ]);
    expect(p.known).toEqual({ blksize: 512 });
    expect(Object.keys(p.known)).toEqual(['blksize']);
  });

  it('a repeated option: the first wins in `known`, all are kept in `options`', () => {
    const p = rrqWithOptions('blksize', '1024', 'BLKSIZE', '512', 'timeout', '3', 'timeout', '9');
    expect(p.known).toEqual({ blksize: 1024, timeout: 3 });
    expect(p.options.map((o) => [o.name, o.value])).toEqual([
      ['blksize', '1024'],
      ['BLKSIZE', '512'],
      ['timeout', '3'],
      ['timeout', '9'],
    ]);
  });

  it('accepts NUL padding after the mode and after the options', () => {
    const a = ok(decodeTftp(wire(op(1), 'f\0', 'octet\0', [0, 0, 0, 0])));
    expect(a).toEqual({ opcode: Opcode.RRQ, filename: 'f', mode: 'octet', options: [], known: {} });
    const b = ok(decodeTftp(wire(op(1), 'f\0', 'octet\0', 'blksize\0', '16\0', [0, 0, 0])));
    expect(b.opcode === Opcode.RRQ && b.known).toEqual({ blksize: 16 });
    expect(b.opcode === Opcode.RRQ && b.options).toHaveLength(1);
  });
});

// -------------------------------------------------------------------------------- zero-copy shape

describe('DATA payloads are views, DATA/ACK headers are shared', () => {
  it('a decoded DATA payload shares the datagram memory', () => {
    const backing = new ArrayBuffer(64);
    const input = Buffer.from(backing, 8, 20);
    input.writeUInt16BE(Opcode.DATA, 0);
    input.writeUInt16BE(7, 2);
    for (let i = 4; i < input.length; i++) input[i] = i;
    const p = ok(decodeTftp(input));
    if (p.opcode !== Opcode.DATA) throw new Error('not DATA');
    expect(p.payload.buffer).toBe(input.buffer);
    expect(p.payload.buffer).toBe(backing);
    expect(p.payload.byteOffset).toBe(input.byteOffset + 4);
    expect(p.payload.length).toBe(16);
    expect(p.payload[0]).toBe(4);
    input[4] = 0xee;
    input[19] = 0xdd;
    expect(p.payload[0]).toBe(0xee);
    expect(p.payload[15]).toBe(0xdd);
  });

  it('a payload view of a pooled Buffer keeps the pool offset', () => {
    const input = Buffer.from([0, 3, 0, 1, 9, 8, 7]); // small Buffer.from() lands in the shared pool
    const p = ok(decodeTftp(input));
    if (p.opcode !== Opcode.DATA) throw new Error('not DATA');
    expect(p.payload.buffer).toBe(input.buffer);
    expect(p.payload.byteOffset).toBe(input.byteOffset + 4);
    input[5] = 42;
    expect([...p.payload]).toEqual([9, 42, 7]);
  });

  it('encodeData returns [header, payload] without copying the payload', () => {
    const payload = Buffer.from('hello world');
    const pieces = encodeData(258, payload);
    expect(pieces).toHaveLength(2);
    const [header, body] = pieces;
    expect(body).toBe(payload);
    expect(header.length).toBe(4);
    expect([...header]).toEqual([0, 3, 1, 2]);
    expect(header).toBe(dataHeader(258));
  });

  it('dataHeader wraps modulo 65536 and returns the same Buffer for the same number', () => {
    expect(dataHeader(5)).toBe(dataHeader(5));
    expect(dataHeader(65536 + 5)).toBe(dataHeader(5));
    expect(dataHeader(65536 * 3 + 5)).toBe(dataHeader(5));
    expect(dataHeader(65536)).toBe(dataHeader(0));
    expect([...dataHeader(65536)]).toEqual([0, 3, 0, 0]);
    expect([...dataHeader(65535)]).toEqual([0, 3, 0xff, 0xff]);
    expect([...dataHeader(65537)]).toEqual([0, 3, 0, 1]);
    expect(dataHeader(1)).not.toBe(dataHeader(2));
  });

  it('encodeAck wraps modulo 65536 and returns the same Buffer for the same number', () => {
    expect(encodeAck(9)).toBe(encodeAck(9));
    expect(encodeAck(65536 + 9)).toBe(encodeAck(9));
    expect([...encodeAck(65536 + 9)]).toEqual([0, 4, 0, 9]);
    expect([...encodeAck(0x1234)]).toEqual([0, 4, 0x12, 0x34]);
    expect([...encodeAck(131071)]).toEqual([0, 4, 0xff, 0xff]);
    expect(encodeAck(3)).not.toBe(dataHeader(3));
  });

  it('every header decodes back to its block', () => {
    for (const b of [0, 1, 255, 256, 4096, 65534, 65535]) {
      expect(ok(decodeTftp(Buffer.from(encodeAck(b))))).toEqual({ opcode: Opcode.ACK, block: b });
      const d = ok(decodeTftp(Buffer.concat(encodeData(b, Buffer.alloc(0)))));
      expect(d.opcode === Opcode.DATA && d.block).toBe(b);
    }
  });

  it('encodeTftp copies a DATA payload (it is for tools, not for the transfer path)', () => {
    const payload = Buffer.from([1, 2, 3]);
    const out = encodeTftp({ opcode: Opcode.DATA, block: 1, payload });
    expect([...out]).toEqual([0, 3, 0, 1, 1, 2, 3]);
    payload[0] = 99;
    expect(out[4]).toBe(1);
  });
});

// ------------------------------------------------------------------------------- malformed inputs

describe('decodeTftp: every malformed input yields its typed error', () => {
  const rrq = (...rest: (string | number[])[]) => wire(op(1), ...rest);

  it('truncated: empty buffer and a single byte', () => {
    expect(errKind(Buffer.alloc(0))).toBe('truncated');
    expect(errKind(Buffer.from([0]))).toBe('truncated');
    expect(errKind(Buffer.from([1]))).toBe('truncated');
  });

  it('unknown opcode: 0, 7, 0xffff', () => {
    expect(errKind(wire(op(0), 'f\0octet\0'))).toBe('unknown-opcode');
    expect(errKind(wire(op(7), [0, 1]))).toBe('unknown-opcode');
    expect(errKind(wire(op(0xffff)))).toBe('unknown-opcode');
    expect(errKind(wire(op(0x0100), [0, 1]))).toBe('unknown-opcode'); // byte-swapped RRQ
  });

  it('unterminated: no NUL after the filename', () => {
    expect(errKind(rrq('file.bin'))).toBe('unterminated');
    expect(errKind(rrq())).toBe('unterminated'); // opcode only
    expect(errKind(wire(op(2), 'x'))).toBe('unterminated');
  });

  it('unterminated: no NUL after the mode', () => {
    expect(errKind(rrq('f\0'))).toBe('unterminated');
    expect(errKind(rrq('f\0', 'octet'))).toBe('unterminated');
  });

  it('unterminated: option name or value without its NUL', () => {
    expect(errKind(rrq('f\0', 'octet\0', 'blksize'))).toBe('unterminated');
    expect(errKind(rrq('f\0', 'octet\0', 'blksize\0', '512'))).toBe('unterminated');
    expect(errKind(wire(op(6), 'blksize'))).toBe('unterminated');
    expect(errKind(wire(op(6), 'blksize\0', '512'))).toBe('unterminated');
  });

  it('empty filename', () => {
    const buf = rrq('\0', 'octet\0');
    expect(errKind(buf)).toBe('empty-filename');
    const r = decodeTftp(buf);
    expect(!r.ok && r.error.offset).toBe(2);
    expect(errKind(wire(op(2), [0]))).toBe('empty-filename');
  });

  it('bad mode: "binary", "", "octets"; but "mail" is fine', () => {
    const buf = rrq('file\0', 'binary\0');
    expect(errKind(buf)).toBe('bad-mode');
    const r = decodeTftp(buf);
    expect(!r.ok && r.error.offset).toBe(7); // start of the mode
    expect(errKind(rrq('f\0', '\0'))).toBe('bad-mode');
    expect(errKind(rrq('f\0', 'octets\0'))).toBe('bad-mode');
    expect(errKind(rrq('f\0', 'oct\u00e9t\0'))).toBe('bad-mode');
    expect(decodeTftp(rrq('f\0', 'mail\0')).ok).toBe(true);
  });

  it('odd options: a name with no value', () => {
    expect(errKind(rrq('f\0', 'octet\0', 'blksize\0'))).toBe('odd-options');
    expect(errKind(rrq('f\0', 'octet\0', 'blksize\0', '512\0', 'tsize\0'))).toBe('odd-options');
    expect(errKind(rrq('f\0', 'octet\0', 'vendor\0'))).toBe('odd-options');
    expect(errKind(wire(op(6), 'timeout\0'))).toBe('odd-options');
  });

  it('empty option name', () => {
    expect(errKind(rrq('f\0', 'octet\0', '\0', '512\0'))).toBe('empty-option-name');
    expect(errKind(rrq('f\0', 'octet\0', 'blksize\0', '512\0', '\0', 'x\0'))).toBe('empty-option-name');
    expect(errKind(wire(op(6), '\0', '1\0'))).toBe('empty-option-name');
  });

  it('bad option values, in requests and in OACKs', () => {
    const bad: [string, string][] = [
      ['blksize', '7'],
      ['blksize', '65465'],
      ['blksize', 'abc'],
      ['blksize', ''],
      ['blksize', '-8'],
      ['blksize', '+512'],
      ['blksize', ' 512'],
      ['blksize', '512 '],
      ['blksize', '5e2'],
      ['blksize', '0x200'],
      ['blksize', '512.0'],
      ['timeout', '0'],
      ['timeout', '256'],
      ['windowsize', '0'],
      ['windowsize', '65536'],
      ['tsize', '-1'],
      ['tsize', 'x'],
      ['tsize', ''],
      ['tsize', String(Number.MAX_SAFE_INTEGER + 1)],
      ['tsize', '00000000000000001'], // 17 digits
      ['BlkSize', '7'],
    ];
    for (const [name, value] of bad) {
      expect([name, value, errKind(rrq('f\0', 'octet\0', `${name}\0`, `${value}\0`))]).toEqual([
        name,
        value,
        'bad-option-value',
      ]);
      expect([name, value, errKind(wire(op(6), `${name}\0`, `${value}\0`))]).toEqual([name, value, 'bad-option-value']);
    }
  });

  it('a bad value is reported at the value', () => {
    const buf = rrq('f\0', 'octet\0', 'blksize\0', 'abc\0');
    const r = decodeTftp(buf);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.offset).toBe(buf.indexOf('abc'));
  });

  it('unknown options may carry any value', () => {
    const p = ok(decodeTftp(rrq('f\0', 'octet\0', 'rollover\0', '-1\0', 'x\0', '\0')));
    expect(p.opcode === Opcode.RRQ && p.known).toEqual({});
  });

  it('DATA and ACK shorter than 4 bytes are truncated', () => {
    expect(errKind(wire(op(3)))).toBe('truncated');
    expect(errKind(wire(op(3), [0]))).toBe('truncated');
    expect(errKind(wire(op(4)))).toBe('truncated');
    expect(errKind(wire(op(4), [1]))).toBe('truncated');
    expect(errKind(wire(op(5), [0]))).toBe('truncated');
    const r = decodeTftp(wire(op(3), [0]));
    expect(!r.ok && r.error.offset).toBe(3);
  });

  it('ACK longer than 4 bytes has trailing bytes', () => {
    expect(errKind(wire(op(4), [0, 1, 0]))).toBe('trailing-bytes');
    expect(errKind(wire(op(4), [0, 1], 'padding'))).toBe('trailing-bytes');
    const r = decodeTftp(wire(op(4), [0, 1, 0, 0]));
    expect(!r.ok && r.error.offset).toBe(4);
  });

  it('never reads past a short view of a larger buffer', () => {
    // The bytes after the view would make this a valid RRQ; the view itself is unterminated.
    const whole = wire(op(1), 'file\0', 'octet\0');
    expect(errKind(whole.subarray(0, 6))).toBe('unterminated');
    expect(errKind(whole.subarray(0, 11))).toBe('unterminated');
    const ack = wire(op(4), [0, 1, 0, 0]);
    expect(ok(decodeTftp(ack.subarray(0, 4)))).toEqual({ opcode: Opcode.ACK, block: 1 });
  });
});

// --------------------------------------------------------------------------------------- encoders

describe('encoders', () => {
  it('encodeRequest writes the exact wire bytes', () => {
    const buf = encodeRequest(Opcode.RRQ, 'a.bin', 'octet', [
      { name: 'blksize', value: '1024' },
      { name: 'tsize', value: '0' },
    ]);
    expect(buf.equals(wire(op(1), 'a.bin\0', 'octet\0', 'blksize\0', '1024\0', 'tsize\0', '0\0'))).toBe(true);
  });

  it('encodeOack writes the exact wire bytes', () => {
    expect(encodeOack([]).equals(wire(op(6)))).toBe(true);
    expect(encodeOack([{ name: 'BlkSize', value: '1468' }]).equals(wire(op(6), 'BlkSize\0', '1468\0'))).toBe(true);
  });

  it('encodeError writes the exact wire bytes and masks the code to 16 bits', () => {
    expect(encodeError(1, 'File not found').equals(wire(op(5), [0, 1], 'File not found\0'))).toBe(true);
    expect(encodeError(0x10002, 'x').equals(wire(op(5), [0, 2], 'x\0'))).toBe(true);
  });

  it('encodeRequest throws RangeError on a NUL anywhere in its strings', () => {
    expect(() => encodeRequest(Opcode.RRQ, 'a\0b', 'octet')).toThrow(RangeError);
    expect(() => encodeRequest(Opcode.WRQ, 'ab', 'oc\0tet')).toThrow(RangeError);
    expect(() => encodeRequest(Opcode.RRQ, 'ab', 'octet', [{ name: 'blk\0size', value: '512' }])).toThrow(RangeError);
    expect(() => encodeRequest(Opcode.RRQ, 'ab', 'octet', [{ name: 'blksize', value: '5\0' }])).toThrow(RangeError);
    expect(() => encodeRequest(Opcode.RRQ, '', 'octet')).toThrow(RangeError);
  });

  it('encodeOack throws RangeError on a NUL in an option', () => {
    expect(() => encodeOack([{ name: '\0', value: '1' }])).toThrow(RangeError);
    expect(() => encodeOack([{ name: 'tsize', value: '1\0' }])).toThrow(RangeError);
  });

  it('encodeError replaces NULs in the message', () => {
    const buf = encodeError(0, 'bad\0name\0');
    expect(buf.indexOf(0, 4)).toBe(buf.length - 1); // the only NUL after the header is the terminator
    expect(ok(decodeTftp(buf))).toEqual({ opcode: Opcode.ERROR, code: 0, message: 'bad name ' });
  });
});

// ------------------------------------------------------------------------------------- properties

const noNul = (s: string) => !s.includes('\0');

const knownOptionArb = fc
  .oneof(
    fc.tuple(fc.constant('blksize' as const), fc.integer({ min: 8, max: 65464 })),
    fc.tuple(fc.constant('timeout' as const), fc.integer({ min: 1, max: 255 })),
    fc.tuple(fc.constant('windowsize' as const), fc.integer({ min: 1, max: 65535 })),
    fc.tuple(fc.constant('tsize' as const), fc.oneof(fc.nat({ max: 100_000 }), fc.maxSafeNat())),
  )
  .chain(([key, n]) =>
    fc.tuple(fc.mixedCase(fc.constant(key)), fc.nat({ max: 3 })).map(([name, zeros]): TftpOption => {
      const digits = String(n);
      return { name, key, value: '0'.repeat(Math.min(zeros, 16 - digits.length)) + digits };
    }),
  );

const unknownOptionArb = fc
  .tuple(
    fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
      fc.string({ minLength: 1, maxLength: 12 }),
      fc.constantFrom('multicast', 'rollover', 'Blksize2', 'utimeout', 'K\u212a'),
    ),
    fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ maxLength: 12 })),
  )
  .filter(([name, value]) => noNul(name) && noNul(value))
  .filter(([name]) => !(KNOWN_KEYS as readonly string[]).includes(asciiLower(name)))
  .map(([name, value]): TftpOption => ({ name, key: asciiLower(name), value }));

const optionsArb = fc.array(fc.oneof(knownOptionArb, unknownOptionArb), { maxLength: 8 });

const requestArb: fc.Arbitrary<TftpPacket> = fc
  .record({
    opcode: fc.constantFrom(Opcode.RRQ, Opcode.WRQ),
    filename: fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }),
      fc.string({ minLength: 1, maxLength: 64 }),
    ),
    mode: fc.constantFrom('octet' as const, 'netascii' as const, 'mail' as const),
    options: optionsArb,
  })
  .filter((r) => noNul(r.filename))
  .map((r) => ({ ...r, known: knownOf(r.options) }));

const dataArb: fc.Arbitrary<TftpPacket> = fc
  .record({ block: fc.integer({ min: 0, max: 65535 }), payload: fc.uint8Array({ maxLength: 1500 }) })
  .map(({ block, payload }) => ({ opcode: Opcode.DATA, block, payload: Buffer.from(payload) }));

const ackArb: fc.Arbitrary<TftpPacket> = fc
  .integer({ min: 0, max: 65535 })
  .map((block) => ({ opcode: Opcode.ACK, block }));

const errorArb: fc.Arbitrary<TftpPacket> = fc
  .record({
    code: fc.integer({ min: 0, max: 65535 }),
    message: fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ maxLength: 80 })),
  })
  .filter((e) => noNul(e.message))
  .map(({ code, message }) => ({ opcode: Opcode.ERROR, code, message }));

const oackArb: fc.Arbitrary<TftpPacket> = optionsArb.map((options) => ({
  opcode: Opcode.OACK,
  options,
  known: knownOf(options),
}));

const packetArb = fc.oneof(requestArb, dataArb, ackArb, errorArb, oackArb);

/** The comparable fields of a packet (a DATA payload as a plain byte array). */
function fields(p: TftpPacket): unknown {
  return p.opcode === Opcode.DATA ? { opcode: p.opcode, block: p.block, payload: [...p.payload] } : p;
}

function checkResult(buf: Uint8Array, r: DecodeResult): void {
  if (r.ok) {
    expect([1, 2, 3, 4, 5, 6]).toContain(r.packet.opcode);
    return;
  }
  expect(ERROR_KINDS).toContain(r.error.kind);
  expect(Number.isInteger(r.error.offset)).toBe(true);
  expect(r.error.offset).toBeGreaterThanOrEqual(0);
  expect(r.error.offset).toBeLessThanOrEqual(buf.length);
}

describe('properties', () => {
  it('decodeTftp(encodeTftp(p)) equals p for every packet kind', () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        const r = decodeTftp(encodeTftp(p));
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(fields(r.packet)).toEqual(fields(p));
      }),
      { numRuns: 1000 },
    );
  });

  it('round-trips each kind separately (so none is starved by oneof)', () => {
    for (const arb of [requestArb, dataArb, ackArb, errorArb, oackArb]) {
      fc.assert(
        fc.property(arb, (p) => {
          const r = decodeTftp(encodeTftp(p));
          if (!r.ok) throw new Error(`${r.error.kind}: ${r.error.message}`);
          expect(fields(r.packet)).toEqual(fields(p));
        }),
        { numRuns: 300 },
      );
    }
  });

  it('encodeData + decode: the payload is the same bytes at the wrapped block number', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.uint8Array({ maxLength: 1500 }), (block, bytes) => {
        const payload = Buffer.from(bytes);
        const [header, body] = encodeData(block, payload);
        expect(body).toBe(payload);
        const p = ok(decodeTftp(Buffer.concat([header, body])));
        expect(p.opcode).toBe(Opcode.DATA);
        if (p.opcode !== Opcode.DATA) return;
        expect(p.block).toBe(block % 65536);
        expect(p.payload.equals(payload)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('decodeTftp never throws on arbitrary bytes and returns ok or a known error kind', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const buf = Buffer.from(bytes);
        let r: DecodeResult | undefined;
        expect(() => (r = decodeTftp(buf))).not.toThrow();
        checkResult(buf, r!);
      }),
      { numRuns: 3000 },
    );
  });

  it('decodeTftp never throws on arbitrary bytes behind a valid opcode', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.uint8Array({ maxLength: 600 }), (opcode, rest) => {
        const buf = Buffer.concat([Buffer.from(op(opcode)), rest]);
        let r: DecodeResult | undefined;
        expect(() => (r = decodeTftp(buf))).not.toThrow();
        checkResult(buf, r!);
      }),
      { numRuns: 3000 },
    );
  });

  // Random bytes rarely form strings and options: build datagrams from NUL-separated tokens instead, so
  // the mode, option and value branches are all reached with both good and bad inputs.
  const tokenArb = fc.oneof(
    fc.constantFrom(
      '',
      'f',
      'octet',
      'OCTET',
      'netascii',
      'mail',
      'binary',
      'blksize',
      'BlkSize',
      'timeout',
      'tsize',
      'windowsize',
    ),
    fc.constantFrom('0', '1', '7', '8', '255', '256', '512', '65464', '65465', '65535', '65536', 'abc', '-1'),
    fc.string({ maxLength: 6 }),
    fc.uint8Array({ maxLength: 4 }).map((b) => Buffer.from(b).toString('latin1')),
  );

  it('decodeTftp never throws on token soups, and each ok result re-encodes to itself', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 7 }),
        fc.array(tokenArb, { maxLength: 10 }),
        fc.boolean(),
        fc.nat({ max: 3 }),
        (opcode, tokens, terminated, padding) => {
          const body = tokens.join('\0') + (terminated && tokens.length > 0 ? '\0' : '');
          const buf = Buffer.concat([Buffer.from(op(opcode)), Buffer.from(body, 'latin1'), Buffer.alloc(padding)]);
          let r: DecodeResult | undefined;
          expect(() => (r = decodeTftp(buf))).not.toThrow();
          checkResult(buf, r!);
          if (r!.ok) {
            // A decoded packet is canonical: encoding and decoding it again changes nothing.
            const again = decodeTftp(encodeTftp(r!.packet));
            expect(again.ok).toBe(true);
            if (again.ok) expect(fields(again.packet)).toEqual(fields(r!.packet));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('every ok result of random bytes re-encodes to itself', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.uint8Array({ maxLength: 200 }), (opcode, rest) => {
        const r = decodeTftp(Buffer.concat([Buffer.from(op(opcode)), rest]));
        if (!r.ok) return;
        const again = decodeTftp(encodeTftp(r.packet));
        expect(again.ok).toBe(true);
        if (again.ok) expect(fields(again.packet)).toEqual(fields(r.packet));
      }),
      { numRuns: 2000 },
    );
  });

  it('any decoded `known` is the first valid instance of each known option', () => {
    fc.assert(
      fc.property(optionsArb, fc.constantFrom(Opcode.RRQ, Opcode.OACK), (options, opcode) => {
        const buf = opcode === Opcode.RRQ ? encodeRequest(Opcode.RRQ, 'f', 'octet', options) : encodeOack(options);
        const p = ok(decodeTftp(buf));
        if (p.opcode !== Opcode.RRQ && p.opcode !== Opcode.OACK) throw new Error('wrong kind');
        expect(p.known).toEqual(knownOf(options));
        for (const k of Object.keys(p.known)) expect(KNOWN_KEYS).toContain(k);
      }),
      { numRuns: 500 },
    );
  });
});
