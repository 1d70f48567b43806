/**
 * Typed options both ways (issue 15, item 3): `options.get(242)` is an AvayaList, by code or by name;
 * encodeOption is the inverse of decodeOption for every registered codec; a value an option cannot
 * carry is a DhcpOptionError naming the option, never other bytes; a malformed value on the wire stays
 * raw, never an exception.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  avaya43,
  avayaList,
  buildDhcp,
  decodeDhcp,
  decodeOption,
  DhcpOptionError,
  encodeDnsNames,
  encodeOption,
  lookupOption,
  MessageType,
  OPTION_DEFS,
} from '../../packages/dhcp/src/codec/index.js';
import { checkOptionRoundTrip } from '../helpers/dhcp-options.js';
import { intToIp } from '../../packages/core/src/ipv4.js';

const b = (...parts: (number | string | number[])[]): Buffer =>
  Buffer.concat(
    parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(typeof p === 'number' ? [p] : p))),
  );

/** A message of the given option bytes (after the cookie), decoded. */
function message(options: Buffer) {
  const r = decodeDhcp(Buffer.concat([Buffer.alloc(236), b(99, 130, 83, 99), options, b(255)]));
  if (!r.ok) throw new Error(r.error.message);
  return r.message;
}

/** The error encodeOption throws for `value`, which must be a DhcpOptionError. */
function refusal(key: number | string, value: unknown): DhcpOptionError {
  try {
    encodeOption(key, value);
  } catch (e) {
    expect(e).toBeInstanceOf(DhcpOptionError);
    expect(e).toBeInstanceOf(RangeError);
    return e as DhcpOptionError;
  }
  throw new Error(`option ${key}: ${JSON.stringify(value)} was not refused`);
}

// ------------------------------------------------------------------------------------- typed access

describe('typed options', () => {
  it('an Avaya OFFER with options 242 and 43 built from typed values and read back', () => {
    // Only the options are read back: the header keeps buildDhcp's defaults (examples/avaya-offer.ts
    // builds the whole OFFER a server sends).
    const { bytes } = buildDhcp({
      options: [
        encodeOption('dhcp-message-type', MessageType.OFFER),
        encodeOption('server-identifier', '10.77.0.1'),
        encodeOption('lease-time', 3600),
        encodeOption('subnet-mask', '255.255.255.0'),
        encodeOption('router', ['10.77.0.1']),
        encodeOption(242, avayaList({ MCIPADD: ['10.77.0.5', '10.77.0.6'], MCPORT: '1719', HTTPSRVR: '10.77.0.1' })),
        encodeOption(43, avaya43({ HTTPSRVR: '10.77.0.1', L2QVLAN: '20' })),
      ],
    });
    const r = decodeDhcp(bytes);
    expect(r.ok && r.warnings).toEqual([]);
    if (!r.ok) return;
    const o = r.message.options;
    expect(o.get(242)).toEqual({
      pairs: [
        ['MCIPADD', '10.77.0.5,10.77.0.6'],
        ['MCPORT', '1719'],
        ['HTTPSRVR', '10.77.0.1'],
      ],
    });
    expect(o.get('avaya-242')).toEqual(o.get(242));
    expect(o.get('242')).toEqual(o.get(242));
    expect(o.get(43)!.form).toBe('avaya');
    expect(o.get(43)!.subOptions.map((s) => [s.name, s.text])).toEqual([
      ['ENTERPRISE', '6889'],
      ['HTTPSRVR', '10.77.0.1'],
      ['L2QVLAN', '20'],
    ]);
    expect(o.get('message-type')).toBe(MessageType.OFFER);
    expect(o.get('dhcp-lease-time')).toBe(3600);
    expect(o.get('routers')).toEqual(['10.77.0.1']);
    expect(o.raw(242)!.toString()).toBe('MCIPADD=10.77.0.5,10.77.0.6,MCPORT=1719,HTTPSRVR=10.77.0.1');
    // Each value read encodes back to the bytes on the wire.
    for (const code of o.codes()) expect(encodeOption(code, o.get(code))).toEqual([code, o.raw(code)]);
  });

  it('get, decode and raw agree by code and by name; a malformed value is raw with the reason, never thrown', () => {
    const o = message(b(3, 3, 10, 77, 0, 242, 6, 'L2Q=1', 0, 51, 4, 0, 0, 0x0e, 0x10, 224, 2, 1, 2)).options;
    expect(o.get(3)).toBeUndefined(); // a 3-byte router
    expect(o.has('router')).toBe(true);
    expect(o.raw('routers')).toEqual(b(10, 77, 0));
    expect(o.decode('Router')).toMatchObject({
      code: 3,
      name: 'router',
      ok: false,
      value: b(10, 77, 0),
      text: '0x0a4d00',
    });
    expect(o.decode(3)!.warnings[0]).toMatch(/4-byte IPv4/);
    expect(o.get('avaya-242')).toEqual({ pairs: [['L2Q', '1']] });
    expect(o.decode(242)).toMatchObject({ ok: true, text: 'L2Q=1', warnings: [] });
    expect(o.get('lease_time')).toBe(3600);
    expect(o.get(224)).toEqual(b(1, 2)); // a code without an entry: its bytes
    expect(o.get('option-224')).toEqual(b(1, 2));
    for (const absent of [1, 'subnet-mask', 'no-such-option', 0, 255, 300, -1, NaN]) {
      expect(o.get(absent)).toBeUndefined();
      expect(o.decode(absent)).toBeUndefined();
      expect(o.raw(absent)).toBeUndefined();
      expect(o.has(absent)).toBe(false);
    }
  });

  it('one lookup for every key, the same entry by code, digits, name, alias and option-N', () => {
    const def = lookupOption(242);
    for (const key of ['242', 'avaya-242', 'AVAYA_242', 'avaya-site-specific-242', 'option-242', ' 242 '])
      expect(lookupOption(key)).toBe(def);
    expect(def).toMatchObject({ code: 242, name: 'avaya-242', registered: true });
    expect(def.codec.decode(b('MCPORT=1719')).value).toEqual({ pairs: [['MCPORT', '1719']] });
  });
});

