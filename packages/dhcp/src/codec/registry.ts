/**
 * Option registry: code <-> name <-> value codec.
 *
 * Names are lowercase with dashes, as Wireshark and ISC spell them; ISC dhcpd's own spellings
 * (`routers`, `domain-name-servers`, `dhcp-lease-time`, ...) are accepted as aliases, and so is
 * `option-N` for any code. A code without an entry decodes as bytes under the name `option-N`.
 */
import { avayaCodec } from './avaya.js';
import { DhcpConfigError } from './errors.js';
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

export interface OptionDef<T = unknown> {
  readonly code: number;
  readonly name: string;
  readonly aliases: readonly string[];
  readonly codec: OptionCodec<T>;
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
    if (typeof input === 'string' && !/^[0-9]+$/.test(input) && n === undefined) configError(`unknown message type ${show(input)}`);
    return n !== undefined ? Buffer.from([n]) : u8Codec.fromConfig(input);
  },
});

// ----------------------------------------------------------------------------------- 55 request list

const paramListCodec: OptionCodec<number[]> = defineCodec<number[]>({
  type: 'option-list',
  decode(view) {
    const list = [...view];
    return okValue(list, list.map((c) => `${c} (${optionByCode(c)?.name ?? '?'})`).join(', '));
  },
  encode: (list) => uintListCodec(1).encode(list),
  fromConfig(input) {
    // [1, 3, "domain-name-server", "66"]
    const items = typeof input === 'string' ? input.split(/[\s,]+/).filter(Boolean) : Array.isArray(input) ? input : [input];
    return Buffer.from(
      items.map((x) => {
        const def = typeof x === 'string' || typeof x === 'number' ? resolveOption(x) : undefined;
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
const TABLE: ReadonlyArray<readonly [number, string, OptionCodec<unknown>, ...string[]]> = [
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
];

const BY_CODE = new Map<number, OptionDef>();
const BY_NAME = new Map<string, OptionDef>();
for (const [code, name, codec, ...aliases] of TABLE) {
  const def: OptionDef = { code, name, aliases, codec };
  BY_CODE.set(code, def);
  BY_NAME.set(name, def);
  for (const a of aliases) if (!BY_NAME.has(a)) BY_NAME.set(a, def);
}

/** Every registered option, by code. */
export const OPTION_DEFS: readonly OptionDef[] = [...BY_CODE.values()];

const GENERIC = new Map<number, OptionDef>();

/** The registry entry of a code, or undefined for a code without one. */
export function optionByCode(code: number): OptionDef | undefined {
  return BY_CODE.get(code);
}

/** The entry of a code, or a bytes entry named `option-N` (codes 0 and 255 included). */
export function optionDef(code: number): OptionDef {
  const known = BY_CODE.get(code);
  if (known) return known;
  let g = GENERIC.get(code);
  if (!g) GENERIC.set(code, (g = { code, name: code === 0 ? 'pad' : code === 255 ? 'end' : `option-${code}`, aliases: [], codec: bytesCodec }));
  return g;
}

/** By name or alias; case-insensitive, `_` read as `-`; `option-N` finds any code 1..254. */
export function optionByName(name: string): OptionDef | undefined {
  const key = name.trim().toLowerCase().replaceAll('_', '-');
  const known = BY_NAME.get(key);
  if (known) return known;
  const m = /^option-([0-9]{1,3})$/.exec(key);
  const code = m ? Number(m[1]) : NaN;
  return code >= 1 && code <= 254 ? optionDef(code) : undefined;
}

/** A configuration key: a code (number or digits, 1..254) or a name. */
export function resolveOption(key: string | number): OptionDef | undefined {
  if (typeof key === 'number') return Number.isInteger(key) && key >= 1 && key <= 254 ? optionDef(key) : undefined;
  if (/^\s*[0-9]+\s*$/.test(key)) return resolveOption(Number(key));
  return optionByName(key);
}

/**
 * One configuration entry to option bytes: `optionFromConfig("router", "10.77.0.1")`. Throws
 * DhcpConfigError whose message starts with the option: `option 3 (router): ...`.
 */
export function optionFromConfig(key: string | number, input: OptionConfigValue): { code: number; name: string; value: Buffer } {
  const def = resolveOption(key);
  if (!def) throw new DhcpConfigError(`unknown DHCP option ${show(key)} (use a code 1..254 or a name)`);
  let value: Buffer;
  try {
    value = def.codec.fromConfig(input);
  } catch (e) {
    throw new DhcpConfigError(`option ${def.code} (${def.name}): ${(e as Error).message}`);
  }
  return { code: def.code, name: def.name, value };
}

export type DecodedOption = Decoded<unknown> & { readonly code: number; readonly name: string };

/**
 * One option's bytes through its codec. `vendorClass` lets option 43 be read as the vendor intends
 * (PXE). Never throws.
 */
export function decodeOption(code: number, view: Buffer, context: { vendorClass?: string } = {}): DecodedOption {
  const def = optionDef(code);
  if (code === 43 && context.vendorClass !== undefined) {
    const d = decodeOption43(view, context.vendorClass);
    return { code, name: def.name, ok: true, value: d, text: d.text, warnings: d.warnings };
  }
  return { code, name: def.name, ...def.codec.decode(view) };
}
