/**
 * Avaya site-specific options 176 and 242: a comma-separated `NAME=value` list without spaces, e.g.
 * `MCIPADD=10.0.0.5,10.0.0.6,MCPORT=1719,TFTPSRVR=10.0.0.1`.
 *
 * A value may itself be a comma-separated address list, so a comma alone does not end a pair: a new
 * pair starts only at the next token that begins with `NAME=` (NAME = [A-Z0-9_]+). The phones accept at
 * most 127 characters per address list.
 */
import { configError, decodeText, defineCodec, okValue, type OptionCodec, type OptionConfigValue, show } from './types.js';

export const AVAYA_LIST_MAX = 127;

const PAIR_START = /^([A-Z0-9_]+)=/;
const NAME = /^[A-Z0-9_]+$/;

/**
 * Splits the text into pairs in order. Tokens before the first `NAME=` are not a pair: they are
 * reported in `warnings` (when given) and dropped.
 */
export function parseAvayaList(text: string, warnings?: string[]): Array<[name: string, value: string]> {
  const pairs: Array<[string, string]> = [];
  if (text === '') return pairs;
  for (const token of text.split(',')) {
    const m = PAIR_START.exec(token);
    if (m) pairs.push([m[1]!, token.slice(m[0].length)]);
    else if (pairs.length > 0) pairs[pairs.length - 1]![1] += ',' + token;
    else warnings?.push(`${JSON.stringify(token)} comes before any NAME=value pair`);
  }
  return pairs;
}

/** Problems a phone would trip on: address lists over 127 characters, spaces. */
export function avayaListWarnings(pairs: ReadonlyArray<readonly [string, string]>): string[] {
  const warnings: string[] = [];
  for (const [name, value] of pairs) {
    if (value.length > AVAYA_LIST_MAX) warnings.push(`${name} is ${value.length} characters, over the phones' ${AVAYA_LIST_MAX}`);
    if (/\s/.test(value)) warnings.push(`${name} contains white space, which the phones do not accept`);
  }
  return warnings;
}

/**
 * Pairs to option text. A value given as an array is an address list (joined with commas). Throws
 * DhcpConfigError for a name outside [A-Z0-9_]+ or a value containing a `,NAME=` that would read back as
 * a new pair.
 */
export function buildAvayaList(
  pairs: Iterable<readonly [string, string | readonly string[]]> | Readonly<Record<string, string | readonly string[]>>,
): string {
  const list: Iterable<readonly [string, string | readonly string[]]> =
    Symbol.iterator in pairs ? (pairs as Iterable<readonly [string, string | readonly string[]]>) : Object.entries(pairs);
  const out: string[] = [];
  for (const [name, v] of list) {
    if (!NAME.test(name)) configError(`Avaya parameter name ${show(name)} is not [A-Z0-9_]+`);
    const value = typeof v === 'string' ? v : v.join(',');
    for (const token of value.split(',').slice(1)) {
      if (PAIR_START.test(token)) configError(`value of ${name} contains ${show(token)}, which would read as a new pair`);
    }
    out.push(`${name}=${value}`);
  }
  return out.join(',');
}

export interface AvayaList {
  readonly pairs: Array<[name: string, value: string]>;
}

export const avayaCodec: OptionCodec<AvayaList> = defineCodec<AvayaList>({
  type: 'avaya-list',
  decode(view) {
    const text = decodeText(view);
    const warnings: string[] = [];
    const pairs = parseAvayaList(text, warnings);
    warnings.push(...avayaListWarnings(pairs));
    return okValue({ pairs }, text, warnings);
  },
  encode: (value) => Buffer.from(buildAvayaList(value.pairs), 'utf8'),
  fromConfig(input: OptionConfigValue) {
    if (typeof input === 'string') {
      // Validate the text reads back as pairs, so a typo does not reach hundreds of phones.
      const warnings: string[] = [];
      parseAvayaList(input, warnings);
      if (warnings.length > 0) configError(`Avaya list ${show(input)}: ${warnings[0]}`);
      return Buffer.from(input, 'utf8');
    }
    if (Array.isArray(input)) {
      // ["MCIPADD=10.0.0.5,10.0.0.6", "MCPORT=1719"]
      return avayaCodec.fromConfig(input.map((x) => (typeof x === 'string' ? x : configError(`expected NAME=value strings, got ${show(x)}`))).join(','));
    }
    if (typeof input === 'object' && input !== null) {
      const pairs: Array<[string, string | string[]]> = [];
      for (const [k, v] of Object.entries(input as Record<string, OptionConfigValue>)) {
        if (typeof v === 'string') pairs.push([k, v]);
        else if (typeof v === 'number') pairs.push([k, String(v)]);
        else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) pairs.push([k, v as string[]]);
        else configError(`Avaya parameter ${k}: expected a string or a list of strings, got ${show(v)}`);
      }
      return Buffer.from(buildAvayaList(pairs), 'utf8');
    }
    return configError(`expected "NAME=value,..." text or an object of NAME: value, got ${show(input)}`);
  },
});
