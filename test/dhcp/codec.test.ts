import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  buildDhcp,
  decodeDhcp,
  describeDhcp,
  DhcpOptionError,
  type DhcpDecodeResult,
  type DhcpIssueKind,
  type DhcpMessage,
  encodeDhcp,
  optionFromConfig,
} from '../../packages/dhcp/src/codec/index.js';

// ------------------------------------------------------------------------------------------ helpers

const COOKIE = [99, 130, 83, 99];

interface HeaderSpec {
  op?: number;
  htype?: number;
  hlen?: number;
  hops?: number;
  xid?: number;
  secs?: number;
  flags?: number;
  ciaddr?: number[];
  yiaddr?: number[];
  siaddr?: number[];
  giaddr?: number[];
  chaddr?: number[];
  sname?: number[] | string;
  file?: number[] | string;
}

/** The 236-byte BOOTP header, every field given or zero. */
function header(h: HeaderSpec = {}): Buffer {
  const b = Buffer.alloc(236);
  b[0] = h.op ?? 1;
  b[1] = h.htype ?? 1;
  b[2] = h.hlen ?? 6;
  b[3] = h.hops ?? 0;
  b.writeUInt32BE(h.xid ?? 0x01020304, 4);
  b.writeUInt16BE(h.secs ?? 0, 8);
  b.writeUInt16BE(h.flags ?? 0, 10);
  Buffer.from(h.ciaddr ?? [0, 0, 0, 0]).copy(b, 12);
  Buffer.from(h.yiaddr ?? [0, 0, 0, 0]).copy(b, 16);
  Buffer.from(h.siaddr ?? [0, 0, 0, 0]).copy(b, 20);
  Buffer.from(h.giaddr ?? [0, 0, 0, 0]).copy(b, 24);
  Buffer.from(h.chaddr ?? [0x00, 0x1b, 0x4f, 0xaa, 0xbb, 0xcc]).copy(b, 28);
  if (h.sname !== undefined) Buffer.from(h.sname as never).copy(b, 44);
  if (h.file !== undefined) Buffer.from(h.file as never).copy(b, 108);
  return b;
}

/** Header + cookie + raw option bytes (strings are ASCII). */
function packet(options: (number | string)[], h: HeaderSpec = {}): Buffer {
  const bytes: number[] = [];
  for (const o of options)
    if (typeof o === 'string') bytes.push(...Buffer.from(o, 'latin1'));
    else bytes.push(o);
  return Buffer.concat([header(h), Buffer.from(COOKIE), Buffer.from(bytes)]);
}

