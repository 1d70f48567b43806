import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  AVAYA_ENTERPRISE,
  avaya43,
  avayaList,
  avayaListWarnings,
  decodeDhcp,
  decodeOption,
  decodeOption43,
  decodeRelayAgent,
  DhcpConfigError,
  encodeDnsNames,
  encodeRelayAgent,
  messageTypeByName,
  messageTypeName,
  encodeOption,
  lookupOption,
  OPTION_DEFS,
  optionFromConfig,
  colonHex,
  parseAvayaList,
  parseIPv4,
  parseMac,
  readDnsNames,
} from '../../packages/dhcp/src/codec/index.js';

// ------------------------------------------------------------------------------------------ helpers

const b = (...parts: (number | string | number[])[]): Buffer =>
  Buffer.concat(
    parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(typeof p === 'number' ? [p] : p))),
  );

/** Decodes bytes as option `code` and expects a typed value. */
function typed(code: number, view: Buffer): { value: unknown; text: string; warnings: string[] } {
  const d = decodeOption(code, view);
  if (!d.ok) throw new Error(`option ${code} ${view.toString('hex')} did not decode: ${d.warnings.join('; ')}`);
  return d;
}

/** Decodes bytes as option `code` and expects the raw fallback. */
function raw(code: number, view: Buffer): string[] {
  const d = decodeOption(code, view);
  expect(d.ok).toBe(false);
  expect(d.value).toBe(view);
  expect(d.text).toBe('0x' + view.toString('hex'));
  expect(d.warnings.length).toBeGreaterThan(0);
  return d.warnings;
}

const cfg = (key: string | number, input: Parameters<typeof optionFromConfig>[1]): Buffer =>
  optionFromConfig(key, input).value;

