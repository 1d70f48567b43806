/**
 * Option registry: code <-> name <-> value codec.
 *
 * Names are lowercase with dashes, as Wireshark and ISC spell them; ISC dhcpd's own spellings
 * (`routers`, `domain-name-servers`, `dhcp-lease-time`, ...) are accepted as aliases, and so is
 * `option-N` for any code. A code without an entry decodes as bytes under the name `option-N`.
 *
 * The table below is the one source: lookupOption() reads maps built from it, and the compiler derives
 * from it the type of every option's value (`OptionValues[242]` is `AvayaList`), so a typed read
 * (`options.get(242)`), a typed build (`encodeOption(242, ...)`) and the codec cannot disagree.
 */
import { avayaCodec } from './avaya.js';
import { DhcpConfigError, DhcpOptionError } from './errors.js';
import { decodeOption43, option43Codec } from './option43.js';
import { relayAgentCodec } from './relay-agent.js';
import {
  classlessRoutesCodec,
  clientArchCodec,
  clientIdCodec,
  clientNdiCodec,
  domainSearchCodec,
  fqdnCodec,
  machineIdCodec,
  overloadCodec,
  sipServersCodec,
  userClassCodec,
  viVendorClassCodec,
  viVendorSpecificCodec,
} from './structured.js';
import {
  boolCodec,
  bytesCodec,
  configError,
  type Decoded,
  defineCodec,
  i32Codec,
  ipCodec,
  ipListCodec,
  ipPairsCodec,
  okValue,
  type OptionCodec,
  type OptionConfigValue,
  rawValue,
  show,
  stringCodec,
  u16Codec,
  u32Codec,
  u8Codec,
  uintListCodec,
} from './types.js';

/** A registry entry. `T` is the value the option decodes to, `In` what it is built from. */
export interface OptionDef<T = unknown, In = T> {
  readonly code: number;
  readonly name: string;
  readonly aliases: readonly string[];
  readonly codec: OptionCodec<T, In>;
  /** False for a code without an entry: read and written as bytes under the name `option-N`. */
  readonly registered: boolean;
}

// --------------------------------------------------------------------------------------- message type

/** DHCP message types (option 53): RFC 2131, 3203, 4388, 6926, 7724. */
export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
  FORCERENEW: 9,
  LEASEQUERY: 10,
  LEASEUNASSIGNED: 11,
  LEASEUNKNOWN: 12,
  LEASEACTIVE: 13,
  BULKLEASEQUERY: 14,
  LEASEQUERYDONE: 15,
  ACTIVELEASEQUERY: 16,
  LEASEQUERYSTATUS: 17,
  TLS: 18,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const MESSAGE_TYPE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(MessageType).map(([k, v]) => [v, k]));

/** 'DISCOVER', 'OFFER', ... or undefined for a number without a name. */
export function messageTypeName(n: number): string | undefined {
  return MESSAGE_TYPE_NAMES.get(n);
}

/** The number of a message type name; case-insensitive, with or without the `DHCP` prefix. */
export function messageTypeByName(name: string): number | undefined {
  const key = name.trim().toUpperCase().replace(/^DHCP/, '');
  return Object.hasOwn(MessageType, key) ? MessageType[key as keyof typeof MessageType] : undefined;
}

const messageTypeCodec: OptionCodec<number> = defineCodec<number>({
  type: 'message-type',
  decode(view) {
    if (view.length !== 1) return rawValue(view, `message type must be 1 byte, got ${view.length}`);
    const n = view[0]!;
    return okValue(n, messageTypeName(n) ?? `unknown (${n})`);
  },
  encode: (n) => u8Codec.encode(n),
  fromConfig(input) {
    const n = typeof input === 'string' && !/^[0-9]+$/.test(input) ? messageTypeByName(input) : undefined;
    if (typeof input === 'string' && !/^[0-9]+$/.test(input) && n === undefined)
      configError(`unknown message type ${show(input)}`);
    return n !== undefined ? Buffer.from([n]) : u8Codec.fromConfig(input);
  },
});

