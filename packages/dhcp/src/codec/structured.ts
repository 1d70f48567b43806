/**
 * Codecs for options with an inner structure: client identifier (61), user class (77), client FQDN
 * (81), PXE client options (93, 94, 97), domain search (119), SIP servers (120), classless static
 * routes (121), vendor-identifying vendor class and options (124, 125), overload (52).
 */
import { isUtf8 } from 'node:buffer';
import { intToIp } from '@bootwire/core';
import { encodeDnsNames, readDnsName, readDnsNames } from './dns-name.js';
import { encodeTlv, parseTlv, type SubOption, subOptionFromConfig, tlvFromConfig } from './tlv.js';
import {
  checkInt,
  colonHex,
  configError,
  configList,
  decodeText,
  defineCodec,
  displayBytes,
  expectBytes,
  expectList,
  expectValue,
  hexText,
  ipAt,
  ipBytes,
  isConfigList,
  okValue,
  type OptionCodec,
  type OptionConfigValue,
  parseIPv4,
  parseMac,
  rawValue,
  show,
  textBytes,
} from './types.js';

// ------------------------------------------------------------------------------- 61 client identifier

/** What option 61 is built from. */
export interface ClientIdInput {
  /** Hardware type (1 = Ethernet), 0 for a non-hardware identifier, 255 for RFC 4361 IAID + DUID. */
  readonly type: number;
  /** The identifier after the type byte (at least one byte). */
  readonly data: Uint8Array;
}

export interface ClientId extends ClientIdInput {
  readonly data: Buffer;
  /** Colon hex when type 1 and 6 bytes. */
  readonly mac?: string;
}

export const clientIdCodec: OptionCodec<ClientId, ClientIdInput> = defineCodec<ClientId, ClientIdInput>({
  type: 'client-id',
  decode(view) {
    if (view.length < 2) return rawValue(view, `client identifier of ${view.length} bytes (RFC 2132: at least 2)`);
    const type = view[0]!;
    const data = view.subarray(1);
    if (type === 1 && data.length === 6) {
      const mac = colonHex(data);
      return okValue({ type, data, mac }, `ethernet ${mac}`);
    }
    if (type === 255 && data.length >= 4) {
      return okValue({ type, data }, `iaid ${hexText(data.subarray(0, 4))} duid ${hexText(data.subarray(4))}`);
    }
    return okValue({ type, data }, `type ${type} ${displayBytes(data)}`);
  },
  encode(value) {
    expectValue(typeof value === 'object' && value !== null, 'a client identifier { type, data }', value);
    const type = checkInt(value.type, 0, 255);
    expectBytes(value.data, 'data');
    if (value.data.length < 1) throw new RangeError('an empty identifier (RFC 2132: type and at least one byte)');
    return Buffer.concat([Buffer.from([type]), value.data]);
  },
  fromConfig(input) {
    // "00:1b:4f:aa:bb:cc" is hardware type 1 + MAC; other text is type 0 + the text.
    if (typeof input !== 'string') return configError(`expected a MAC address, text or 0x hex, got ${show(input)}`);
    const mac = parseMac(input);
    if (mac && mac.length === 6) return Buffer.concat([Buffer.from([1]), mac]);
    return Buffer.concat([Buffer.from([0]), Buffer.from(input, 'utf8')]);
  },
});

// ------------------------------------------------------------------------------------- 77 user class

export interface UserClass {
  /** 'rfc3004': length-prefixed items; 'plain': one string as phones and Windows send it. */
  readonly form: 'rfc3004' | 'plain';
  readonly classes: string[];
}

/** True when RFC 3004 items (each at least 1 byte) cover the bytes exactly. */
function isRfc3004(view: Uint8Array): boolean {
  let at = 0;
  while (at < view.length) {
    const len = view[at]!;
    if (len === 0 || at + 1 + len > view.length) return false;
    at += 1 + len;
  }
  return view.length > 0;
}

/**
 * RFC 3004 when the item lengths (each at least 1) cover the bytes exactly; otherwise the whole value
 * is one plain string, trailing NULs dropped as for option 60 (nothing left: no class). A plain string
 * whose first byte happens to count the rest exactly would be misread, which the first byte of a
 * printable name (at least 0x20 = 32) makes rare for short names. RFC 3004 items are length-delimited:
 * kept whole, NULs included.
 */