function cfgError(key: string | number, input: Parameters<typeof optionFromConfig>[1]): string {
  try {
    optionFromConfig(key, input);
  } catch (e) {
    expect(e).toBeInstanceOf(DhcpConfigError);
    return (e as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(key)}: ${JSON.stringify(input)} to be refused`);
}

// ----------------------------------------------------------------------------------------- registry

describe('registry', () => {
  const NAMES: Array<[number, string]> = [
    [1, 'subnet-mask'],
    [3, 'router'],
    [6, 'domain-name-server'],
    [12, 'host-name'],
    [15, 'domain-name'],
    [28, 'broadcast-address'],
    [42, 'ntp-servers'],
    [43, 'vendor-specific'],
    [50, 'requested-ip-address'],
    [51, 'lease-time'],
    [52, 'overload'],
    [53, 'dhcp-message-type'],
    [54, 'server-identifier'],
    [55, 'parameter-request-list'],
    [56, 'message'],
    [57, 'max-message-size'],
    [58, 'renewal-time'],
    [59, 'rebinding-time'],
    [60, 'vendor-class-identifier'],
    [61, 'client-identifier'],
    [66, 'tftp-server-name'],
    [67, 'bootfile-name'],
    [77, 'user-class'],
    [81, 'client-fqdn'],
    [82, 'relay-agent-information'],
    [93, 'client-system-architecture'],
    [94, 'client-network-interface'],
    [97, 'client-machine-identifier'],
    [119, 'domain-search'],
    [121, 'classless-static-route'],
    [124, 'vi-vendor-class'],
    [125, 'vi-vendor-specific'],
    [150, 'tftp-server-address'],
    [160, 'provisioning-url'],
    [176, 'avaya-site-specific'],
    [242, 'avaya-242'],
  ];

  it('maps codes and names both ways, through the one lookup', () => {
    for (const [code, name] of NAMES) {
      expect(lookupOption(code)).toMatchObject({ code, name, registered: true });
      expect(lookupOption(name)).toBe(lookupOption(code));
      expect(lookupOption(`option-${code}`)).toBe(lookupOption(code));
      expect(lookupOption(String(code))).toBe(lookupOption(code));
    }
    expect(new Set(OPTION_DEFS.map((d) => d.name)).size).toBe(OPTION_DEFS.length);
    expect(new Set(OPTION_DEFS.map((d) => d.code)).size).toBe(OPTION_DEFS.length);
    // No alias names two options (the first would win silently).
    const spellings = OPTION_DEFS.flatMap((d) => [d.name, ...d.aliases]);
    expect(new Set(spellings).size).toBe(spellings.length);
  });

  it('accepts ISC spellings, case and underscores, and option-N', () => {
    expect(lookupOption('routers').code).toBe(3);
    expect(lookupOption('domain-name-servers').code).toBe(6);
    expect(lookupOption('dhcp-lease-time').code).toBe(51);
    expect(lookupOption('vendor-encapsulated-options').code).toBe(43);
    expect(lookupOption('Host_Name')!.code).toBe(12);
    expect(lookupOption(' avaya-176 ')!.code).toBe(176);
    expect(lookupOption('option-224')).toMatchObject({ code: 224, name: 'option-224', registered: false });
    expect(lookupOption('option-0')).toBeUndefined();
    expect(lookupOption('no-such-option')).toBeUndefined();
  });

  it('takes codes as numbers or digits, and falls back to bytes for codes without an entry', () => {
    expect(lookupOption('66').name).toBe('tftp-server-name');
    expect(lookupOption(6).name).toBe('domain-name-server');
    for (const bad of [0, 255, 300, -1, 1.5, NaN, '0', '255', '300', '']) expect(lookupOption(bad)).toBeUndefined();
    expect(lookupOption(224)).toMatchObject({ code: 224, name: 'option-224', registered: false });
    expect(lookupOption(224)).toBe(lookupOption('option-224')); // one entry per code
    expect(decodeOption(224, b(1, 2, 0xff))).toMatchObject({ ok: true, name: 'option-224', text: '0x0102ff' });
  });

  it('names message types both ways', () => {
    const names = ['DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK', 'RELEASE', 'INFORM'];
    names.forEach((n, i) => {
      expect(messageTypeName(i + 1)).toBe(n);
      expect(messageTypeByName(n)).toBe(i + 1);
    });
    expect(messageTypeName(9)).toBe('FORCERENEW');
    expect(messageTypeName(10)).toBe('LEASEQUERY');
    expect(messageTypeName(13)).toBe('LEASEACTIVE');
    expect(messageTypeName(14)).toBe('BULKLEASEQUERY');
    expect(messageTypeName(15)).toBe('LEASEQUERYDONE');
    expect(messageTypeName(0)).toBeUndefined();
    expect(messageTypeName(200)).toBeUndefined();
    expect(messageTypeByName('dhcpack')).toBe(5);
    expect(messageTypeByName('Discover')).toBe(1);
    expect(messageTypeByName('toString')).toBeUndefined();
    expect(decodeOption(53, b(5)).text).toBe('ACK');
    expect(decodeOption(53, b(77)).text).toBe('unknown (77)');
    expect(cfg(53, 'OFFER')).toEqual(b(2));
    expect(cfg(53, 5)).toEqual(b(5));
    expect(cfgError(53, 'OFFERED')).toMatch(/^option 53 \(dhcp-message-type\): unknown message type/);
  });

  it('decodes every registered option from random bytes without throwing', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...OPTION_DEFS.map((d) => d.code)),
        fc.uint8Array({ maxLength: 80 }),
        fc.constantFrom(undefined, 'PXEClient', 'ccp.avaya.com'),
        (code, bytes, vc) => {
          const d = decodeOption(code, Buffer.from(bytes), vc === undefined ? {} : { vendorClass: vc });
          expect(typeof d.text).toBe('string');
          if (!d.ok) expect(d.value.equals(Buffer.from(bytes))).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

// ------------------------------------------------------------------------------------ simple codecs

describe('address helpers', () => {
  it('parses dotted quads strictly', () => {
    for (const good of ['0.0.0.0', '255.255.255.255', '10.77.0.1', '100.200.0.9'])
      expect(parseIPv4(good)!.join('.')).toBe(good);
    for (const bad of [
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '256.1.1.1',
      '1..2.3',
      '1.2.3.4.',
      '',
      'a.b.c.d',
      '1.2.3.1000',
      ' 1.2.3.4',
      '1.2.3.-4',
    ]) {
      expect(parseIPv4(bad)).toBeUndefined();
    }
  });

  it('parses MAC spellings and prints colon hex', () => {
    const mac = [0x00, 0x1b, 0x4f, 0xaa, 0xbb, 0xcc];
    for (const s of ['00:1b:4f:aa:bb:cc', '00-1B-4F-AA-BB-CC', '001b.4faa.bbcc', '001b4faabbcc', '0:1b:4f:aa:bb:cc'])
      expect([...parseMac(s)!]).toEqual(mac);
    expect(parseMac('not a mac')).toBeUndefined();
    expect(parseMac('001b4faabbc')).toBeUndefined();
    expect(colonHex(Buffer.from(mac))).toBe('00:1b:4f:aa:bb:cc');
    expect(colonHex(Buffer.alloc(0))).toBe('');
  });
});

describe('value codecs', () => {
  it('ip and ip lists, with raw fallback on wrong lengths', () => {
    expect(typed(1, b(255, 255, 255, 0)).value).toBe('255.255.255.0');
    expect(typed(3, b(10, 77, 0, 1)).value).toEqual(['10.77.0.1']);
    expect(typed(6, b(10, 0, 0, 1, 10, 0, 0, 2))).toMatchObject({
      value: ['10.0.0.1', '10.0.0.2'],
      text: '10.0.0.1, 10.0.0.2',
    });
    expect(raw(3, b(10, 77, 0))[0]).toMatch(/3 bytes/); // a 3-byte router
    raw(3, b());
    raw(1, b(255, 255, 255, 0, 0));
    expect(typed(68, b()).value).toEqual([]); // mobile IP home agent may be empty
    expect(typed(150, b(192, 168, 1, 10, 192, 168, 1, 11)).value).toEqual(['192.168.1.10', '192.168.1.11']);
    expect(encodeOption(3, ['10.0.0.1', '10.0.0.2'])).toEqual([3, b(10, 0, 0, 1, 10, 0, 0, 2)]);
    expect(() => encodeOption(1, '10.0.0')).toThrow(RangeError);
  });

  it('address pairs (static routes, policy filters)', () => {
    expect(typed(33, b(10, 1, 0, 0, 10, 0, 0, 1)).value).toEqual([['10.1.0.0', '10.0.0.1']]);
    raw(33, b(10, 1, 0, 0));
    expect(cfg('static-route', ['10.1.0.0 10.0.0.1', '10.2.0.0 10.0.0.2'])).toEqual(
      b(10, 1, 0, 0, 10, 0, 0, 1, 10, 2, 0, 0, 10, 0, 0, 2),
    );
    expect(cfg(21, [['10.0.0.0', '255.0.0.0']])).toEqual(b(10, 0, 0, 0, 255, 0, 0, 0));
    expect(cfgError(33, ['10.1.0.0'])).toMatch(/pair/);
  });

  it('integers of each width, signed time offset, and flags', () => {
    expect(typed(51, b(0, 0, 0x0e, 0x10)).value).toBe(3600);
    expect(typed(51, b(0xff, 0xff, 0xff, 0xff)).value).toBe(0xffffffff);
    expect(typed(57, b(0x04, 0xa6)).value).toBe(1190);
    expect(typed(23, b(64)).value).toBe(64);
    expect(typed(2, b(0xff, 0xff, 0xc7, 0xc0)).value).toBe(-14400);
    expect(raw(51, b(0, 0, 0x0e))[0]).toMatch(/4 byte/);
    raw(57, b(1));
    expect(typed(19, b(1)).value).toBe(true);
    expect(typed(19, b(0)).value).toBe(false);
    expect(typed(19, b(2)).warnings).toHaveLength(1);
    raw(19, b(1, 1));
    expect(typed(25, b(0x02, 0x40, 0x05, 0xdc)).value).toEqual([576, 1500]);
    raw(25, b(1, 2, 3));
  });

  it('strings keep trailing NULs in the bytes and drop them from the value', () => {
    const view = b('Nortel-SIP-Phone-A', 0);
    const d = typed(60, view);
    expect(d.value).toBe('Nortel-SIP-Phone-A');
    expect(d.text).toBe('Nortel-SIP-Phone-A');
    expect(typed(60, b('440HD', 0, 0, 0, 0)).value).toBe('440HD');
    expect(typed(12, b()).value).toBe('');
    expect(typed(56, b(0xe9, 't', 0xe9)).value).toBe('\u00e9t\u00e9'); // not UTF-8: Latin-1
    expect(typed(15, b('caf\u00c3\u00a9')).value).toBe('caf\u00e9'); // UTF-8
  });

  it('bytes, overload and request list', () => {
    expect(decodeOption(63, b(1, 2)).text).toBe('0x0102');
    expect(typed(52, b(3)).text).toBe('file and sname');
    raw(52, b(4));
    raw(52, b(1, 1));
    expect(typed(55, b(1, 3, 6, 200)).text).toBe('1 (subnet-mask), 3 (router), 6 (domain-name-server), 200 (?)');
  });
});

// -------------------------------------------------------------------------------------- fromConfig

describe('fromConfig: the JSON forms of a configuration file', () => {
  it('turns the documented examples into bytes', () => {
    expect(cfg('router', '10.77.0.1')).toEqual(b(10, 77, 0, 1));
    expect(cfg('6', ['10.0.0.1', '10.0.0.2'])).toEqual(b(10, 0, 0, 1, 10, 0, 0, 2));
    expect(cfg('domain-name-server', '10.0.0.1, 10.0.0.2')).toEqual(b(10, 0, 0, 1, 10, 0, 0, 2));
    expect(cfg('66', '10.77.0.1')).toEqual(b('10.77.0.1')); // option 66 is a string, even holding an address
    expect(cfg('51', 3600)).toEqual(b(0, 0, 0x0e, 0x10));
    expect(cfg('lease-time', '86400')).toEqual(b(0, 1, 0x51, 0x80));
    expect(cfg('242', 'MCIPADD=10.77.0.5,MCPORT=1719,HTTPSRVR=10.77.0.1')).toEqual(
      b('MCIPADD=10.77.0.5,MCPORT=1719,HTTPSRVR=10.77.0.1'),
    );
    expect(cfg('43', { '1': '6889', '2': '10.0.0.1' })).toEqual(b(1, 4, '6889', 2, 8, '10.0.0.1'));
    expect(cfg(57, 1500)).toEqual(b(0x05, 0xdc));
    expect(cfg('ip-forwarding', false)).toEqual(b(0));
    expect(cfg(2, -3600)).toEqual(b(0xff, 0xff, 0xf1, 0xf0));
    expect(cfg(160, 'http://10.77.0.1/prov/<MAC>.cfg')).toEqual(b('http://10.77.0.1/prov/<MAC>.cfg'));
    expect(cfg(55, [1, 3, 'domain-name-server', '66'])).toEqual(b(1, 3, 6, 66));
    expect(cfg(224, 'some text')).toEqual(b('some text'));
    expect(cfg(224, '12:30')).toEqual(b('12:30')); // text, not guessed as colon hex
    expect(cfg('option-224', [1, 2, 255])).toEqual(b(1, 2, 255));
  });

  it('accepts 0x hex for any option, as the exact bytes', () => {
    expect(cfg('router', '0x0a4d0001')).toEqual(b(10, 77, 0, 1));
    expect(cfg('host-name', '0x0102ff')).toEqual(b(1, 2, 0xff));
    expect(cfg(51, '0x')).toEqual(b());
    expect(cfg(242, '0x4d3d31')).toEqual(b('M=1'));
    expect(cfg(43, '0x010436383839')).toEqual(b(1, 4, '6889'));
  });

  it('names the option and the problem when refusing a value', () => {
    expect(cfgError('router', '10.0.0')).toBe('option 3 (router): "10.0.0" is not an IPv4 address (a.b.c.d)');
    expect(cfgError('router', 10)).toMatch(/^option 3 \(router\): expected IPv4 addresses/);
    expect(cfgError('6', ['10.0.0.1', '10.0.0.300'])).toMatch(/^option 6 \(domain-name-server\): "10.0.0.300"/);
    expect(cfgError(1, '010.0.0.1')).toMatch(/not an IPv4 address/); // leading zeros read as octal elsewhere
    expect(cfgError('51', -1)).toMatch(/^option 51 \(lease-time\): -1 is not an integer in 0..4294967295/);
    expect(cfgError('51', 'an hour')).toMatch(/expected an integer/);
    expect(cfgError('51', 1.5)).toMatch(/not an integer/);
    expect(cfgError(57, 70000)).toMatch(/0..65535/);
    expect(cfgError('no-such-option', 1)).toMatch(/unknown DHCP option "no-such-option"/);
    expect(cfgError(0, 1)).toMatch(/unknown DHCP option/);
    expect(cfgError('43', { '1': 6889 })).toMatch(/^option 43 \(vendor-specific\): .*number is ambiguous/);
    expect(cfgError('43', { '300': 'x' })).toMatch(/not a code in 1..254/);
    expect(cfgError('43', { '2': 'x'.repeat(256) })).toMatch(/over 255/);
    expect(cfgError('242', 'MCIPADD 10.0.0.1')).toMatch(/^option 242 \(avaya-242\): .*before any NAME=value pair/);
    expect(cfgError('ip-forwarding', 'yes')).toMatch(/true or false/);
    expect(cfgError('host-name', ['a'])).toMatch(/expected a string/);
    expect(cfgError('overload', 1)).toMatch(/set by the encoder/);
  });
});

// ------------------------------------------------------------------------------- structured options

describe('structured options', () => {
  it('61 client identifier', () => {
    expect(typed(61, b(1, 0x00, 0x1b, 0x4f, 0xaa, 0xbb, 0xcc))).toMatchObject({
      value: { type: 1, mac: '00:1b:4f:aa:bb:cc' },
      text: 'ethernet 00:1b:4f:aa:bb:cc',
    });
    expect(typed(61, b(0, 'nathan1clientid')).text).toBe('type 0 "nathan1clientid"');
    expect(typed(61, b(255, 0, 0, 0, 1, 0, 1, 2, 3)).text).toBe('iaid 0x00000001 duid 0x00010203');
    raw(61, b(1));
    expect(cfg(61, '00:1b:4f:aa:bb:cc')).toEqual(b(1, 0x00, 0x1b, 0x4f, 0xaa, 0xbb, 0xcc));
    expect(cfg(61, '001b.4faa.bbcc')).toEqual(b(1, 0x00, 0x1b, 0x4f, 0xaa, 0xbb, 0xcc));
    expect(cfg(61, 'printer-3')).toEqual(b(0, 'printer-3'));
  });

  it('77 user class: RFC 3004 items, or the plain string phones and Windows send', () => {
    expect(typed(77, b(7, 'subopt1', 3, 'abc'))).toMatchObject({
      value: { form: 'rfc3004', classes: ['subopt1', 'abc'] },
    });
    expect(typed(77, b('440HD')).value).toEqual({ form: 'plain', classes: ['440HD'] });
    expect(typed(77, b('RRAS.Microsoft', 0)).value).toEqual({ form: 'plain', classes: ['RRAS.Microsoft'] });
    expect(typed(77, b(3, 'ab')).value).toEqual({ form: 'plain', classes: ['\u0003ab'] }); // lengths do not add up
    // zero-length item
    expect(typed(77, b(0, 3, 'abc')).value).toEqual({ form: 'plain', classes: [expect.any(String)] });
    expect(typed(77, b()).value).toEqual({ form: 'plain', classes: [] });
    expect(cfg(77, ['a', 'bc'])).toEqual(b(1, 'a', 2, 'bc'));
    expect(cfg(77, '440HD')).toEqual(b('440HD'));
  });

  it('81 client FQDN in ASCII and wire form', () => {
    expect(typed(81, b(0x01, 0, 0, 'host.example.com', 0)).value).toMatchObject({
      flags: 1,
      s: true,
      e: false,
      name: 'host.example.com',
    });
    const wire = b(0x05, 255, 255, 4, 'host', 7, 'example', 3, 'com', 0);
    expect(typed(81, wire)).toMatchObject({
      value: { s: true, e: true, o: false, n: false, rcode1: 255, name: 'host.example.com' },
      text: 'flags 0x05 [SE] "host.example.com"',
    });
    expect(typed(81, b(0x04, 0, 0, 4, 'host')).value).toMatchObject({ name: 'host' }); // partial name
    expect(typed(81, b(0x04, 0, 0)).value).toMatchObject({ name: '' });
    raw(81, b(0x04, 0));
    raw(81, b(0x04, 0, 0, 9, 'host'));
    expect(cfg(81, 'host.example.com')).toEqual(b(0x04, 255, 255, 4, 'host', 7, 'example', 3, 'com', 0));
    expect(cfgError(81, 'a..b')).toMatch(/empty label/);
    expect(cfg(81, { flags: 0, name: 'pc1' })).toEqual(b(0, 255, 255, 'pc1'));
  });

  it('93, 94, 97: PXE client architecture, interface and machine id', () => {
    expect(typed(93, b(0, 0))).toMatchObject({ value: [0], text: '0 (x86 BIOS)' });
    expect(typed(93, b(0, 7, 0, 9)).value).toEqual([7, 9]);
    raw(93, b(0));
    expect(typed(94, b(1, 2, 1))).toMatchObject({ value: { type: 1, major: 2, minor: 1 }, text: 'UNDI 2.1' });
    raw(94, b(1, 2));
    const guid = b(0, [0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8, 0, 9]);
    expect(typed(97, guid)).toMatchObject({ value: { type: 0, guid: '00020003-0004-0005-0006-000700080009' } });
    raw(97, b(0, 1, 2, 3));
    expect(cfg(97, '00020003-0004-0005-0006-000700080009')).toEqual(guid);
    expect(cfg(93, [7, 9])).toEqual(b(0, 7, 0, 9));
    expect(cfg(94, [1, 3, 0])).toEqual(b(1, 3, 0));
  });

  it('119 domain search with compression pointers (RFC 3397 example)', () => {
    const data = b(3, 'eng', 5, 'apple', 3, 'com', 0, 9, 'marketing', 0xc0, 4);
    expect(typed(119, data).value).toEqual(['eng.apple.com', 'marketing.apple.com']);
    expect(encodeDnsNames(['eng.apple.com', 'marketing.apple.com'], true)).toEqual(data);
    expect(cfg(119, 'eng.apple.com marketing.apple.com')).toEqual(data);
    raw(119, b(0xc0, 0)); // points at itself
    raw(119, b(3, 'abc', 0xc0, 10)); // points forward
    raw(119, b(3, 'ab'));
    raw(119, b(0x40, 'a'));
  });

  it('119 split over RFC 3396 instances: pointers count over the concatenated data', () => {
    // The RFC 3397 example, sent as three 9-byte instances.
    const data = b(3, 'eng', 5, 'apple', 3, 'com', 0, 9, 'marketing', 0xc0, 4);
    const opts = Buffer.concat([0, 9, 18].map((at) => b(119, 9, [...data.subarray(at, at + 9)])));
    const pkt = Buffer.concat([Buffer.alloc(236), b(99, 130, 83, 99), opts, b(255)]);
    const r = decodeDhcp(pkt);
    expect(r.ok && r.message.options.decode(119)!.value).toEqual(['eng.apple.com', 'marketing.apple.com']);
  });

  it('readDnsNames never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), (a) => void readDnsNames(a, true)),
      { numRuns: 2000 },
    );
  });

  it('120 SIP servers as names or addresses', () => {
    expect(typed(120, b(1, 172, 22, 178, 234)).value).toEqual({ encoding: 'addresses', servers: ['172.22.178.234'] });
    expect(typed(120, b(0, 3, 'sip', 7, 'example', 3, 'com', 0)).value).toEqual({
      encoding: 'names',
      servers: ['sip.example.com'],
    });
    raw(120, b(1, 10, 0, 0));
    raw(120, b(2, 1, 2, 3, 4));
    expect(cfg(120, ['10.0.0.1', '10.0.0.2'])).toEqual(b(1, 10, 0, 0, 1, 10, 0, 0, 2));
    expect(cfg(120, 'sip.example.com')).toEqual(b(0, 3, 'sip', 7, 'example', 3, 'com', 0));
  });

  it('121 classless static routes (RFC 3442 width encoding)', () => {
    const view = b(
      0,
      10,
      0,
      0,
      1,
      8,
      10,
      10,
      0,
      0,
      2,
      24,
      10,
      229,
      0,
      10,
      0,
      0,
      3,
      25,
      10,
      229,
      0,
      128,
      10,
      0,
      0,
      4,
      32,
      10,
      198,
      122,
      47,
      10,
      0,
      0,
      5,
    );
    expect(typed(121, view).value).toEqual([
      { destination: '0.0.0.0/0', router: '10.0.0.1' },
      { destination: '10.0.0.0/8', router: '10.0.0.2' },
      { destination: '10.229.0.0/24', router: '10.0.0.3' },
      { destination: '10.229.0.128/25', router: '10.0.0.4' },
      { destination: '10.198.122.47/32', router: '10.0.0.5' },
    ]);
    expect(typed(121, b(8, 10, 10, 0, 0, 1)).text).toBe('10.0.0.0/8 via 10.0.0.1');
    raw(121, b(33, 10, 0, 0, 0, 0, 10, 0, 0, 1));
    raw(121, b(24, 10, 0, 0, 10, 0));
    expect(typed(121, b(7, 11, 10, 0, 0, 1)).warnings[0]).toMatch(/past its prefix/);
    expect(cfg(121, { '10.0.0.0/8': '10.77.0.1', '0.0.0.0/0': '10.77.0.254' })).toEqual(
      b(8, 10, 10, 77, 0, 1, 0, 10, 77, 0, 254),
    );
    expect(cfg(121, ['10.229.0.128/25 via 10.0.0.4'])).toEqual(b(25, 10, 229, 0, 128, 10, 0, 0, 4));
    expect(cfgError(121, { '10.0.0.1/8': '10.0.0.2' })).toMatch(/host bits/);
    expect(cfgError(121, ['10.0.0.0/8'])).toMatch(/destination\/width router/);
  });

  it('124 and 125 vendor-identifying options', () => {
    const vivso = b(0, 0, 0x0d, 0xe9, 36, 4, 6, '002682', 5, 16, 'WECO10KH05005695', 6, 8, 'VDSL2CPE');
    expect(typed(125, vivso).value).toEqual([
      {
        enterprise: 3561,
        subOptions: [
          { code: 4, value: b('002682') },
          { code: 5, value: b('WECO10KH05005695') },
          { code: 6, value: b('VDSL2CPE') },
        ],
      },
    ]);
    expect(cfg(125, { '3561': { '4': '002682', '5': 'WECO10KH05005695', '6': 'VDSL2CPE' } })).toEqual(vivso);
    raw(125, b(0, 0, 0x0d, 0xe9, 9, 1, 2));
    raw(125, b(0, 0, 0x0d, 0xe9, 3, 1, 5, 0));
    const vivco = b(0, 0, 0x0d, 0xe9, 14, 12, 'dslforum.org', 0);
    expect(typed(124, vivco)).toMatchObject({ value: [{ enterprise: 3561, data: [b('dslforum.org'), b()] }] });
    expect(cfg(124, { '3561': 'dslforum.org' })).toEqual(b(0, 0, 0x0d, 0xe9, 13, 12, 'dslforum.org'));
    raw(124, b(0, 0, 0x0d, 0xe9, 2, 5, 1));
    expect(cfgError(125, { abc: {} })).toMatch(/enterprise number/);
  });
});

// ------------------------------------------------------------------------------------- Avaya lists

describe('Avaya 176/242 NAME=value lists', () => {
  it('starts a new pair only at NAME=, so address lists keep their commas', () => {
    const text = 'MCIPADD=10.0.0.5,10.0.0.6,MCPORT=1719,TFTPSRVR=10.0.0.1,HTTPSRVR=10.0.0.1,L2Q=1,L2QVLAN=20';
    expect(parseAvayaList(text)).toEqual([
      ['MCIPADD', '10.0.0.5,10.0.0.6'],
      ['MCPORT', '1719'],
      ['TFTPSRVR', '10.0.0.1'],
      ['HTTPSRVR', '10.0.0.1'],
      ['L2Q', '1'],
      ['L2QVLAN', '20'],
    ]);
    expect(parseAvayaList('')).toEqual([]);
    expect(parseAvayaList('HTTPDIR=a=b,c,VLANTEST=0,SIP_CONTROLLER_LIST=sm1.example.com:5061;transport=tls')).toEqual([
      ['HTTPDIR', 'a=b,c'],
      ['VLANTEST', '0'],
      ['SIP_CONTROLLER_LIST', 'sm1.example.com:5061;transport=tls'],
    ]);
    expect(parseAvayaList('MCPORT=,L2Q=1')).toEqual([
      ['MCPORT', ''],
      ['L2Q', '1'],
    ]);
    const warnings: string[] = [];
    expect(parseAvayaList('junk,MCPORT=1719', warnings)).toEqual([['MCPORT', '1719']]);
    expect(warnings).toEqual(['"junk" comes before any NAME=value pair']);
  });

  it('decodes with warnings for lists over 127 characters and white space', () => {
    const long = Array.from({ length: 10 }, (_, i) => `10.100.200.${i + 10}`).join(',') + ',10.100.200.250';
    expect(long.length).toBeGreaterThan(127);
    const d = typed(242, b(`MCIPADD=${long},MCPORT=1719`, 0));
    expect(d.text).toBe(`MCIPADD=${long},MCPORT=1719`);
    expect(d.value).toEqual({
      pairs: [
        ['MCIPADD', long],
        ['MCPORT', '1719'],
      ],
    });
    expect(d.warnings).toEqual([`MCIPADD is ${long.length} characters, over the phones' 127`]);
    expect(avayaListWarnings([['HTTPDIR', 'my dir']])[0]).toMatch(/white space/);
    expect(typed(176, b('MCIPADD=10.0.0.5')).warnings).toEqual([]);
  });

  it('builds lists from pairs, records and arrays, and reads them back', () => {
    const pairs: Array<[string, string]> = [
      ['MCIPADD', '10.0.0.5,10.0.0.6'],
      ['MCPORT', '1719'],
    ];
    const text = 'MCIPADD=10.0.0.5,10.0.0.6,MCPORT=1719';
    expect(avayaList({ MCIPADD: ['10.0.0.5', '10.0.0.6'], MCPORT: '1719' })).toEqual({ pairs });
    expect(avayaList(pairs)).toEqual({ pairs });
    expect(encodeOption(242, avayaList(pairs))).toEqual([242, b(text)]);
    expect(encodeOption('avaya-176', { pairs })).toEqual([176, b(text)]);
    expect(typed(242, b(text)).value).toEqual({ pairs });
    expect(cfg(242, { MCIPADD: ['10.0.0.5', '10.0.0.6'], MCPORT: 1719 })).toEqual(b(text));
    expect(cfg(176, ['MCIPADD=10.0.0.5,10.0.0.6', 'MCPORT=1719'])).toEqual(b(text));
    expect(cfgError(242, { mcport: '1' })).toMatch(/not \[A-Z0-9_\]\+/);
    expect(() => encodeOption(242, avayaList([['mcport', '1']]))).toThrow(
      /^option 242 \(avaya-242\): Avaya parameter name "mcport"/,
    );
    expect(() => encodeOption(176, avayaList([['HTTPDIR', 'a,L2Q=1']]))).toThrow(
      /^option 176 \(avaya-site-specific\): .*new pair/,
    );
  });

  it('round-trips random pair lists', () => {
    const name = fc.stringMatching(/^[A-Z0-9_]{1,12}$/);
    const value = fc
      .array(fc.stringMatching(/^[a-z0-9.:;/]{0,10}$/), { minLength: 1, maxLength: 3 })
      .map((a) => a.join(','));
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 6 }), (pairs) => {
        const [, bytes] = encodeOption(242, { pairs });
        expect(parseAvayaList(bytes.toString())).toEqual(pairs);
        expect(typed(242, bytes).value).toEqual({ pairs });
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------- option 43

describe('option 43', () => {
  it('reads the Avaya form with parameter names', () => {
    const view = b(
      1,
      4,
      '6889',
      2,
      9,
      '10.77.0.1',
      3,
      4,
      'j100',
      4,
      2,
      '80',
      10,
      2,
      '20',
      15,
      24,
      'sm1.example.com:5061;tls',
    );
    const d = decodeOption43(view);
    expect(d.form).toBe('avaya');
    expect(d.subOptions.map((s) => [s.code, s.name, s.text])).toEqual([
      [1, 'ENTERPRISE', '6889'],
      [2, 'HTTPSRVR', '10.77.0.1'],
      [3, 'HTTPDIR', 'j100'],
      [4, 'HTTPPORT', '80'],
      [10, 'L2QVLAN', '20'],
      [15, 'SIP_CONTROLLER_LIST', 'sm1.example.com:5061;tls'],
    ]);
    expect(d.text).toMatch(/^ENTERPRISE=6889 HTTPSRVR=10\.77\.0\.1/);
    for (const s of d.subOptions) expect(s.value.buffer).toBe(view.buffer);
  });

  it('builds the Avaya form from names, with 6889 first', () => {
    const [code, bytes] = encodeOption(43, avaya43({ L2QVLAN: '20', HTTPSRVR: ['10.77.0.1', '10.77.0.2'] }));
    expect(code).toBe(43);
    expect(bytes).toEqual(b(1, 4, AVAYA_ENTERPRISE, 2, 19, '10.77.0.1,10.77.0.2', 10, 2, '20'));
    expect(decodeOption43(bytes).form).toBe('avaya');
    expect(cfg(43, { HTTPSRVR: '10.77.0.1', '1': '6889' })).toEqual(b(1, 4, '6889', 2, 9, '10.77.0.1'));
    expect(() => avaya43({ HTTPSERVER: '10.77.0.1' })).toThrow(
      /^option 43 \(vendor-specific\): "HTTPSERVER" is neither an Avaya sub-option/,
    );
    // An Avaya form must say so with sub-option 1 "6889"; other sub-options go as given.
    expect(() => encodeOption(43, avaya43({ '1': '1234' }))).toThrow(/needs sub-option 1 "6889"/);
    expect(encodeOption(43, { subOptions: [{ code: 2, value: b('x') }] })[1]).toEqual(b(2, 1, 'x'));
    expect(() => encodeOption(43, { subOptions: [{ code: 255, value: b('x') }] })).toThrow(
      /sub-option code 255 is not in 1..254/,
    );
    expect(encodeOption(43, { form: 'raw', raw: b('172.18.6.37') })[1]).toEqual(b('172.18.6.37'));
  });

  it('reads PXE sub-options when the vendor class is PXEClient', () => {
    const view = b(
      6,
      1,
      3,
      8,
      7,
      0x80,
      0x00,
      1,
      192,
      168,
      16,
      10,
      9,
      12,
      0x80,
      0x00,
      9,
      'Pixiecore',
      10,
      10,
      0,
      'Pixiecore',
      71,
      4,
      0x80,
      0,
      0,
      0,
      255,
    );
    const d = decodeOption43(view, 'PXEClient:Arch:00000:UNDI:002001');
    expect(d.form).toBe('pxe');
    expect(d.warnings).toEqual([]);
    expect(d.subOptions.map((s) => [s.name, s.text])).toEqual([
      ['PXE_DISCOVERY_CONTROL', '0x03 (no-broadcast, no-multicast)'],
      ['PXE_BOOT_SERVERS', 'type 32768: 192.168.16.10'],
      ['PXE_BOOT_MENU', '32768 "Pixiecore"'],
      ['PXE_MENU_PROMPT', 'timeout 0 s, "Pixiecore"'],
      ['PXE_BOOT_ITEM', 'type 32768 layer 0'],
    ]);
    // The same bytes without the vendor class are plain TLV.
    expect(decodeOption43(view).form).toBe('tlv');
    expect(decodeOption43(b(8, 2, 1, 2), 'PXEClient').warnings[0]).toMatch(/unexpected length/);
    expect(decodeOption43(b(6, 5, 1), 'PXEClient')).toMatchObject({
      form: 'raw',
      warnings: [expect.stringMatching(/not well-formed/)],
    });
  });

  it('reads other TLV, and falls back to raw text or hex', () => {
    expect(decodeOption43(b(1, 2, 'ab', 0, 2, 1, 0xff)).subOptions.map((s) => [s.code, s.text])).toEqual([
      [1, '"ab"'],
      [2, '0xff'],
    ]);
    const aruba = decodeOption43(b('172.18.6.37'));
    expect(aruba).toMatchObject({ form: 'raw', text: '"172.18.6.37"', warnings: [] });
    expect(decodeOption43(b(1, 9, 2))).toMatchObject({ form: 'raw', text: '0x010902' });
    expect(decodeOption43(b(1, 1, 0, 255, 7)).form).toBe('raw'); // junk after End
    expect(decodeOption43(b())).toMatchObject({ form: 'raw', subOptions: [] });
    expect(encodeOption(43, decodeOption43(b(1, 2, 'ab')))[1]).toEqual(b(1, 2, 'ab'));
  });
});

// ---------------------------------------------------------------------------------------- option 82

describe('option 82 relay agent information', () => {
  const view = b(
    1,
    4,
    'eth0',
    2,
    6,
    [0x00, 0x1b, 0x4f, 0xaa, 0xbb, 0xcc],
    5,
    4,
    [10, 77, 0, 0],
    6,
    3,
    'sub',
    9,
    7,
    [0, 0, 0x0d, 0xe9, 2, 1, 2],
    11,
    4,
    [10, 77, 0, 1],
    151,
    5,
    0,
    'vpn1',
    152,
    0,
    200,
    2,
    [1, 2],
  );

  it('keeps sub-options in order, names the known ones, and keeps unknown ones raw', () => {
    const ra = decodeRelayAgent(view);
    expect(ra.circuitId).toEqual(b('eth0'));
    expect(ra.remoteId).toEqual(b(0x00, 0x1b, 0x4f, 0xaa, 0xbb, 0xcc));
    expect(ra.subOptions.map((s) => s.code)).toEqual([1, 2, 5, 6, 9, 11, 151, 152, 200]);
    expect(ra.subOptions.at(-1)!.value).toEqual(b(1, 2));
    expect(ra.warnings).toEqual([]);
    expect(typed(82, view).text).toBe(
      'circuit-id="eth0" remote-id=0x001b4faabbcc link-selection=10.77.0.0 subscriber-id="sub" ' +
        'vendor-specific=3561:0x0102 server-id-override=10.77.0.1 vss=type 0 0x76706e31 vss-control=0x ' +
        'sub-option-200=0x0102',
    );
    expect(encodeRelayAgent(ra.subOptions)).toEqual(view);
  });

  it('stops at a sub-option that runs past the end, keeping the rest', () => {
    const cut = b(1, 4, 'eth0', 2, 9, 'abc');
    const ra = decodeRelayAgent(cut);
    expect(ra.subOptions.map((s) => s.code)).toEqual([1]);
    expect(ra.remoteId).toBeUndefined();
    expect(ra.trailing).toEqual(b(2, 9, 'abc'));
    expect(ra.warnings[0]).toMatch(/sub-option 2/);
    expect(encodeOption(82, ra)[1]).toEqual(cut);
  });

  it('builds from config with names or codes, in code order', () => {
    expect(cfg(82, { '2': '0x001b4faabbcc', 'circuit-id': 'eth0' })).toEqual(
      b(1, 4, 'eth0', 2, 6, [0x00, 0x1b, 0x4f, 0xaa, 0xbb, 0xcc]),
    );
    expect(cfgError(82, 'eth0')).toMatch(/expected/);
  });
});