function ok(r: DhcpDecodeResult): Extract<DhcpDecodeResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.kind}: ${r.error.message}`);
  return r;
}

function decoded(buf: Buffer): DhcpMessage {
  return ok(decodeDhcp(buf)).message;
}

function kinds(buf: Buffer): DhcpIssueKind[] {
  return ok(decodeDhcp(buf)).issues.map((i) => i.kind);
}

function roundTrips(buf: Buffer): void {
  expect(encodeDhcp(decoded(buf)).equals(buf)).toBe(true);
}

/** A DISCOVER as an Avaya 9608 sends it: 53, 61, 57, 55 (with 242), 60 NUL-terminated, 12, End, pads to 340. */
function avayaDiscover(): Buffer {
  const b = packet([
    53,
    1,
    1,
    61,
    7,
    1,
    0x00,
    0x1b,
    0x4f,
    0xaa,
    0xbb,
    0xcc,
    57,
    2,
    0x05,
    0xdc,
    55,
    8,
    1,
    3,
    6,
    15,
    42,
    43,
    66,
    242,
    60,
    14,
    'ccp.avaya.com',
    0,
    12,
    16,
    'SEP001B4FAABBCC0',
    255,
  ]);
  return Buffer.concat([b, Buffer.alloc(340 - b.length)]);
}

/** Every accessor of a decoded message, to prove none of them throws. */
function touchEverything(m: DhcpMessage): void {
  const o = m.options;
  for (const c of o.codes()) {
    o.get(c);
    o.raw(c);
    o.has(c);
    o.decode(c);
  }
  o.instances();
  o.rawEntries();
  o.layout();
  o.messageType();
  o.requestedOptions();
  o.maxMessageSize();
  o.vendorClass();
  o.userClasses();
  o.clientId();
  o.requestedAddress();
  o.serverId();
  o.leaseTime();
  o.hostname();
  o.relayAgent();
  o.overload();
  describeDhcp(m);
}

// ------------------------------------------------------------------------------------------ header

describe('decodeDhcp: the BOOTP header', () => {
  it('reads every field from hand-built bytes', () => {
    // The numeric fields read back as they were written.
    const numbers = { op: 2, htype: 1, hlen: 6, hops: 3, xid: 0xdeadbeef, secs: 300, flags: 0x8000 };
    const buf = packet([53, 1, 2, 255], {
      ...numbers,
      ciaddr: [10, 0, 0, 1],
      yiaddr: [10, 77, 0, 50],
      siaddr: [10, 77, 0, 1],
      giaddr: [192, 168, 1, 254],
      chaddr: [0x00, 0x1b, 0x4f, 0xaa, 0xbb, 0xcc, 9, 9],
      sname: 'server',
      file: '46xxupgrade.scr',
    });
    const m = decoded(buf);
    expect(m).toMatchObject({
      ...numbers,
      ciaddr: '10.0.0.1',
      yiaddr: '10.77.0.50',
      siaddr: '10.77.0.1',
      giaddr: '192.168.1.254',
      mac: '00:1b:4f:aa:bb:cc',
      hasCookie: true,
    });
    expect(m.chaddr.length).toBe(16);
    expect(m.sname.length).toBe(64);
    expect(m.file.length).toBe(128);
    expect(m.file.toString('latin1').replace(/\0+$/, '')).toBe('46xxupgrade.scr');
    expect(m.sname.toString('latin1', 0, 6)).toBe('server');
    // The fields are views of the datagram, not copies.
    for (const v of [m.chaddr, m.sname, m.file]) expect(v.buffer).toBe(buf.buffer);
    expect(m.options.messageType()).toBe(2);
    expect(describeDhcp(m)).toBe(
      'OFFER xid=0xdeadbeef mac=00:1b:4f:aa:bb:cc ciaddr=10.0.0.1 yiaddr=10.77.0.50 siaddr=10.77.0.1 ' +
        'giaddr=192.168.1.254 options=53',
    );
  });

  it('gives plain hex for non-Ethernet hardware addresses and warns about hlen over 16', () => {
    const ib = decoded(packet([255], { htype: 32, hlen: 8, chaddr: [1, 2, 3, 4, 5, 6, 7, 0xff] }));
    expect(ib.mac).toBe('01020304050607ff');
    const r = ok(decodeDhcp(packet([255], { hlen: 20, chaddr: Array.from({ length: 16 }, (_, i) => i) })));
    expect(r.issues.map((i) => i.kind)).toEqual(['bad-hlen']);
    expect(r.message.mac).toBe('000102030405060708090a0b0c0d0e0f');
    expect(decoded(packet([255], { hlen: 0 })).mac).toBe('');
  });

  it('warns about an op that is neither request nor reply, and still decodes', () => {
    expect(kinds(packet([53, 1, 1, 255], { op: 7 }))).toEqual(['bad-op']);
  });
});

// ------------------------------------------------------------------------------- errors and warnings

describe('decodeDhcp: malformed input gives typed errors or warnings', () => {
  it('is truncated below the 236-byte header', () => {
    for (const n of [0, 1, 100, 235]) {
      const r = decodeDhcp(Buffer.alloc(n));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatchObject({ kind: 'truncated', offset: n });
    }
  });

  it('decodes plain BOOTP (no cookie) as a message without options, with a warning', () => {
    const vend = Buffer.alloc(64, 0xab);
    const buf = Buffer.concat([header({ file: 'boot.img' }), vend]);
    const r = ok(decodeDhcp(buf));
    expect(r.issues).toEqual([{ kind: 'no-cookie', message: expect.stringContaining('BOOTP'), offset: 236 }]);
    expect(r.warnings).toHaveLength(1);
    expect(r.message.hasCookie).toBe(false);
    expect(r.message.options.codes()).toEqual([]);
    expect(r.message.options.layout()).toEqual([{ kind: 'trailing', area: 'options', offset: 236, length: 64 }]);
    expect(encodeDhcp(r.message).equals(buf)).toBe(true);
    // A header alone, and a header with a cut cookie, are BOOTP too.
    roundTrips(header());
    roundTrips(Buffer.concat([header(), Buffer.from([99, 130])]));
  });

  it('fails with no-cookie when the caller wants DHCP only', () => {
    const r = decodeDhcp(Buffer.concat([header(), Buffer.alloc(64)]), { requireCookie: true });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ kind: 'no-cookie', offset: 236 });
    expect(decodeDhcp(packet([255]), { requireCookie: true }).ok).toBe(true);
  });

  it('keeps what came before an option that runs past the end, and the rest as trailing bytes', () => {
    const buf = packet([53, 1, 1, 60, 3, 'abc', 12, 40, 'SEP00']);
    const r = ok(decodeDhcp(buf));
    expect(r.issues).toEqual([{ kind: 'option-overrun', message: expect.stringContaining('option 12'), offset: 248 }]);
    expect(r.message.options.codes()).toEqual([53, 60]);
    expect(r.message.options.has(12)).toBe(false);
    expect(r.message.options.layout().at(-1)).toEqual({ kind: 'trailing', area: 'options', offset: 248, length: 7 });
    expect(encodeDhcp(r.message).equals(buf)).toBe(true);
  });

  it('reports an option cut before its length byte as an overrun', () => {
    const buf = packet([53, 1, 3, 12]);
    expect(kinds(buf)).toEqual(['option-overrun']);
    expect(decoded(buf).options.messageType()).toBe(3);
    roundTrips(buf);
  });

  it('warns about a missing End', () => {
    const buf = packet([53, 1, 1, 61, 2, 0, 7]);
    expect(kinds(buf)).toEqual(['missing-end']);
    expect(decoded(buf).options.codes()).toEqual([53, 61]);
    roundTrips(buf);
  });

  it('accepts zero padding after End and warns about other bytes there', () => {
    expect(kinds(packet([53, 1, 1, 255, 0, 0, 0]))).toEqual([]);
    const buf = packet([53, 1, 1, 255, 0, 0, 7, 1]);
    expect(kinds(buf)).toEqual(['bytes-after-end']);
    roundTrips(buf);
  });

  it('ignores and reports a malformed option 52, without reading file or sname', () => {
    const file = [12, 4, ...Buffer.from('host'), 255];
    for (const opts of [
      [52, 2, 0, 1, 255], // wrong length
      [52, 1, 4, 255], // out of range
      [52, 1, 0, 255], // zero
      [52, 1, 1, 52, 1, 1, 255], // repeated: RFC 3396 would make it two bytes
    ]) {
      const buf = packet(opts, { file });
      const r = ok(decodeDhcp(buf));
      expect(r.issues.map((i) => i.kind)).toEqual(['bad-overload']);
      expect(r.message.options.overload()).toBeUndefined();
      expect(r.message.options.has(12)).toBe(false);
      expect(encodeDhcp(r.message).equals(buf)).toBe(true);
    }
  });

  it('ignores option 52 found inside an overloaded field', () => {
    const buf = packet([52, 1, 1, 255], { file: [52, 1, 3, 12, 1, 0x41, 255] });
    const r = ok(decodeDhcp(buf));
    expect(r.issues.map((i) => i.kind)).toEqual(['bad-overload']);
    expect(r.message.options.overload()).toBe(1);
    expect(r.message.options.hostname()).toBe('A');
  });

  it('reads pads anywhere and records them in the layout', () => {
    const buf = packet([0, 0, 53, 1, 1, 0, 255, 0, 0]);
    const m = decoded(buf);
    expect(m.options.layout()).toEqual([
      { kind: 'pad', area: 'options', offset: 240, length: 2 },
      { kind: 'option', area: 'options', offset: 242, length: 3, code: 53 },
      { kind: 'pad', area: 'options', offset: 245, length: 1 },
      { kind: 'end', area: 'options', offset: 246, length: 1 },
      { kind: 'trailing', area: 'options', offset: 247, length: 2 },
    ]);
    roundTrips(buf);
  });
});

// -------------------------------------------------------------------------- options, RFC 3396, overload

describe('DhcpOptions: values, RFC 3396 concatenation and overload', () => {
  it('exposes the typed helpers of a phone DISCOVER', () => {
    const o = decoded(avayaDiscover()).options;
    expect(o.codes()).toEqual([53, 61, 57, 55, 60, 12]);
    expect(o.messageType()).toBe(1);
    expect(o.requestedOptions()).toEqual([1, 3, 6, 15, 42, 43, 66, 242]);
    expect(o.maxMessageSize()).toBe(1500);
    expect(o.vendorClass()).toBe('ccp.avaya.com');
    expect(o.raw(60)!.length).toBe(14); // the raw bytes keep the NUL
    expect(o.get(60)).toBe('ccp.avaya.com'); // the typed value drops it
    expect(o.clientId()!.toString('hex')).toBe('01001b4faabbcc');
    expect(o.hostname()).toBe('SEP001B4FAABBCC0');
    expect(o.requestedAddress()).toBeUndefined();
    expect(o.leaseTime()).toBeUndefined();
    expect(o.relayAgent()).toBeUndefined();
    expect(o.overload()).toBeUndefined();
    expect(o.userClasses()).toEqual([]);
    expect(o.get(99)).toBeUndefined();
    expect(o.raw(99)).toBeUndefined();
    expect(o.decode(99)).toBeUndefined();
    expect(o.decode(55)!.text).toBe(
      '1 (subnet-mask), 3 (router), 6 (domain-name-server), 15 (domain-name), 42 (ntp-servers), 43 ' +
        '(vendor-specific), 66 (tftp-server-name), 242 (avaya-242)',
    );
  });

  it('reads the address, lease and server helpers of an OFFER', () => {
    const o = decoded(
      packet([
        53, 1, 2, 54, 4, 10, 77, 0, 1, 51, 4, 0, 0, 0x0e, 0x10, 50, 4, 10, 77, 0, 50, 1, 4, 255, 255, 255, 0, 255,
      ]),
    ).options;
    expect(o.serverId()).toBe('10.77.0.1');
    expect(o.leaseTime()).toBe(3600);
    expect(o.requestedAddress()).toBe('10.77.0.50');
    expect(o.decode(1)).toMatchObject({ name: 'subnet-mask', ok: true, value: '255.255.255.0' });
  });

  it('does not allocate per option value: values are views of the datagram', () => {
    const buf = avayaDiscover();
    const o = decoded(buf).options;
    for (const c of o.codes()) {
      const v = o.raw(c)!;
      expect(v.buffer).toBe(buf.buffer);
      expect(v.byteOffset).toBeGreaterThanOrEqual(buf.byteOffset + 240);
    }
    for (const i of o.instances()) expect(i.value.buffer).toBe(buf.buffer);
    // Changing the datagram shows through: proof that nothing was copied.
    const v = o.raw(12)!;
    buf[buf.indexOf('SEP', 240)] = 0x54;
    expect(v.toString('latin1', 0, 3)).toBe('TEP');
  });

  it('concatenates a 600-byte option split over three instances (RFC 3396), only when asked', () => {
    const value = Buffer.from(Array.from({ length: 600 }, (_, i) => i & 0xff));
    const buf = packet([
      53,
      1,
      5,
      43,
      255,
      ...value.subarray(0, 255),
      43,
      255,
      ...value.subarray(255, 510),
      43,
      90,
      ...value.subarray(510),
      255,
    ]);
    const o = decoded(buf).options;
    expect(o.codes()).toEqual([53, 43]);
    expect(o.instances(43).map((i) => i.value.length)).toEqual([255, 255, 90]);
    for (const i of o.instances(43)) expect(i.value.buffer).toBe(buf.buffer);
    const joined = o.raw(43)!;
    expect(joined.equals(value)).toBe(true);
    expect(o.raw(43)).toBe(joined); // concatenated once, then reused
    expect(o.rawEntries()).toEqual([
      [53, Buffer.from([5])],
      [43, value],
    ]);
    roundTrips(buf);
  });

  it('concatenates instances that are not adjacent, in wire order', () => {
    const o = decoded(packet([15, 3, 'exa', 53, 1, 1, 15, 8, 'mple.com', 255])).options;
    expect(o.codes()).toEqual([15, 53]);
    expect(o.decode(15)!.value).toBe('example.com');
  });

  it('reads overloaded file then sname, and concatenates across areas in RFC 3396 order', () => {
    // sname comes before file in the packet, but options are read from the options field, then file,
    // then sname.
    const buf = packet([53, 1, 2, 52, 1, 3, 56, 4, 'opt ', 255], {
      sname: [56, 5, ...Buffer.from('sname'), 66, 9, ...Buffer.from('10.77.0.1'), 255],
      file: [56, 5, ...Buffer.from('file '), 0, 0, 67, 15, ...Buffer.from('46xxupgrade.scr'), 255],
    });
    const o = decoded(buf).options;
    expect(o.overload()).toBe(3);
    expect(o.codes()).toEqual([53, 52, 56, 67, 66]);
    expect(o.get(56)).toBe('opt file sname');
    expect(o.get('message')).toBe('opt file sname');
    expect(o.instances(56).map((i) => i.area)).toEqual(['options', 'file', 'sname']);
    expect(o.decode(67)!.value).toBe('46xxupgrade.scr');
    expect(o.decode(66)!.value).toBe('10.77.0.1');
    expect(
      o
        .layout()
        .filter((i) => i.area === 'file')
        .map((i) => i.kind),
    ).toEqual(['option', 'pad', 'option', 'end', 'trailing']);
    expect(kinds(buf)).toEqual([]);
    roundTrips(buf);
  });

  it('reads only the field option 52 names', () => {
    const sname = [66, 9, ...Buffer.from('10.77.0.1'), 255];
    const file = [67, 4, ...Buffer.from('a.cfg'), 255];
    const onlyFile = decoded(packet([52, 1, 1, 255], { sname, file })).options;
    expect(onlyFile.codes()).toEqual([52, 67]);
    const onlySname = decoded(packet([52, 1, 2, 255], { sname, file })).options;
    expect(onlySname.codes()).toEqual([52, 66]);
    expect(onlySname.instances(66)[0]!.offset).toBe(44);
  });

  it('warns about overloaded fields without End (all pads)', () => {
    const buf = packet([53, 1, 1, 52, 1, 3]);
    expect(kinds(buf)).toEqual(['missing-end', 'missing-end', 'missing-end']);
    roundTrips(buf);
  });

  it('reads the option 82 helper and user classes through the message', () => {
    const o = decoded(
      packet([82, 8, 1, 2, 0x41, 0x42, 2, 2, 0x43, 0x44, 77, 6, 5, ...Buffer.from('440HD'), 255]),
    ).options;
    const ra = o.relayAgent()!;
    expect(ra.circuitId!.toString()).toBe('AB');
    expect(ra.remoteId!.toString()).toBe('CD');
    expect(ra.subOptions.map((s) => s.code)).toEqual([1, 2]);
    expect(o.userClasses()).toEqual(['440HD']);
  });

  it('reads option 43 as PXE when the vendor class says so', () => {
    const o = decoded(packet([60, 9, 'PXEClient', 43, 4, 6, 1, 8, 255, 255])).options;
    expect(o.get(43)!.form).toBe('pxe');
  });
});

// ------------------------------------------------------------------------------------- lossless encode

describe('encodeDhcp: lossless re-encoding', () => {
  it('reproduces odd packets byte for byte', () => {
    const cases: Buffer[] = [
      avayaDiscover(),
      packet([255]),
      packet([]),
      packet([0, 0, 0]),
      packet([53, 1, 1, 0, 0, 12, 0, 255, 0, 0, 0, 0]), // zero-length option, pads after End
      packet([53, 1, 1, 255, 1, 2, 3]), // junk after End
      packet([53, 3, 1, 2, 3, 50, 3, 10, 0, 0, 255]), // unusual lengths
      packet([53, 1, 1]), // missing End
      packet([53, 1, 1, 12, 200, 'x']), // overrun
      packet([52, 1, 3, 255], { file: [12, 1, 0x41], sname: [15, 2, 0x61, 0x62, 255, 9] }),
      Buffer.concat([header(), Buffer.from([1, 2, 3])]), // no cookie
    ];
    for (const c of cases) roundTrips(c);
  });

  it('writes changed header fields and keeps the options', () => {
    const buf = avayaDiscover();
    const m = decoded(buf);
    const relayed = encodeDhcp({ ...m, hops: m.hops + 1, giaddr: '10.1.2.254' });
    const r = decoded(relayed);
    expect(r.hops).toBe(1);
    expect(r.giaddr).toBe('10.1.2.254');
    expect(relayed.subarray(28).equals(buf.subarray(28))).toBe(true);
    expect(() => encodeDhcp({ ...m, yiaddr: 'nope' })).toThrow(RangeError);
  });
});

// ------------------------------------------------------------------------------------------- build

describe('buildDhcp', () => {
  const offerOptions = (): Array<[number, Buffer]> => [
    [53, Buffer.from([2])],
    [54, Buffer.from([10, 77, 0, 1])],
    [51, optionFromConfig('lease-time', 3600).value],
    [1, optionFromConfig('subnet-mask', '255.255.255.0').value],
    [3, optionFromConfig('router', '10.77.0.1').value],
    [242, optionFromConfig(242, 'MCIPADD=10.77.0.5,MCPORT=1719,HTTPSRVR=10.77.0.1').value],
  ];

  it('pads a small packet to the 300-byte BOOTP minimum', () => {
    const { bytes } = buildDhcp({ options: [[53, Buffer.from([5])]] });
    expect(bytes.length).toBe(300);
    expect(bytes.subarray(236, 244)).toEqual(Buffer.from([99, 130, 83, 99, 53, 1, 5, 255]));
    expect(bytes.subarray(244).every((b) => b === 0)).toBe(true);
  });

  it('builds a reply with defaults and the options in the given order, then End', () => {
    const { bytes, dropped, overloaded } = buildDhcp({
      xid: 0xcafebabe,
      yiaddr: '10.77.0.50',
      siaddr: '10.77.0.1',
      chaddr: '00:1B:4F:AA:BB:CC',
      flags: 0x8000,
      file: '46xxupgrade.scr',
      options: offerOptions(),
    });
    expect(bytes.length).toBe(240 + 77 + 1);
    expect(dropped).toEqual([]);
    expect(overloaded).toBe(0);
    const r = ok(decodeDhcp(bytes));
    expect(r.warnings).toEqual([]);
    const m = r.message;
    expect(m).toMatchObject({
      op: 2,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid: 0xcafebabe,
      flags: 0x8000,
      yiaddr: '10.77.0.50',
      siaddr: '10.77.0.1',
      mac: '00:1b:4f:aa:bb:cc',
    });
    expect(m.file.toString('latin1').replace(/\0+$/, '')).toBe('46xxupgrade.scr');
    expect(m.options.codes()).toEqual([53, 54, 51, 1, 3, 242]);
    expect(m.options.rawEntries()).toEqual(offerOptions());
    expect(m.options.layout().at(-1)).toMatchObject({ kind: 'end', offset: 240 + 77 });
  });

  it('picks BOOTREQUEST for client message types', () => {
    expect(buildDhcp({ options: [[53, Buffer.from([1])]] }).bytes[0]).toBe(1);
    expect(buildDhcp({ options: [[53, Buffer.from([3])]] }).bytes[0]).toBe(1);
    expect(buildDhcp({ options: [[53, Buffer.from([5])]] }).bytes[0]).toBe(2);
    expect(buildDhcp({ op: 1, options: [[53, Buffer.from([5])]] }).bytes[0]).toBe(1);
    expect(buildDhcp({ chaddr: Buffer.from([1, 2, 3]), hlen: 3, htype: 6 }).bytes.subarray(1, 3)).toEqual(
      Buffer.from([6, 3]),
    );
  });

  it('splits options over 255 bytes into consecutive instances (RFC 3396)', () => {
    const big = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7) & 0xff));
    const { bytes, overloaded } = buildDhcp({
      maxSize: 1500,
      options: [
        [53, Buffer.from([5])],
        [125, big],
        [3, Buffer.from([10, 0, 0, 1])],
      ],
    });
    expect(overloaded).toBe(0);
    const o = decoded(bytes).options;
    expect(o.instances().map((i) => [i.code, i.value.length])).toEqual([
      [53, 1],
      [125, 255],
      [125, 255],
      [125, 90],
      [3, 4],
    ]);
    expect(o.raw(125)!.equals(big)).toBe(true);
    // Zero-length options stay one empty instance.
    expect(decoded(buildDhcp({ options: [[80, Buffer.alloc(0)]] }).bytes).options.instances()).toEqual([
      expect.objectContaining({ code: 80, value: Buffer.alloc(0) }),
    ]);
  });

  // offerOptions() takes 77 bytes of the options field: 304 are free with overload (option 52 takes 3),
  // 307 without; file holds 127 bytes of options, sname 63 (each keeps one for End).
  it('overloads into file when the options field is full, within option 57', () => {
    const opts: Array<[number, Buffer]> = [
      ...offerOptions(),
      [43, Buffer.alloc(200, 0x41)],
      [160, Buffer.from('http://10.77.0.1/prov/'.padEnd(90, 'x'))],
      [66, Buffer.from('10.77.0.1')],
      [67, Buffer.from('440HD.img')],
    ];
    const { bytes, dropped, overloaded } = buildDhcp({ maxSize: 576, options: opts });
    expect(dropped).toEqual([]);
    expect(overloaded).toBe(1);
    expect(bytes.length).toBeLessThanOrEqual(576 - 28);
    const r = ok(decodeDhcp(bytes));
    expect(r.warnings).toEqual([]);
    const o = r.message.options;
    expect(o.overload()).toBe(1);
    expect(o.codes().filter((c) => c !== 52)).toEqual(opts.map(([c]) => c));
    for (const [c, v] of opts) expect(o.raw(c)!.equals(v)).toBe(true);
    expect(
      o
        .instances()
        .slice(0, 2)
        .map((i) => i.code),
    ).toEqual([53, 52]); // 52 right after 53
    expect(o.instances(160)[0]!.area).toBe('file');
    expect(o.instances(67)[0]!.area).toBe('file');
  });

  it('continues in sname after file, and uses sname alone when file is taken', () => {
    const opts: Array<[number, Buffer]> = [
      ...offerOptions(),
      [43, Buffer.alloc(200, 1)],
      [224, Buffer.alloc(120, 2)],
      [225, Buffer.alloc(50, 3)],
    ];
    const both = buildDhcp({ options: opts });
    expect(both.overloaded).toBe(3);
    expect(both.bytes.length).toBeLessThanOrEqual(548);
    const o = decoded(both.bytes).options;
    for (const [c, v] of opts) expect(o.raw(c)!.equals(v)).toBe(true);
    expect(o.instances().map((i) => i.area)).toEqual([...Array<string>(8).fill('options'), 'file', 'sname']);

    const withFile = buildDhcp({
      file: 'pxelinux.0',
      options: [...offerOptions(), [43, Buffer.alloc(200, 1)], [225, Buffer.alloc(50, 3)]],
    });
    expect(withFile.overloaded).toBe(2);
    const m = decoded(withFile.bytes);
    expect(m.file.toString('latin1', 0, 10)).toBe('pxelinux.0');
    expect(m.options.instances(225)[0]!.area).toBe('sname');
  });

  it('splits a long option across the options field and file to fill both', () => {
    const long = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
    const r = buildDhcp({ options: [...offerOptions(), [125, long]] });
    expect(r.overloaded).toBe(1);
    const o = decoded(r.bytes).options;
    expect(o.instances(125).map((i) => [i.area, i.value.length])).toEqual([
      ['options', 225],
      ['file', 75],
    ]);
    expect(o.raw(125)!.equals(long)).toBe(true);
  });

  it('uses the larger size a client allows instead of overloading', () => {
    const opts: Array<[number, Buffer]> = [...offerOptions(), [43, Buffer.alloc(200, 1)], [224, Buffer.alloc(120, 2)]];
    expect(buildDhcp({ maxSize: 576, options: opts }).overloaded).toBe(1);
    const r = buildDhcp({ maxSize: 1000, options: opts });
    expect(r.overloaded).toBe(0);
    expect(r.bytes.length).toBeLessThanOrEqual(972);
    // Below 576 is not a legal option 57: treated as 576.
    expect(buildDhcp({ maxSize: 300, options: opts }).overloaded).toBe(1);
  });

  it('drops options from the end of the list when even overload is not enough', () => {
    const opts: Array<[number, Buffer]> = [
      ...offerOptions(),
      [43, Buffer.alloc(200, 1)], // options field
      [224, Buffer.alloc(120, 2)], // file
      [225, Buffer.alloc(60, 3)], // sname
      [226, Buffer.alloc(10, 4)], // nowhere
    ];
    const r = buildDhcp({ options: opts });
    expect(r.overloaded).toBe(3);
    expect(r.dropped).toEqual([226]);
    expect(r.bytes.length).toBeLessThanOrEqual(548);
    const o = decoded(r.bytes).options;
    for (const [c] of opts.slice(0, -1)) expect(o.has(c)).toBe(true);
    expect(o.has(226)).toBe(false);

    // Without overload, more goes.
    const flat = buildDhcp({ options: opts, allowOverload: false });
    expect(flat.overloaded).toBe(0);
    expect(flat.dropped).toEqual([224, 225, 226]);

    // A required option survives at the end of the list: the one before it goes instead.
    const keep = buildDhcp({ options: opts, required: [226] });
    expect(keep.dropped).toEqual([225]);
    expect(decoded(keep.bytes).options.has(226)).toBe(true);

    // 53, 54, 51 and 1 are always required.
    const keepDefaults = buildDhcp({
      options: [
        [224, Buffer.alloc(255)],
        [225, Buffer.alloc(255)],
        [1, Buffer.alloc(4)],
        [53, Buffer.from([2])],
      ],
      allowOverload: false,
    });
    expect(keepDefaults.dropped).toEqual([225]);
  });

  it('refuses specs no packet can carry', () => {
    expect(() => buildDhcp({ options: [[52, Buffer.from([1])]] })).toThrow(RangeError);
    expect(() => buildDhcp({ options: [[0, Buffer.alloc(0)]] })).toThrow(RangeError);
    expect(() => buildDhcp({ options: [[255, Buffer.alloc(0)]] })).toThrow(RangeError);
    expect(() => buildDhcp({ chaddr: 'not a mac' })).toThrow(RangeError);
    expect(() => buildDhcp({ file: 'x'.repeat(128) })).toThrow(RangeError);
    expect(() => buildDhcp({ yiaddr: '10.0.0.256' })).toThrow(RangeError);
    expect(() =>
      buildDhcp({
        options: [
          [53, Buffer.alloc(1)],
          [54, Buffer.alloc(1200)],
        ],
      }),
    ).toThrow(/required options do not fit/);
  });

  it('names the option of an entry it cannot take (DhcpOptionError)', () => {
    const thrown = (options: unknown) => {
      try {
        buildDhcp({ options: options as Array<[number, Buffer]> });
      } catch (e) {
        return e;
      }
      throw new Error('not refused');
    };
    expect(thrown([[52, Buffer.from([1])]])).toMatchObject({
      name: 'DhcpOptionError',
      option: 52,
      optionName: 'overload',
    });
    expect(thrown([[66, '10.77.0.1']])).toMatchObject({
      option: 66,
      optionName: 'tftp-server-name',
      message: expect.stringMatching(/^option 66 \(tftp-server-name\): the value is not a Buffer/),
    });
    expect(thrown([[300, Buffer.alloc(1)]])).toBeInstanceOf(DhcpOptionError);
  });
});

// -------------------------------------------------------------------------------------- properties

/** 236-byte header + cookie + arbitrary option bytes, sometimes with an overload option first. */
const withOptions = fc
  .record({
    head: fc.uint8Array({ minLength: 236, maxLength: 236 }),
    overload: fc.constantFrom(undefined, 1, 2, 3),
    tail: fc.uint8Array({ maxLength: 400 }),
  })
  .map(({ head, overload, tail }) =>
    Buffer.concat([
      Buffer.from(head),
      Buffer.from(COOKIE),
      Buffer.from(overload ? [52, 1, overload] : []),
      Buffer.from(tail),
    ]),
  );

/** Option-shaped bytes: mostly well-formed code/length/value runs, with pads, End and cuts. */
const optionish = fc
  .array(
    fc.oneof(
      fc
        .record({ code: fc.integer({ min: 1, max: 254 }), value: fc.uint8Array({ maxLength: 40 }) })
        .map(({ code, value }) => [code, value.length, ...value]),
      fc.constant([0]),
      fc.constant([255]),
      fc.uint8Array({ maxLength: 3 }).map((a) => [...a]),
    ),
    { maxLength: 30 },
  )
  .map((parts) => parts.flat());

const structured = fc
  .record({
    head: fc.uint8Array({ minLength: 236, maxLength: 236 }),
    overload: fc.constantFrom(undefined, 1, 2, 3),
    options: optionish,
    file: optionish,
    sname: optionish,
  })
  .map(({ head, overload, options, file, sname }) => {
    const h = Buffer.from(head);
    Buffer.from(sname.slice(0, 64)).copy(h, 44);
    Buffer.from(file.slice(0, 128)).copy(h, 108);
    return Buffer.concat([
      h,
      Buffer.from(COOKIE),
      Buffer.from(overload ? [52, 1, overload] : []),
      Buffer.from(options),
    ]);
  });

function checkAnyInput(buf: Buffer): void {
  const r = decodeDhcp(buf);
  if (!r.ok) {
    expect(buf.length).toBeLessThan(236);
    return;
  }
  touchEverything(r.message);
  expect(encodeDhcp(r.message).equals(buf)).toBe(true);
  // The layout covers each area it lists without gaps.
  const items = r.message.options.layout();
  for (const area of ['options', 'file', 'sname'] as const) {
    const list = items.filter((i) => i.area === area);
    for (let i = 1; i < list.length; i++) expect(list[i]!.offset).toBe(list[i - 1]!.offset + list[i - 1]!.length);
  }
}

describe('properties', () => {
  it('random bytes never throw, and what decodes re-encodes exactly', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (a) => checkAnyInput(Buffer.from(a))),
      { numRuns: 3000 },
    );
  });

  it('random bytes after a valid header and cookie never throw and re-encode exactly', () => {
    fc.assert(fc.property(withOptions, checkAnyInput), { numRuns: 3000 });
  });

  it('option-shaped bytes in all three areas never throw and re-encode exactly', () => {
    fc.assert(fc.property(structured, checkAnyInput), { numRuns: 3000 });
  });

  it('build then decode returns the same options, within the size budget', () => {
    const code = fc.integer({ min: 2, max: 254 }).filter((c) => ![51, 52, 53, 54].includes(c));
    const entries = fc.uniqueArray(fc.record({ code, value: fc.uint8Array({ maxLength: 600 }) }), {
      selector: (e) => e.code,
      maxLength: 12,
    });
    fc.assert(
      fc.property(
        entries,
        fc.integer({ min: 576, max: 1500 }),
        fc.boolean(),
        fc.constantFrom('', 'boot.img'),
        (list, maxSize, allowOverload, file) => {
          const options: Array<[number, Buffer]> = [
            [53, Buffer.from([2])],
            ...list.map((e): [number, Buffer] => [e.code, Buffer.from(e.value)]),
          ];
          const r = buildDhcp({ options, maxSize, allowOverload, file });
          expect(r.bytes.length).toBeGreaterThanOrEqual(300);
          expect(r.bytes.length).toBeLessThanOrEqual(maxSize - 28);
          const d = ok(decodeDhcp(r.bytes));
          expect(d.warnings).toEqual([]);
          const o = d.message.options;
          const kept = options.filter(([c]) => !r.dropped.includes(c));
          expect(o.codes().filter((c) => c !== 52)).toEqual(kept.map(([c]) => c));
          for (const [c, v] of kept) expect(o.raw(c)!.equals(v)).toBe(true);
          expect(o.overload() ?? 0).toBe(r.overloaded);
          if (!allowOverload) expect(r.overloaded).toBe(0);
          if (file) expect(r.overloaded & 1).toBe(0);
          // Dropped codes are a suffix of the list.
          expect(r.dropped).toEqual(options.slice(options.length - r.dropped.length).map(([c]) => c));
          expect(encodeDhcp(d.message).equals(r.bytes)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
