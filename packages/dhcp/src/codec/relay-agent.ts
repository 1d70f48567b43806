/**
 * Option 82, relay agent information (RFC 3046): sub-options kept in wire order, the common ones named
 * and shown as text, unknown ones raw. A sub-option that runs past the end stops the parse with a
 * warning; its bytes stay in `trailing`.
 */
import { encodeTlv, parseTlv, type SubOption, tlvFromConfig } from './tlv.js';
import {
  configError,
  defineCodec,
  displayBytes,
  expectBytes,
  expectValue,
  hexText,
  ipAt,
  okValue,
  type OptionCodec,
  type OptionConfigValue,
  show,
} from './types.js';

export const RELAY_AGENT_SUBOPTIONS: Readonly<Record<number, string>> = {
  1: 'circuit-id',
  2: 'remote-id',
  4: 'docsis-device-class', // RFC 3256
  5: 'link-selection', // RFC 3527
  6: 'subscriber-id', // RFC 3993
  7: 'radius-attributes', // RFC 4014
  8: 'authentication', // RFC 4030
  9: 'vendor-specific', // RFC 4243
  10: 'relay-agent-flags', // RFC 5010
  11: 'server-id-override', // RFC 5107
  12: 'relay-id', // RFC 6925
  151: 'vss', // RFC 6607 virtual subnet selection
  152: 'vss-control',
};

const SUBOPTION_CODES: ReadonlyMap<string, number> = new Map(
  Object.entries(RELAY_AGENT_SUBOPTIONS).map(([c, n]) => [n, Number(c)]),
);

/** What option 82 is built from: sub-options in order (`trailing`, bytes that are no sub-option, only as read). */
export interface RelayAgentInput {
  readonly subOptions: readonly SubOption[];
  readonly trailing?: Uint8Array;
}

export interface RelayAgentInfo extends RelayAgentInput {
  /** Sub-option 1, first instance. */
  readonly circuitId?: Buffer;
  /** Sub-option 2, first instance. */
  readonly remoteId?: Buffer;
  /** Every sub-option in wire order. */
  readonly subOptions: SubOption[];
  /** Bytes from a sub-option that ran past the end, when any. */
  readonly trailing?: Buffer;
  readonly warnings: string[];
}

export function decodeRelayAgent(view: Buffer): RelayAgentInfo {
  const tlv = parseTlv(view, false);
  const warnings = tlv.problem ? [`relay agent information: ${tlv.problem}`] : [];
  const circuitId = tlv.items.find((s) => s.code === 1)?.value;
  const remoteId = tlv.items.find((s) => s.code === 2)?.value;
  return {
    ...(circuitId && { circuitId }),
    ...(remoteId && { remoteId }),
    subOptions: tlv.items,
    ...(tlv.trailing && { trailing: tlv.trailing }),
    warnings,
  };
}

export function encodeRelayAgent(subOptions: readonly SubOption[]): Buffer {
  return encodeTlv(subOptions);
}

/** One sub-option for display: addresses for 5 and 11, enterprise-numbered data for 9, else text or hex. */
export function describeRelaySubOption(s: SubOption): string {
  const name = RELAY_AGENT_SUBOPTIONS[s.code] ?? `sub-option-${s.code}`;
  const v = s.value;
  if ((s.code === 5 || s.code === 11) && v.length === 4) return `${name}=${ipAt(v, 0)}`;
  if (s.code === 9) {
    // RFC 4243: enterprise (4), data length (1), data, repeated.
    const parts: string[] = [];
    let at = 0;
    while (at + 5 <= v.length && at + 5 + v[at + 4]! <= v.length) {
      parts.push(`${v.readUInt32BE(at)}:${hexText(v.subarray(at + 5, at + 5 + v[at + 4]!))}`);
      at += 5 + v[at + 4]!;
    }
    if (at === v.length) return `${name}=${parts.join(',')}`;
  }
  if (s.code === 151 && v.length >= 1) return `${name}=type ${v[0]} ${hexText(v.subarray(1))}`;
  return `${name}=${displayBytes(v)}`;
}

export const relayAgentCodec: OptionCodec<RelayAgentInfo, RelayAgentInput> = defineCodec<
  RelayAgentInfo,
  RelayAgentInput
>({
  type: 'relay-agent',
  decode(view) {
    const info = decodeRelayAgent(view);
    const text =
      info.subOptions.map(describeRelaySubOption).join(' ') + (info.trailing ? ` +${hexText(info.trailing)}` : '');
    return okValue(info, text, info.warnings);
  },
  encode(value) {
    expectValue(typeof value === 'object' && value !== null, 'relay agent information { subOptions }', value);
    if (value.trailing !== undefined) expectBytes(value.trailing, 'trailing');
    return Buffer.concat([encodeTlv(value.subOptions), value.trailing ?? Buffer.alloc(0)]);
  },
  fromConfig(input: OptionConfigValue) {
    // {"circuit-id": "eth0/1", "2": "0x001122"}
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return configError(`expected {"sub-option": value}, got ${show(input)}`);
    }
    return encodeTlv(tlvFromConfig(input, 'option 82', (k) => SUBOPTION_CODES.get(k)));
  },
});