// ----------------------------------------------------------------------------------- 55 request list

const paramListCodec: OptionCodec<number[]> = defineCodec<number[]>({
  type: 'option-list',
  decode(view) {
    const list = [...view];
    return okValue(list, list.map((c) => `${c} (${BY_CODE.get(c)?.name ?? '?'})`).join(', '));
  },
  encode: (list) => uintListCodec(1).encode(list),
  fromConfig(input) {
    // [1, 3, "domain-name-server", "66"]
    const items =
      typeof input === 'string' ? input.split(/[\s,]+/).filter(Boolean) : Array.isArray(input) ? input : [input];
    return Buffer.from(
      items.map((x) => {
        const def = typeof x === 'string' || typeof x === 'number' ? lookupOption(x) : undefined;
        if (!def) configError(`${show(x)} is not an option code or name`);
        return def.code;
      }),
    );
  },
});

// -------------------------------------------------------------------------------------------- table

const ipList = ipListCodec(1);
const ipList0 = ipListCodec(0);

// [code, name, codec, ...aliases]
// [code, name, codec, ...aliases]. The single source of the registry: the lookups below are built from
// it at load time, and the types (OptionValues, OptionName, ...) are derived from it by the compiler.
/** A codec of any value and input: what the table's rows hold (typed access below recovers each one's types). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCodec = OptionCodec<any, any>;

const TABLE = [
  [1, 'subnet-mask', ipCodec],
  [2, 'time-offset', i32Codec],
  [3, 'router', ipList, 'routers'],
  [4, 'time-server', ipList, 'time-servers'],
  [5, 'name-server', ipList, 'ien116-name-servers'],
  [6, 'domain-name-server', ipList, 'domain-name-servers', 'dns-servers'],
  [7, 'log-server', ipList, 'log-servers'],
  [8, 'cookie-server', ipList, 'cookie-servers'],
  [9, 'lpr-server', ipList, 'lpr-servers'],
  [10, 'impress-server', ipList, 'impress-servers'],
  [11, 'resource-location-server', ipList, 'resource-location-servers'],
  [12, 'host-name', stringCodec, 'hostname'],
  [13, 'boot-file-size', u16Codec, 'boot-size'],
  [14, 'merit-dump-file', stringCodec, 'merit-dump'],
  [15, 'domain-name', stringCodec],
  [16, 'swap-server', ipCodec],
  [17, 'root-path', stringCodec],
  [18, 'extensions-path', stringCodec],
  [19, 'ip-forwarding', boolCodec],
  [20, 'non-local-source-routing', boolCodec],
  [21, 'policy-filter', ipPairsCodec],
  [22, 'max-datagram-reassembly', u16Codec],
  [23, 'default-ip-ttl', u8Codec],
  [24, 'path-mtu-aging-timeout', u32Codec],
  [25, 'path-mtu-plateau-table', uintListCodec(2, 1)],
  [26, 'interface-mtu', u16Codec],
  [27, 'all-subnets-local', boolCodec],
  [28, 'broadcast-address', ipCodec],
  [29, 'perform-mask-discovery', boolCodec],
  [30, 'mask-supplier', boolCodec],
  [31, 'router-discovery', boolCodec],
  [32, 'router-solicitation-address', ipCodec],
  [33, 'static-route', ipPairsCodec, 'static-routes'],
  [34, 'trailer-encapsulation', boolCodec],
  [35, 'arp-cache-timeout', u32Codec],
  [36, 'ieee802-3-encapsulation', boolCodec],
  [37, 'default-tcp-ttl', u8Codec],
  [38, 'tcp-keepalive-interval', u32Codec],
  [39, 'tcp-keepalive-garbage', boolCodec],
  [40, 'nis-domain', stringCodec],
  [41, 'nis-servers', ipList],
  [42, 'ntp-servers', ipList, 'ntp-server'],
  [43, 'vendor-specific', option43Codec, 'vendor-encapsulated-options', 'vendor-specific-information'],
  [44, 'netbios-name-servers', ipList, 'netbios-name-server'],
  [45, 'netbios-dd-server', ipList],
  [46, 'netbios-node-type', u8Codec],
  [47, 'netbios-scope', stringCodec],
  [48, 'font-servers', ipList],
  [49, 'x-display-manager', ipList],
  [50, 'requested-ip-address', ipCodec, 'dhcp-requested-address', 'requested-address'],
  [51, 'lease-time', u32Codec, 'dhcp-lease-time', 'ip-address-lease-time'],
  [52, 'overload', overloadCodec, 'dhcp-option-overload', 'option-overload'],
  [53, 'dhcp-message-type', messageTypeCodec, 'message-type'],
  [54, 'server-identifier', ipCodec, 'dhcp-server-identifier'],
  [55, 'parameter-request-list', paramListCodec, 'dhcp-parameter-request-list'],
  [56, 'message', stringCodec, 'dhcp-message'],
  [57, 'max-message-size', u16Codec, 'dhcp-max-message-size', 'maximum-dhcp-message-size'],
  [58, 'renewal-time', u32Codec, 'dhcp-renewal-time', 'renewal-time-value'],
  [59, 'rebinding-time', u32Codec, 'dhcp-rebinding-time', 'rebinding-time-value'],
  [60, 'vendor-class-identifier', stringCodec, 'vendor-class'],
  [61, 'client-identifier', clientIdCodec, 'dhcp-client-identifier', 'client-id'],
  [62, 'netware-ip-domain', stringCodec],
  [63, 'netware-ip-information', bytesCodec],
  [64, 'nis-plus-domain', stringCodec, 'nisplus-domain'],
  [65, 'nis-plus-servers', ipList, 'nisplus-servers'],
  [66, 'tftp-server-name', stringCodec, 'tftp-server'],
  [67, 'bootfile-name', stringCodec, 'bootfile'],
  [68, 'mobile-ip-home-agent', ipList0],
  [69, 'smtp-server', ipList],
  [70, 'pop3-server', ipList],
  [71, 'nntp-server', ipList],
  [72, 'www-server', ipList],
  [73, 'finger-server', ipList],
  [74, 'irc-server', ipList],
  [75, 'streettalk-server', ipList],
  [76, 'streettalk-directory-assistance-server', ipList, 'stda-server'],
  [77, 'user-class', userClassCodec],
  [78, 'slp-directory-agent', bytesCodec],
  [79, 'slp-service-scope', bytesCodec],
  [81, 'client-fqdn', fqdnCodec, 'fqdn'],
  [82, 'relay-agent-information', relayAgentCodec, 'agent-information', 'relay-agent'],
  [85, 'nds-servers', ipList],
  [86, 'nds-tree-name', stringCodec],
  [87, 'nds-context', stringCodec],
  [90, 'authentication', bytesCodec],
  [91, 'client-last-transaction-time', u32Codec],
  [92, 'associated-ip', ipList],
  [93, 'client-system-architecture', clientArchCodec, 'pxe-system-type', 'client-arch'],
  [94, 'client-network-interface', clientNdiCodec, 'pxe-interface-id', 'client-ndi'],
  [97, 'client-machine-identifier', machineIdCodec, 'pxe-client-id', 'uuid-guid'],
  [100, 'pcode', stringCodec, 'posix-timezone'],
  [101, 'tcode', stringCodec, 'tzdb-timezone'],
  [108, 'ipv6-only-preferred', u32Codec],
  [114, 'captive-portal', stringCodec],
  [116, 'auto-config', u8Codec],
  [118, 'subnet-selection', ipCodec],
  [119, 'domain-search', domainSearchCodec, 'domain-search-list'],
  [120, 'sip-servers', sipServersCodec, 'sip-server'],
  [121, 'classless-static-route', classlessRoutesCodec, 'classless-static-routes', 'rfc3442-classless-static-routes'],
  [124, 'vi-vendor-class', viVendorClassCodec, 'vivco'],
  [125, 'vi-vendor-specific', viVendorSpecificCodec, 'vivso'],
  [150, 'tftp-server-address', ipList, 'tftp-server-addresses', 'cisco-tftp-servers'],
  [160, 'provisioning-url', stringCodec, 'audiocodes-provisioning-url'],
  [176, 'avaya-site-specific', avayaCodec, 'avaya-176'],
  [242, 'avaya-242', avayaCodec, 'avaya-site-specific-242'],
] as const satisfies ReadonlyArray<readonly [number, string, AnyCodec, ...string[]]>;

// ------------------------------------------------------------------------------------ typed access

type Row = (typeof TABLE)[number];
// Type-level only: `any` in the other parameter lets a codec of any input (contravariant) or value match.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ValueOfCodec<C> = C extends OptionCodec<infer T, any> ? T : never;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type InputOfCodec<C> = C extends OptionCodec<any, infer In> ? In : never;
/** Every spelling of a row: its name, aliases, `option-N` and the code as digits. */
type KeysOf<R> = R extends readonly [
  infer C extends number,
  infer N extends string,
  unknown,
  ...infer A extends readonly string[],
]
  ? N | A[number] | `option-${C}` | `${C}`
  : never;