export function parseUserClass(view: Buffer): UserClass {
  if (!isRfc3004(view)) {
    const text = decodeText(view);
    return { form: 'plain', classes: text === '' ? [] : [text] };
  }
  const items: string[] = [];
  for (let at = 0; at < view.length; at += 1 + view[at]!) items.push(textOf(view.subarray(at + 1, at + 1 + view[at]!)));
  return { form: 'rfc3004', classes: items };
}

/** UTF-8 when valid, else Latin-1, NULs kept (decodeText without the trimming). */
function textOf(view: Buffer): string {
  return isUtf8(view) ? view.toString('utf8') : view.toString('latin1');
}

export const userClassCodec: OptionCodec<UserClass> = defineCodec<UserClass>({
  type: 'user-class',
  decode(view) {
    const uc = parseUserClass(view);
    return okValue(uc, uc.classes.map((c) => JSON.stringify(c)).join(', '));
  },
  encode(value) {
    expectValue(typeof value === 'object' && value !== null, 'a user class { form, classes }', value);
    expectList(value.classes, 'classes as a list of strings');
    if (value.form === 'plain') {
      if (value.classes.length > 1)
        throw new RangeError(`a plain user class is one string, got ${value.classes.length}`);
      const b = textBytes(value.classes[0] ?? '', 'the class');
      // Bytes that happen to read as RFC 3004 items get the NUL terminator phones send, so they read
      // back as the one plain string they are.
      return isRfc3004(b) ? Buffer.concat([b, Buffer.from([0])]) : b;
    }
    expectValue(value.form === 'rfc3004', "form 'plain' or 'rfc3004'", value.form);
    if (value.classes.length === 0) throw new RangeError('an RFC 3004 user class needs at least one item');
    return Buffer.concat(
      value.classes.map((c) => {
        // Latin-1 text read from the wire comes back as UTF-8, which can make an item longer.
        const b = textBytes(c, 'a class');
        if (b.length < 1 || b.length > 255)
          throw new RangeError(`user class item of ${b.length} bytes (RFC 3004: 1..255)`);
        return Buffer.concat([Buffer.from([b.length]), b]);
      }),
    );
  },
  fromConfig(input) {
    // A string is sent as a plain string; an array in RFC 3004 form.
    if (typeof input === 'string') return Buffer.from(input, 'utf8');
    if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string' && x.length > 0)) {
      return userClassCodec.encode({ form: 'rfc3004', classes: input as string[] });
    }
    return configError(`expected a string or a list of non-empty strings, got ${show(input)}`);
  },
});

// ------------------------------------------------------------------------------------- 81 client FQDN

/** What option 81 is built from: the flags byte decides the name's form (bit E, 0x04: DNS wire format). */
export interface ClientFqdnInput {
  readonly flags: number;
  readonly rcode1: number;
  readonly rcode2: number;
  readonly name: string;
}

export interface ClientFqdn extends ClientFqdnInput {
  readonly flags: number;
  /** S: the server should update the A record. */
  readonly s: boolean;
  /** O: the server overrode the client's S. */
  readonly o: boolean;
  /** E: the name is in DNS wire format (else ASCII). */
  readonly e: boolean;
  /** N: no server updates. */
  readonly n: boolean;
  readonly rcode1: number;
  readonly rcode2: number;
  /** Dotted name; a wire-format partial name (no root label) reads the same. */
  readonly name: string;
}

