/**
 * Option 43, vendor-specific information. Its bytes mean what the vendor class (option 60) says:
 * - Avaya 96xx: TLV whose sub-option 1 is "6889" (Avaya's enterprise number), then 2 HTTPSRVR ...
 *   15 SIP_CONTROLLER_LIST, all as text;
 * - PXE (vendor class starting "PXEClient"): TLV with PXE's sub-options (RFC 4578, PXE 2.1);
 * - any other well-formed TLV (RFC 2132 §8.4 encapsulated options);
 * - otherwise raw bytes (some vendors put plain text here).
 */
import { DhcpOptionError } from './errors.js';
import { encodeTlv, parseTlv, type SubOption, subOptionFromConfig, tlvFromConfig } from './tlv.js';
import {
  configError,
  decodeText,
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

export const AVAYA_ENTERPRISE = '6889';

export const AVAYA_43_NAMES: Readonly<Record<number, string>> = {
  1: 'ENTERPRISE',
  2: 'HTTPSRVR',
  3: 'HTTPDIR',
  4: 'HTTPPORT',
  5: 'TLSSRVR',
  6: 'TLSDIR',
  7: 'TLSPORT',
  8: 'TLSSRVRID',
  9: 'L2Q',
  10: 'L2QVLAN',
  11: 'PHY1STAT',
  12: 'PHY2STAT',
  13: 'PROCSTAT',
  14: 'SIG',
  15: 'SIP_CONTROLLER_LIST',
};

export const PXE_43_NAMES: Readonly<Record<number, string>> = {
  1: 'PXE_MTFTP_IP',
  2: 'PXE_MTFTP_CPORT',
  3: 'PXE_MTFTP_SPORT',
  4: 'PXE_MTFTP_TMOUT',
  5: 'PXE_MTFTP_DELAY',
  6: 'PXE_DISCOVERY_CONTROL',
  7: 'PXE_DISCOVERY_MCAST_ADDR',
  8: 'PXE_BOOT_SERVERS',
  9: 'PXE_BOOT_MENU',
  10: 'PXE_MENU_PROMPT',
  11: 'PXE_MCAST_ADDRS_ALLOC',
  12: 'PXE_CREDENTIAL_TYPES',
  71: 'PXE_BOOT_ITEM',
  255: 'PXE_END',
};

const AVAYA_CODES: ReadonlyMap<string, number> = new Map(
  Object.entries(AVAYA_43_NAMES).map(([c, n]) => [n, Number(c)]),
);

export interface Option43SubOption extends SubOption {
  readonly name?: string;
  /** The value for display: Avaya values as text, PXE values parsed, others quoted text or hex. */
  readonly text: string;
}

interface Option43Read {
  /** In wire order; empty for the raw form. */
  readonly subOptions: Option43SubOption[];
  /** The whole option's bytes. */
  readonly raw: Buffer;
  readonly text: string;
  readonly warnings: string[];
}

/** Option 43 as read: Avaya's (sub-option 1 "6889"), PXE's (option 60 PXEClient), other TLV, or opaque bytes. */
export type Option43 =
  (Option43Read & { readonly form: 'avaya' | 'pxe' | 'tlv' }) | (Option43Read & { readonly form: 'raw' });

/**
 * What option 43 is built from: sub-options in the order given (`form: 'avaya'` checks that sub-option
 * 1 is "6889"), or opaque bytes. Every decoded Option43 is one. avaya43() makes Avaya's from names.
 */
export type Option43Input =
  | { readonly form?: 'avaya' | 'pxe' | 'tlv'; readonly subOptions: readonly SubOption[] }
  | { readonly form: 'raw'; readonly raw: Uint8Array };

function pxeText(code: number, v: Buffer): string | undefined {
  switch (code) {
    case 1:
    case 7:
      return v.length === 4 ? ipAt(v, 0) : undefined;
    case 2:
    case 3:
      return v.length === 2 ? String(v.readUInt16BE(0)) : undefined;
    case 4:
    case 5:
      return v.length === 1 ? `${v[0]} s` : undefined;
    case 6: {
      if (v.length !== 1) return undefined;
      const bits = ['no-broadcast', 'no-multicast', 'server-list-only', 'bootfile-from-dhcp'].filter(
        (_, i) => v[0]! & (1 << i),
      );
      return `0x${v[0]!.toString(16).padStart(2, '0')}${bits.length ? ` (${bits.join(', ')})` : ''}`;
    }
    case 8: {
      // Boot servers: type (2), count (1), count x IPv4, repeated.
      const parts: string[] = [];
      let at = 0;
      while (at + 3 <= v.length) {
        const type = v.readUInt16BE(at);
        const n = v[at + 2]!;
        if (at + 3 + 4 * n > v.length) return undefined;
        const ips: string[] = [];
        for (let i = 0; i < n; i++) ips.push(ipAt(v, at + 3 + 4 * i));
        parts.push(`type ${type}: ${ips.join(', ')}`);
        at += 3 + 4 * n;
      }
      return at === v.length ? parts.join('; ') : undefined;
    }
    case 9: {
      // Boot menu: type (2), description length (1), description, repeated.
      const parts: string[] = [];
      let at = 0;
      while (at + 3 <= v.length) {
        const type = v.readUInt16BE(at);
        const n = v[at + 2]!;
        if (at + 3 + n > v.length) return undefined;
        parts.push(`${type} ${JSON.stringify(v.toString('latin1', at + 3, at + 3 + n))}`);
        at += 3 + n;
      }
      return at === v.length ? parts.join('; ') : undefined;
    }
    case 10:
      return v.length >= 1 ? `timeout ${v[0]} s, ${JSON.stringify(v.toString('latin1', 1))}` : undefined;
    case 71:
      return v.length === 4 ? `type ${v.readUInt16BE(0)} layer ${v.readUInt16BE(2)}` : undefined;
    default:
      return undefined;
  }
}

/** Decodes option 43 as the vendor class says. Never throws. */
export function decodeOption43(view: Buffer, vendorClass?: string): Option43 {
  const tlv = parseTlv(view, true);
  const warnings: string[] = [];
  const pxe = vendorClass?.startsWith('PXEClient') ?? false;
  if (!tlv.complete || tlv.items.length === 0) {
    if (pxe) warnings.push(`PXE option 43 is not well-formed: ${tlv.problem ?? 'no sub-options'}`);
    const text = view.length > 0 && !pxe ? displayBytes(view) : hexText(view);
    return { form: 'raw', subOptions: [], raw: view, text, warnings };
  }
  const ent = tlv.items.find((s) => s.code === 1);
  if (ent && decodeText(ent.value) === AVAYA_ENTERPRISE) {
    const subOptions = tlv.items.map((s) => ({ ...s, name: AVAYA_43_NAMES[s.code], text: decodeText(s.value) }));
    return {
      form: 'avaya',
      subOptions,
      raw: view,
      text: subOptions.map((s) => `${s.name ?? s.code}=${s.text}`).join(' '),
      warnings,
    };
  }
  if (pxe) {
    const subOptions = tlv.items.map((s) => {
      const parsed = pxeText(s.code, s.value);
      if (parsed === undefined && PXE_43_NAMES[s.code] && s.code !== 12) {
        warnings.push(`PXE sub-option ${s.code} (${PXE_43_NAMES[s.code]}) has an unexpected length ${s.value.length}`);
      }
      return { ...s, name: PXE_43_NAMES[s.code], text: parsed ?? hexText(s.value) };
    });
    return {
      form: 'pxe',
      subOptions,
      raw: view,
      text: subOptions.map((s) => `${s.name ?? s.code}=${s.text}`).join(' '),
      warnings,
    };
  }
  const subOptions = tlv.items.map((s) => ({ ...s, text: displayBytes(s.value) }));
  return { form: 'tlv', subOptions, raw: view, text: subOptions.map((s) => `${s.code}=${s.text}`).join(' '), warnings };
}

/**
 * Avaya's option 43 from parameter names (or sub-option codes), values as text or address lists, with
 * sub-option 1 = "6889" added, in code order: `avaya43({ HTTPSRVR: '10.0.0.1', L2QVLAN: '20' })`.
 * Throws DhcpOptionError (option 43) for a name that is not one of AVAYA_43_NAMES.
 */
export function avaya43(params: Readonly<Record<string, string | readonly string[]>>): Option43Input {
  const bad = (message: string) => new DhcpOptionError(43, 'vendor-specific', message);
  if (typeof params !== 'object' || params === null)
    throw bad(`expected Avaya parameters { NAME: value }, got ${show(params)}`);
  const subOptions: SubOption[] = [];
  for (const [key, v] of Object.entries(params)) {
    const code = /^[0-9]{1,3}$/.test(key) ? Number(key) : AVAYA_CODES.get(key);
    if (code === undefined || code < 1 || code > 254)
      throw bad(
        `${show(key)} is neither an Avaya sub-option (${[...AVAYA_CODES.keys()].join(', ')}) nor a code 1..254`,
      );
    const text: unknown = Array.isArray(v) ? v.join(',') : v;
    if (typeof text !== 'string') throw bad(`${key}: expected text or a list of addresses, got ${show(v)}`);
    subOptions.push({ code, value: Buffer.from(text, 'utf8') });
  }
  if (!subOptions.some((s) => s.code === 1)) subOptions.push({ code: 1, value: Buffer.from(AVAYA_ENTERPRISE) });
  return { form: 'avaya', subOptions: subOptions.sort((a, b) => a.code - b.code) };
}

export const option43Codec: OptionCodec<Option43, Option43Input> = defineCodec<Option43, Option43Input>({
  type: 'vendor-specific',
  decode(view) {
    const d = decodeOption43(view);
    return okValue(d, d.text, d.warnings);
  },
  encode(value) {
    expectValue(
      typeof value === 'object' && value !== null,
      'option 43 as { subOptions } or { form: "raw", raw }',
      value,
    );
    if (value.form === 'raw') {
      expectBytes(value.raw, 'raw');
      return Buffer.from(value.raw);
    }
    expectValue(
      value.form === undefined || value.form === 'avaya' || value.form === 'pxe' || value.form === 'tlv',
      "form 'avaya', 'pxe', 'tlv' or 'raw'",
      value.form,
    );
    const bytes = encodeTlv(value.subOptions, true);
    if (value.form === 'avaya') {
      const ent = value.subOptions.find((s) => s.code === 1);
      if (!ent || decodeText(Buffer.from(ent.value)) !== AVAYA_ENTERPRISE)
        throw new RangeError(`Avaya's option 43 needs sub-option 1 "${AVAYA_ENTERPRISE}"`);
    }
    return bytes;
  },
  fromConfig(input: OptionConfigValue) {
    // {"1": "6889", "2": "10.0.0.1"} or {"HTTPSRVR": "10.0.0.1"} (Avaya names: sub-option 1 "6889" is
    // added). Sub-options go out in code order, so 1 comes first.
    if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
      const items = tlvFromConfig(input, 'option 43', (k) => AVAYA_CODES.get(k));
      const named = Object.keys(input).some((k) => AVAYA_CODES.has(k));
      if (named && !items.some((s) => s.code === 1)) items.unshift({ code: 1, value: Buffer.from(AVAYA_ENTERPRISE) });
      return encodeTlv(items);
    }
    if (typeof input === 'string') return subOptionFromConfig(input, 'option 43');
    return configError(`expected {"code": value} sub-options, text or 0x hex, got ${show(input)}`);
  },
});