/** A registered option's code. */
export type OptionCode = Row[0];
/** A registered option's name, alias, `option-N` or code in digits, as lookupOption reads them. */
export type OptionName = KeysOf<Row>;
/** The value each registered option decodes to, by code: `OptionValues[242]` is `AvayaList`. */
export type OptionValues = { [R in Row as R[0]]: ValueOfCodec<R[2]> };
/** What each registered option is built from, by code (the decoded value, or a type it fits). */
export type OptionInputs = { [R in Row as R[0]]: InputOfCodec<R[2]> };
type CodeByName = { [R in Row as KeysOf<R>]: R[0] };

/** An option by code (1..254) or by name: `242`, `'avaya-242'`, `'router'`, `'option-224'`, `'66'`. */
export type OptionKey = number | string;

/** The registered code a key names at compile time; never for a key that is not a literal of one. */
export type OptionCodeOf<K> = K extends OptionCode ? K : K extends keyof CodeByName ? CodeByName[K] : never;

type Resolved<K, Map, Unregistered> = number extends K
  ? unknown
  : string extends K
    ? unknown
    : [OptionCodeOf<K>] extends [never]
      ? K extends number | `option-${number}`
        ? Unregistered // a code without an entry: bytes
        : unknown
      : Map[OptionCodeOf<K> & keyof Map];