export const fqdnCodec: OptionCodec<ClientFqdn, ClientFqdnInput> = defineCodec<ClientFqdn, ClientFqdnInput>({
  type: 'fqdn',
  decode(view) {
    if (view.length < 3) return rawValue(view, `client FQDN of ${view.length} bytes (at least 3)`);
    const flags = view[0]!;
    const e = (flags & 0x04) !== 0;
    const data = view.subarray(3);
    let name: string;
    if (e) {
      const r = data.length === 0 ? { name: '', next: 0 } : readDnsName(data, 0, false, true);
      if ('error' in r) return rawValue(view, `client FQDN name: ${r.error}`);
      if (r.next !== data.length) return rawValue(view, `client FQDN: ${data.length - r.next} byte(s) after the name`);
      name = r.name;
    } else name = decodeText(data);
    const value: ClientFqdn = {
      flags,
      s: (flags & 0x01) !== 0,
      o: (flags & 0x02) !== 0,
      e,
      n: (flags & 0x08) !== 0,
      rcode1: view[1]!,
      rcode2: view[2]!,
      name,
    };
    const set = (['s', 'o', 'e', 'n'] as const).filter((k) => value[k]).map((k) => k.toUpperCase());
    return okValue(
      value,
      `flags 0x${flags.toString(16).padStart(2, '0')}${set.length ? ` [${set.join('')}]` : ''} ${JSON.stringify(name)}`,
    );
  },
  encode(value) {
    expectValue(typeof value === 'object' && value !== null, 'a client FQDN { flags, rcode1, rcode2, name }', value);
    const flags = checkInt(value.flags, 0, 255);
    const rcodes = [checkInt(value.rcode1, 0, 255), checkInt(value.rcode2, 0, 255)];
    const name = flags & 0x04 ? encodeDnsNames([value.name], false) : textBytes(value.name, 'the name');
    return Buffer.concat([Buffer.from([flags, ...rcodes]), name]);
  },
  fromConfig(input) {
    // "host.example.com" (wire format, flags E) or {"flags": 5, "name": "host.example.com"}. RCODE1 and
    // RCODE2 are 255, as RFC 4702 asks of servers.
    if (typeof input === 'string') {
      try {
        return fqdnCodec.encode({ flags: 0x04, rcode1: 255, rcode2: 255, name: input });
      } catch (e) {
        return configError(`FQDN: ${(e as Error).message}`);
      }
    }
    if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
      const o = input as Record<string, OptionConfigValue>;
      const flags = o['flags'] ?? 0x04;
      if (typeof flags !== 'number' || !Number.isInteger(flags) || flags < 0 || flags > 255)
        configError(`FQDN flags ${show(flags)} not in 0..255`);
      if (typeof o['name'] !== 'string') configError(`FQDN needs a "name" string, got ${show(o['name'])}`);
      try {
        return fqdnCodec.encode({ flags, rcode1: 255, rcode2: 255, name: o['name'] });
      } catch (e) {
        return configError(`FQDN: ${(e as Error).message}`);
      }
    }
    return configError(`expected a name or {"flags", "name"}, got ${show(input)}`);
  },
});

// ------------------------------------------------------------------------------ 93, 94, 97 (PXE, RFC 4578)

export const CLIENT_ARCHITECTURES: Readonly<Record<number, string>> = {
  0: 'x86 BIOS',
  1: 'NEC/PC98',
  2: 'Itanium',
  3: 'DEC Alpha',
  4: 'Arc x86',
  5: 'Intel Lean Client',
  6: 'x86 UEFI',
  7: 'x64 UEFI',
  8: 'EFI Xscale',
  9: 'EBC',
  10: 'ARM 32-bit UEFI',
  11: 'ARM 64-bit UEFI',
  15: 'x86 UEFI HTTP',
  16: 'x64 UEFI HTTP',
  18: 'ARM 32-bit UEFI HTTP',
  19: 'ARM 64-bit UEFI HTTP',
};

export const clientArchCodec: OptionCodec<number[]> = defineCodec<number[]>({
  type: 'client-arch',
  decode(view) {
    if (view.length % 2 !== 0 || view.length === 0)
      return rawValue(view, `expected a list of 2-byte architecture types, got ${view.length} bytes`);
    const list: number[] = [];
    for (let at = 0; at < view.length; at += 2) list.push(view.readUInt16BE(at));
    return okValue(
      list,
      list.map((n) => (CLIENT_ARCHITECTURES[n] ? `${n} (${CLIENT_ARCHITECTURES[n]})` : String(n))).join(', '),
    );
  },
  encode(value) {
    expectList(value, 'a non-empty list of architecture types', 1);
    const b = Buffer.alloc(value.length * 2);
    for (let i = 0; i < value.length; i++) b.writeUInt16BE(checkInt(value[i]!, 0, 65535), i * 2);
    return b;
  },
  fromConfig(input) {
    const items =
      typeof input === 'number'
        ? [input]
        : Array.isArray(input)
          ? input
          : configError(`expected a list of architecture numbers, got ${show(input)}`);
    return clientArchCodec.encode(
      items.map((x) =>
        typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 65535
          ? x
          : configError(`architecture ${show(x)} not in 0..65535`),
      ),
    );
  },
});