// ------------------------------------------------------------------------------------------ refusals

describe('a value an option cannot carry', () => {
  it('is a DhcpOptionError naming the option, where bytes were made before', () => {
    // Each of these made bytes before (a byte 300 sent as 44, flags masked, "false" sent as true, 1.5 as
    // 1, uninitialised memory for the hole of a sparse list, text taken as bytes, two classes glued).
    expect(refusal(94, { type: 1, major: 300, minor: 0 }).message).toBe(
      'option 94 (client-network-interface): 300 is not an integer in 0..255',
    );
    expect(refusal(81, { flags: 0x104, rcode1: 0, rcode2: 0, name: 'pc1' }).message).toMatch(
      /^option 81 \(client-fqdn\): 260 is not an integer in 0\.\.255/,
    );
    expect(refusal('ip-forwarding', 'false')).toMatchObject({
      option: 19,
      optionName: 'ip-forwarding',
      message: 'option 19 (ip-forwarding): expected true or false, got "false"',
    });
    expect(refusal(93, [1.5]).message).toMatch(/1\.5 is not an integer/);
    // eslint-disable-next-line no-sparse-arrays -- the hole is what is refused
    expect(refusal(55, [1, , 3]).message).toMatch(/^option 55 \(parameter-request-list\): expected a list of integers/);
    expect(refusal(63, 'text').message).toBe(
      'option 63 (netware-ip-information): expected the value as a Buffer, got "text"',
    );
    expect(refusal(77, { form: 'plain', classes: ['a', 'b'] }).message).toMatch(/one string, got 2/);
    expect(refusal(52, 7).message).toMatch(/^option 52 \(overload\): 7 is not an integer in 1\.\.3/);
  });

  it('names what was expected for wrong types, lone surrogates and unknown keys', () => {
    expect(refusal(12, 42).message).toBe('option 12 (host-name): expected the value as a string, got 42');
    expect(refusal(12, 'a\ud800b').message).toMatch(/not well-formed Unicode/);
    expect(refusal('lease-time', -1).message).toBe('option 51 (lease-time): -1 is not an integer in 0..4294967295');
    expect(refusal('router', '10.77.0.1').message).toMatch(
      /^option 3 \(router\): expected a list of at least 1 IPv4 addresses/,
    );
    expect(refusal(1, '10.77.0.256').message).toBe(
      'option 1 (subnet-mask): not an IPv4 address (a.b.c.d): "10.77.0.256"',
    );
    expect(refusal(43, { subOptions: [{ code: 0, value: b('x') }] }).message).toMatch(
      /sub-option code 0 is not in 1\.\.254/,
    );
    expect(refusal(43, { form: 'avaya', subOptions: [{ code: 2, value: b('x') }] }).message).toMatch(
      /needs sub-option 1 "6889"/,
    );
    expect(refusal(82, { subOptions: [{ code: 1, value: 'eth0' }] }).message).toMatch(
      /sub-option 1's value as a Buffer/,
    );
    expect(refusal(121, [{ destination: '10.0.0.1/8', router: '10.0.0.2' }]).message).toMatch(/host bits/);
    expect(refusal(242, avayaList({ HTTPDIR: 'a,L2Q=1' })).message).toMatch(/would read as a new pair/);
    expect(refusal('no-such-option', 1)).toMatchObject({
      message: 'option "no-such-option": not a DHCP option (use a code 1..254 or a name)',
    });
    expect(refusal(0, b()).message).toMatch(/^option 0 \(option-0\): not a DHCP option/);
    expect(refusal(10n as unknown as number, 1).option).toBeNaN();
  });

  it('never escapes as another exception, and what is accepted decodes as that option (any value, any option)', () => {
    const keys = [...OPTION_DEFS.map((d) => d.code), 224];
    const anything = fc.anything({
      withTypedArray: true,
      withSparseArray: true,
      withBigInt: true,
      withBoxedValues: true,
      withMap: true,
      withNullPrototype: true,
    });
    fc.assert(
      fc.property(fc.constantFrom(...keys), anything, (code, value) => {
        let bytes: Buffer;
        try {
          bytes = encodeOption(code, value)[1];
        } catch (e) {
          expect(e).toBeInstanceOf(DhcpOptionError);
          expect((e as DhcpOptionError).option).toBe(code);
          expect((e as Error).message.startsWith(`option ${code} (${lookupOption(code)!.name}): `)).toBe(true);
          return;
        }
        expect(decodeOption(code, bytes).ok).toBe(true);
      }),
      { numRuns: 4000 },
    );
  });
});