/**
 * The value an option decodes to, from its key: `OptionValue<242>` and `OptionValue<'avaya-242'>` are
 * `AvayaList`; a code without an entry is `Buffer`; a key known only at run time is `unknown`.
 */
export type OptionValue<K> = Resolved<K, OptionValues, Buffer>;
/** What an option is built from, from its key (see OptionValue). */
export type OptionInput<K> = Resolved<K, OptionInputs, Uint8Array>;

/** One option ready for buildDhcp: its code and value bytes. */
export type OptionEntry = [code: number, value: Buffer];

// ------------------------------------------------------------------------------------------ lookup

const BY_CODE = new Map<number, OptionDef>();
const BY_NAME = new Map<string, OptionDef>();
const ROWS = TABLE as ReadonlyArray<readonly [number, string, AnyCodec, ...string[]]>;
for (const [code, name, codec, ...aliases] of ROWS) {
  const def: OptionDef = { code, name, aliases, codec, registered: true };
  BY_CODE.set(code, def);
  BY_NAME.set(name, def);
  for (const a of aliases) if (!BY_NAME.has(a)) BY_NAME.set(a, def);
}

/** Every registered option, by code. */
export const OPTION_DEFS: readonly OptionDef[] = [...BY_CODE.values()];

const GENERIC: OptionDef[] = [];

/** The entry of any byte value: a registered one, or bytes named `option-N` (`pad`, `end` for 0, 255). */
function entryOf(code: number): OptionDef {
  const known = BY_CODE.get(code);
  if (known) return known;
  return (GENERIC[code] ??= {
    code,
    name: code === 0 ? 'pad' : code === 255 ? 'end' : `option-${code}`,
    aliases: [],
    codec: bytesCodec,
    registered: false,
  });
}