export interface ClientNdi {
  /** 1 = UNDI. */
  readonly type: number;
  readonly major: number;
  readonly minor: number;
}

export const clientNdiCodec: OptionCodec<ClientNdi> = defineCodec<ClientNdi>({
  type: 'client-ndi',
  decode(view) {
    if (view.length !== 3) return rawValue(view, `expected 3 bytes (type, major, minor), got ${view.length}`);
    const v = { type: view[0]!, major: view[1]!, minor: view[2]! };
    return okValue(v, `${v.type === 1 ? 'UNDI' : `type ${v.type}`} ${v.major}.${v.minor}`);
  },
  encode(v) {
    expectValue(typeof v === 'object' && v !== null, 'an interface { type, major, minor }', v);
    return Buffer.from([checkInt(v.type, 0, 255), checkInt(v.major, 0, 255), checkInt(v.minor, 0, 255)]);
  },
  fromConfig(input) {
    // [1, 2, 1] or "1.2.1"
    const parts = typeof input === 'string' ? input.split('.').map(Number) : Array.isArray(input) ? input : [];
    if (parts.length !== 3 || !parts.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 255)) {
      configError(`expected [type, major, minor], got ${show(input)}`);
    }
    return Buffer.from(parts as number[]);
  },
});

/** What option 97 is built from. */
export interface MachineIdInput {
  /** 0 = GUID (16 bytes). */
  readonly type: number;
  readonly id: Uint8Array;
}

export interface MachineId extends MachineIdInput {
  readonly id: Buffer;
  /** The 16 bytes in wire order as 8-4-4-4-12 hex, when type 0. */
  readonly guid?: string;
}