// ---------------------------------------------------------------------------------------- round trips

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 65535 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (maxLength: number, minLength = 0) => fc.uint8Array({ minLength, maxLength }).map((a) => Buffer.from(a));
/** Text as decode gives it back: well-formed, no trailing NUL (string options drop those). */
const text = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.endsWith('\0'));
const label = fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/);
const dnsName = fc.array(label, { maxLength: 4 }).map((l) => l.join('.'));
const avayaValue = fc
  .array(fc.stringMatching(/^[a-z0-9.:;/]{0,10}$/), { minLength: 1, maxLength: 3 })
  .map((a) => a.join(','));
const subOptions = (lo: number, hi: number, maxLength: number) =>
  fc.array(fc.record({ code: fc.integer({ min: lo, max: hi }), value: bytes(20) }), { maxLength });
const route = fc.tuple(fc.integer({ min: 0, max: 32 }), u32, fc.ipV4()).map(([width, n, router]) => {
  const net = width === 0 ? 0 : (n & ((0xffffffff << (32 - width)) >>> 0)) >>> 0;
  return { destination: `${intToIp(net)}/${width}`, router };
});

/** Typed values of each codec type, as decode gives them (canonical: they must come back as given). */
const VALUES: Record<string, fc.Arbitrary<unknown>> = {
  ip: fc.ipV4(),
  'ip-list': fc.array(fc.ipV4(), { minLength: 1, maxLength: 5 }),
  'ip-pairs': fc.array(fc.tuple(fc.ipV4(), fc.ipV4()), { minLength: 1, maxLength: 4 }),
  u8,
  u16,
  u32,
  i32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  bool: fc.boolean(),
  'u8-list': fc.array(u8, { minLength: 1, maxLength: 10 }),
  'u16-list': fc.array(u16, { minLength: 1, maxLength: 10 }),
  string: text,
  bytes: bytes(40),
  'message-type': u8,
  'option-list': fc.array(u8, { maxLength: 20 }),
  overload: fc.constantFrom(1, 2, 3),
  'client-id': fc.record({ type: u8, data: bytes(20, 1) }),
  'user-class': fc.oneof(
    fc.record({
      form: fc.constant('plain'),
      classes: fc.oneof(fc.constant([]), fc.tuple(text.filter((s) => s !== ''))),
    }),
    // At most 8 graphemes: an item is at most 255 bytes of UTF-8.
    fc.record({
      form: fc.constant('rfc3004'),
      classes: fc.array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 }),
    }),
  ),
  fqdn: fc.oneof(
    fc.record({ flags: u8.map((f) => f | 0x04), rcode1: u8, rcode2: u8, name: dnsName }),
    fc.record({ flags: u8.map((f) => f & ~0x04), rcode1: u8, rcode2: u8, name: text }),
  ),
  'client-arch': fc.array(u16, { minLength: 1, maxLength: 4 }),
  'client-ndi': fc.record({ type: u8, major: u8, minor: u8 }),
  'machine-id': fc.oneof(
    fc.record({ type: fc.constant(0), id: bytes(16, 16) }),
    fc.record({ type: fc.integer({ min: 1, max: 255 }), id: bytes(20) }),
  ),
  'domain-list': fc.array(dnsName, { maxLength: 4 }),
  'sip-servers': fc.oneof(
    fc.record({ encoding: fc.constant('addresses'), servers: fc.array(fc.ipV4(), { minLength: 1, maxLength: 3 }) }),
    fc.record({ encoding: fc.constant('names'), servers: fc.array(dnsName, { minLength: 1, maxLength: 3 }) }),
  ),
  'classless-routes': fc.array(route, { minLength: 1, maxLength: 4 }),
  'vi-vendor-class': fc.array(fc.record({ enterprise: u32, data: fc.array(bytes(20), { maxLength: 4 }) }), {
    minLength: 1,
    maxLength: 3,
  }),
  'vi-vendor-specific': fc.array(fc.record({ enterprise: u32, subOptions: subOptions(0, 255, 4) }), {
    minLength: 1,
    maxLength: 3,
  }),
  'avaya-list': fc
    .array(fc.tuple(fc.stringMatching(/^[A-Z0-9_]{1,12}$/), avayaValue), { maxLength: 6 })
    .map((pairs) => ({ pairs })),
  'vendor-specific': fc.oneof(
    // Sub-options 2.. only: a first "6889" would make any list Avaya's.
    subOptions(2, 254, 5)
      .filter((s) => s.length > 0)
      .map((s) => ({ form: 'tlv', subOptions: s })),
    fc.record({ HTTPSRVR: fc.ipV4(), L2QVLAN: fc.integer({ min: 0, max: 4094 }).map(String) }).map((p) => avaya43(p)),
  ),
  'relay-agent': subOptions(0, 255, 5).map((s) => ({ subOptions: s })),
};