/**
 * The one lookup of an option: by code (1..254, a number or its digits) or by name (the registry's
 * name, an ISC or Wireshark alias, or `option-N`; case-insensitive, `_` read as `-`). A code without a
 * registry entry gets a bytes entry named `option-N` (`registered: false`). Undefined for 0, 255,
 * anything outside 1..254 and unknown names. Typed: `lookupOption(242).codec` is Avaya's list codec.
 */
export function lookupOption<K extends OptionCode | OptionName>(key: K): OptionDef<OptionValue<K>, OptionInput<K>>;
export function lookupOption<K extends OptionKey>(key: K): OptionDef<OptionValue<K>, OptionInput<K>> | undefined;
export function lookupOption(key: OptionKey): OptionDef | undefined {
  if (typeof key === 'number') return Number.isInteger(key) && key >= 1 && key <= 254 ? entryOf(key) : undefined;
  if (typeof key !== 'string') return undefined;
  const k = key.trim().toLowerCase().replaceAll('_', '-');
  const known = BY_NAME.get(k);
  if (known) return known;
  const m = /^(?:option-)?([0-9]{1,3})$/.exec(k);
  return m ? lookupOption(Number(m[1])) : undefined;
}

/**
 * One configuration entry to option bytes: `optionFromConfig("router", "10.77.0.1")`. Throws
 * DhcpConfigError whose message starts with the option: `option 3 (router): ...`.
 */
export function optionFromConfig(
  key: string | number,
  input: OptionConfigValue,
): { code: number; name: string; value: Buffer } {
  const def = lookupOption(key);
  if (!def) throw new DhcpConfigError(`unknown DHCP option ${show(key)} (use a code 1..254 or a name)`);
  let value: Buffer;
  try {
    value = def.codec.fromConfig(input);
  } catch (e) {
    throw new DhcpConfigError(`option ${def.code} (${def.name}): ${(e as Error).message}`);
  }
  return { code: def.code, name: def.name, value };
}

/**
 * One option from its typed value, the inverse of decodeOption: `encodeOption(242, avayaList({ ... }))`,
 * `encodeOption('router', ['10.77.0.1'])`, `encodeOption(224, bytes)` for a code without an entry. The
 * value is checked at run time; one the option cannot carry throws DhcpOptionError naming the option
 * (never bytes the caller did not give). The entry goes to buildDhcp's `options`.
 */
export function encodeOption<K extends OptionKey>(key: K, value: OptionInput<K>): OptionEntry {
  const def = lookupOption(key);
  if (!def) {
    const code = typeof key === 'number' ? key : NaN;
    throw new DhcpOptionError(
      code,
      typeof key === 'number' ? `option-${key}` : String(key),
      'not a DHCP option (use a code 1..254 or a name)',
    );
  }
  try {
    return [def.code, def.codec.encode(value)];
  } catch (e) {
    throw new DhcpOptionError(def.code, def.name, (e as Error).message, { cause: e });
  }
}

/** A decoded option: its value typed when the bytes fit the option's type, else the raw view and why. */
export type DecodedOption<T = unknown> = Decoded<T> & { readonly code: number; readonly name: string };

/**
 * One option's bytes through its codec. `vendorClass` lets option 43 be read as the vendor intends
 * (PXE). Never throws.
 */
export function decodeOption<C extends number>(
  code: C,
  view: Buffer,
  context: { vendorClass?: string } = {},
): DecodedOption<OptionValue<C>> {
  const def = entryOf(code);
  if (code === 43 && context.vendorClass !== undefined) {
    const d = decodeOption43(view, context.vendorClass);
    return { code, name: def.name, ok: true, value: d as OptionValue<C>, text: d.text, warnings: d.warnings };
  }
  return { code, name: def.name, ...(def.codec.decode(view) as Decoded<OptionValue<C>>) };
}