function guidText(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const machineIdCodec: OptionCodec<MachineId, MachineIdInput> = defineCodec<MachineId, MachineIdInput>({
  type: 'machine-id',
  decode(view) {
    if (view.length < 1) return rawValue(view, 'empty client machine identifier');
    const type = view[0]!;
    const id = view.subarray(1);
    if (type === 0) {
      if (id.length !== 16) return rawValue(view, `GUID of ${id.length} bytes (expected 16)`);
      const guid = guidText(id);
      return okValue({ type, id, guid }, `guid ${guid}`);
    }
    return okValue({ type, id }, `type ${type} ${hexText(id)}`);
  },
  encode(v) {
    expectValue(typeof v === 'object' && v !== null, 'a machine identifier { type, id }', v);
    const type = checkInt(v.type, 0, 255);
    expectBytes(v.id, 'id');
    if (type === 0 && v.id.length !== 16) throw new RangeError(`a GUID (type 0) is 16 bytes, got ${v.id.length}`);
    return Buffer.concat([Buffer.from([type]), v.id]);
  },
  fromConfig(input) {
    // "d4bd2f7e-1c5a-4b3e-9a1f-000c29aabbcc" (wire byte order) is type 0 + 16 bytes.
    if (typeof input === 'string' && /^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$/.test(input)) {
      return Buffer.concat([Buffer.from([0]), Buffer.from(input.replaceAll('-', ''), 'hex')]);
    }
    return configError(`expected a GUID (8-4-4-4-12 hex) or 0x hex, got ${show(input)}`);
  },
});

// ------------------------------------------------------------------------ 119 domain search, 120 SIP

function namesFromConfig(input: OptionConfigValue, what: string, compress: boolean, prefix?: number): Buffer {
  const names = configList(input, what);
  if (names.length === 0) configError(`expected at least one ${what}, got ${show(input)}`);
  try {
    const body = encodeDnsNames(names, compress);
    return prefix === undefined ? body : Buffer.concat([Buffer.from([prefix]), body]);
  } catch (e) {
    return configError((e as Error).message);
  }
}

export const domainSearchCodec: OptionCodec<string[]> = defineCodec<string[]>({
  type: 'domain-list',
  decode(view) {
    const r = readDnsNames(view, true);
    if ('error' in r) return rawValue(view, `domain search list: ${r.error}`);
    return okValue(r.names, r.names.join(', '));
  },
  encode: (names) => encodeDnsNames(names, true),
  fromConfig: (input) => namesFromConfig(input, 'domain names', true),
});

export interface SipServers {
  readonly encoding: 'names' | 'addresses';
  readonly servers: string[];
}

export const sipServersCodec: OptionCodec<SipServers> = defineCodec<SipServers>({
  type: 'sip-servers',
  decode(view) {
    if (view.length < 2) return rawValue(view, `SIP servers option of ${view.length} bytes`);
    const rest = view.subarray(1);
    if (view[0] === 0) {
      // Compression pointers count from the first name, after the encoding byte.
      const r = readDnsNames(view.subarray(1), true);
      if ('error' in r) return rawValue(view, `SIP server names: ${r.error}`);
      return okValue({ encoding: 'names', servers: r.names }, r.names.join(', '));
    }
    if (view[0] === 1 && rest.length % 4 === 0) {
      const servers: string[] = [];
      for (let at = 0; at < rest.length; at += 4) servers.push(ipAt(rest, at));
      return okValue({ encoding: 'addresses', servers }, servers.join(', '));
    }
    return rawValue(view, `SIP servers encoding ${view[0]} with ${rest.length} bytes`);
  },
  encode(v) {
    expectValue(typeof v === 'object' && v !== null, 'SIP servers { encoding, servers }', v);
    expectList(v.servers, 'servers: a list of at least one', 1);
    if (v.encoding === 'addresses') return Buffer.concat([Buffer.from([1]), ...v.servers.map((ip) => ipBytes(ip))]);
    expectValue(v.encoding === 'names', "encoding 'names' or 'addresses'", v.encoding);
    return Buffer.concat([Buffer.from([0]), encodeDnsNames(v.servers, true)]);
  },
  fromConfig(input) {
    // All addresses: encoding 1; otherwise names, encoding 0.
    const items = configList(input, 'SIP servers');
    if (items.length > 0 && items.every((s) => parseIPv4(s)))
      return Buffer.concat([Buffer.from([1]), ...items.map(ipBytes)]);
    return namesFromConfig(items, 'SIP server names', true, 0);
  },
});

// ---------------------------------------------------------------------- 121 classless static routes

export interface ClasslessRoute {
  /** `a.b.c.d/width` */
  readonly destination: string;
  readonly router: string;
}

export const classlessRoutesCodec: OptionCodec<ClasslessRoute[]> = defineCodec<ClasslessRoute[]>({
  type: 'classless-routes',
  decode(view) {
    const routes: ClasslessRoute[] = [];
    const warnings: string[] = [];
    let at = 0;
    while (at < view.length) {
      const width = view[at]!;
      if (width > 32) return rawValue(view, `route at ${at} has prefix width ${width} (over 32)`);
      const sig = Math.ceil(width / 8);
      if (at + 1 + sig + 4 > view.length) return rawValue(view, `route at ${at} is cut short`);
      const dest = [0, 0, 0, 0];
      for (let i = 0; i < sig; i++) dest[i] = view[at + 1 + i]!;
      const mask = width === 0 ? 0 : (0xffffffff << (32 - width)) >>> 0;
      const n = ((dest[0]! << 24) | (dest[1]! << 16) | (dest[2]! << 8) | dest[3]!) >>> 0;
      const net = (n & mask) >>> 0;
      const destination = `${intToIp(net)}/${width}`;
      // Clients route the masked network (RFC 3442); the value says so, and re-encodes as it is read.
      if (net !== n)
        warnings.push(`route ${dest.join('.')}/${width} has bits set past its prefix: read as ${destination}`);
      routes.push({ destination, router: ipAt(view, at + 1 + sig) });
      at += 1 + sig + 4;
    }
    if (routes.length === 0) return rawValue(view, 'empty classless static route option');
    return okValue(routes, routes.map((r) => `${r.destination} via ${r.router}`).join(', '), warnings);
  },
  encode(routes) {
    expectList(routes, 'a non-empty list of routes { destination, router }', 1);
    return Buffer.concat(
      routes.map((r) => {
        expectValue(
          typeof r === 'object' && r !== null && typeof r.destination === 'string',
          'a route { destination: "a.b.c.d/width", router }',
          r,
        );
        const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(r.destination);
        const dest = m ? parseIPv4(m[1]!) : undefined;
        const width = m ? Number(m[2]) : NaN;
        if (!dest || !(width >= 0 && width <= 32))
          throw new RangeError(`bad route destination ${JSON.stringify(r.destination)}`);
        const sig = Math.ceil(width / 8);
        const mask = width === 0 ? 0 : (0xffffffff << (32 - width)) >>> 0;
        if ((dest.readUInt32BE(0) & ~mask) >>> 0 !== 0) throw new RangeError(`${r.destination} has host bits set`);
        return Buffer.concat([Buffer.from([width]), dest.subarray(0, sig), ipBytes(r.router)]);
      }),
    );
  },
  fromConfig(input) {
    // {"10.0.0.0/8": "10.77.0.1"}, ["10.0.0.0/8 10.77.0.1", "0.0.0.0/0 via 10.77.0.1"] or one such string
    // per comma.
    let routes: ClasslessRoute[];
    if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
      routes = Object.entries(input as Record<string, OptionConfigValue>).map(([destination, router]) => {
        if (typeof router !== 'string') configError(`router for ${destination} must be a string, got ${show(router)}`);
        return { destination, router };
      });
    } else {
      const items =
        typeof input === 'string'
          ? input.split(',')
          : Array.isArray(input)
            ? input
            : configError(`expected routes, got ${show(input)}`);
      routes = items.map((item) => {
        const parts = typeof item === 'string' ? item.trim().split(/\s+(?:via\s+)?/) : [];
        if (parts.length !== 2) configError(`expected "destination/width router", got ${show(item)}`);
        return { destination: parts[0]!, router: parts[1]! };
      });
    }
    if (routes.length === 0) configError('expected at least one route');
    try {
      return classlessRoutesCodec.encode(routes);
    } catch (e) {
      return configError((e as Error).message);
    }
  },
});