describe('decode and encode are inverses, for every registered codec', () => {
  it('every codec type in the registry has typed values here', () => {
    for (const d of OPTION_DEFS) expect(VALUES[d.codec.type], `${d.code} ${d.name} (${d.codec.type})`).toBeDefined();
  });

  it('typed values encode to bytes that decode to the same value (and round-trip from there)', () => {
    const pick = fc.constantFrom(...OPTION_DEFS).chain((d) => VALUES[d.codec.type]!.map((v) => [d, v] as const));
    fc.assert(
      fc.property(pick, ([d, v]) => {
        const [code, bytes] = encodeOption(d.code, v);
        const back = decodeOption(code, bytes);
        expect(back.ok, `${d.name}: ${back.warnings.join('; ')}`).toBe(true);
        if (typeof v === 'object' && v !== null) expect(back.value).toMatchObject(v);
        else expect(back.value).toEqual(v);
        expect(checkOptionRoundTrip(code, bytes)).toEqual(bytes);
      }),
      { numRuns: 6000 },
    );
  });

  it('any bytes that decode re-encode (never refused) to a value-preserving fixed point', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...OPTION_DEFS.map((d) => d.code)),
        fc.uint8Array({ maxLength: 80 }),
        fc.constantFrom(undefined, 'PXEClient', 'ccp.avaya.com'),
        (code, raw, vc) => void checkOptionRoundTrip(code, Buffer.from(raw), vc),
      ),
      { numRuns: 6000 },
    );
  });

  it('normalises what has more than one encoding, and says so when it drops something', () => {
    // Host bits past a route's prefix: read (and re-encoded) as the masked network, with a warning.
    const d = decodeOption(121, b(7, 11, 10, 0, 0, 1));
    expect(d).toMatchObject({ ok: true, value: [{ destination: '10.0.0.0/7', router: '10.0.0.1' }] });
    expect(d.warnings[0]).toMatch(/past its prefix: read as 10\.0\.0\.0\/7/);
    expect(checkOptionRoundTrip(121, b(7, 11, 10, 0, 0, 1))).toEqual(b(7, 10, 10, 0, 0, 1));
    // A plain user class whose bytes would read as RFC 3004 items keeps the NUL phones end it with.
    expect(encodeOption(77, { form: 'plain', classes: ['\u0003abc'] })[1]).toEqual(b(3, 'abc', 0));
    expect(decodeOption(77, b(3, 'abc', 0)).value).toEqual({ form: 'plain', classes: ['\u0003abc'] });
    // items are kept whole
    expect(decodeOption(77, b(3, 'ab', 0)).value).toEqual({ form: 'rfc3004', classes: ['ab\0'] });
    // Compression points only at the same spelling: b.a.COM does not come back as b.A.com.
    const names = ['A.com', 'b.a.COM', 'c.A.com'];
    expect(decodeOption(119, encodeDnsNames(names, true)).value).toEqual(names);
    expect(encodeDnsNames(names, true).length).toBe(7 + 9 + 4); // c.A.com still points at A.com
    // Bytes after a wire-format FQDN are no part of it: raw, not silently dropped.
    expect(decodeOption(81, b(0x04, 0, 0, 4, 'host', 0, 1)).ok).toBe(false);
  });
});