// --------------------------------------------------------------- 124, 125 vendor-identifying (RFC 3925)

export interface ViVendorClass {
  readonly enterprise: number;
  /** Each class datum as sent. */
  readonly data: Buffer[];
}

export interface ViVendorSpecific {
  readonly enterprise: number;
  readonly subOptions: SubOption[];
}

/** Walks enterprise (4), length (1), data blocks; undefined when the blocks do not cover the bytes. */
function enterpriseBlocks(view: Buffer): Array<{ enterprise: number; data: Buffer }> | undefined {
  const out: Array<{ enterprise: number; data: Buffer }> = [];
  let at = 0;
  while (at < view.length) {
    if (at + 5 > view.length) return undefined;
    const len = view[at + 4]!;
    if (at + 5 + len > view.length) return undefined;
    out.push({ enterprise: view.readUInt32BE(at), data: view.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return out;
}

function enterpriseBlock(enterprise: number, data: Buffer): Buffer {
  if (!Number.isInteger(enterprise) || enterprise < 0 || enterprise > 0xffffffff)
    throw new RangeError(`enterprise number ${show(enterprise)} is not a 32-bit number`);
  if (data.length > 255) throw new RangeError(`enterprise ${enterprise} data is ${data.length} bytes, over 255`);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(enterprise, 0);
  head[4] = data.length;
  return Buffer.concat([head, data]);
}

function enterpriseEntries(input: OptionConfigValue): Array<[number, OptionConfigValue]> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return configError(`expected {"enterprise-number": ...}, got ${show(input)}`);
  }
  return Object.entries(input as Record<string, OptionConfigValue>).map(([k, v]) => {
    if (!/^[0-9]{1,10}$/.test(k) || Number(k) > 0xffffffff)
      configError(`enterprise number ${show(k)} is not a 32-bit number`);
    return [Number(k), v];
  });
}

export const viVendorClassCodec: OptionCodec<ViVendorClass[]> = defineCodec<ViVendorClass[]>({
  type: 'vi-vendor-class',
  decode(view) {
    const blocks = enterpriseBlocks(view);
    if (!blocks || blocks.length === 0)
      return rawValue(view, 'vendor-identifying vendor class blocks do not fit the option');
    const out: ViVendorClass[] = [];
    for (const b of blocks) {
      const data: Buffer[] = [];
      let at = 0;
      while (at < b.data.length) {
        const len = b.data[at]!;
        if (at + 1 + len > b.data.length)
          return rawValue(view, `enterprise ${b.enterprise}: class data runs past its block`);
        data.push(b.data.subarray(at + 1, at + 1 + len));
        at += 1 + len;
      }
      out.push({ enterprise: b.enterprise, data });
    }
    return okValue(out, out.map((v) => `${v.enterprise}: ${v.data.map((d) => displayBytes(d)).join(', ')}`).join('; '));
  },
  encode(value) {
    expectList(value, 'a non-empty list of { enterprise, data }', 1);
    return Buffer.concat(
      value.map((v) => {
        expectValue(typeof v === 'object' && v !== null, '{ enterprise, data: [Buffer, ...] }', v);
        expectList(v.data, `enterprise ${v.enterprise}'s data as a list of Buffers`);
        const data = v.data.map((d) => {
          expectBytes(d, `enterprise ${v.enterprise}'s class datum`);
          if (d.length > 255) throw new RangeError('class datum over 255 bytes');
          return Buffer.concat([Buffer.from([d.length]), d]);
        });
        return enterpriseBlock(v.enterprise, Buffer.concat(data));
      }),
    );
  },
  fromConfig(input) {
    // {"3561": "dslforum.org"} or {"3561": ["a", "b"]}
    const value = enterpriseEntries(input).map(([enterprise, v]) => {
      const list =
        typeof v === 'string'
          ? [v]
          : isConfigList(v)
            ? v
            : configError(`enterprise ${enterprise}: expected text or a list, got ${show(v)}`);
      return { enterprise, data: list.map((x) => subOptionFromConfig(x, `enterprise ${enterprise}`)) };
    });
    try {
      return viVendorClassCodec.encode(value);
    } catch (e) {
      return configError((e as Error).message);
    }
  },
});

export const viVendorSpecificCodec: OptionCodec<ViVendorSpecific[]> = defineCodec<ViVendorSpecific[]>({
  type: 'vi-vendor-specific',
  decode(view) {
    const blocks = enterpriseBlocks(view);
    if (!blocks || blocks.length === 0)
      return rawValue(view, 'vendor-identifying vendor-specific blocks do not fit the option');
    const out: ViVendorSpecific[] = [];
    for (const b of blocks) {
      const tlv = parseTlv(b.data, false);
      if (!tlv.complete) return rawValue(view, `enterprise ${b.enterprise}: ${tlv.problem}`);
      out.push({ enterprise: b.enterprise, subOptions: tlv.items });
    }
    return okValue(
      out,
      out
        .map((v) => `${v.enterprise}: ${v.subOptions.map((s) => `${s.code}=${displayBytes(s.value)}`).join(' ')}`)
        .join('; '),
    );
  },
  encode(value) {
    expectList(value, 'a non-empty list of { enterprise, subOptions }', 1);
    return Buffer.concat(
      value.map((v) => {
        expectValue(typeof v === 'object' && v !== null, '{ enterprise, subOptions }', v);
        return enterpriseBlock(v.enterprise, encodeTlv(v.subOptions));
      }),
    );
  },
  fromConfig(input) {
    // {"3561": {"1": "text", "2": "0x0102"}}
    const value = enterpriseEntries(input).map(([enterprise, v]) => ({
      enterprise,
      subOptions: tlvFromConfig(v, `enterprise ${enterprise}`),
    }));
    try {
      return viVendorSpecificCodec.encode(value);
    } catch (e) {
      return configError((e as Error).message);
    }
  },
});

// -------------------------------------------------------------------------------------- 52 overload

export const OVERLOAD_NAMES: Readonly<Record<number, string>> = { 1: 'file', 2: 'sname', 3: 'file and sname' };

export const overloadCodec: OptionCodec<1 | 2 | 3> = defineCodec<1 | 2 | 3>({
  type: 'overload',
  decode(view) {
    if (view.length !== 1 || view[0]! < 1 || view[0]! > 3)
      return rawValue(view, `overload must be one byte 1..3, got ${hexText(view)}`);
    const v = view[0] as 1 | 2 | 3;
    return okValue(v, OVERLOAD_NAMES[v]!);
  },
  encode: (v) => Buffer.from([checkInt(v, 1, 3)]),
  fromConfig: () => configError('option 52 (overload) is set by the encoder, not by configuration'),
});
