/**
 * Avaya site-specific options 176 and 242: a comma-separated `NAME=value` list without spaces, e.g.
 * `MCIPADD=10.0.0.5,10.0.0.6,MCPORT=1719,TFTPSRVR=10.0.0.1`.
 *
 * A value may itself be a comma-separated address list, so a comma alone does not end a pair: a new
 * pair starts only at the next token that begins with `NAME=` (NAME = [A-Z0-9_]+). The phones accept at
 * most 127 characters per address list.
 */
import {
  configError,
  decodeText,
  defineCodec,
  expectList,
  expectValue,
  okValue,
  type OptionCodec,
  type OptionConfigValue,
  show,
  textBytes,
} from './types.js';

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

/** Parameters that hold address lists (TFTPSRVR, MCIPADD, SIP_CONTROLLER_LIST, ...). */
const ADDRESS_LIST = /SRVR|ADD|LIST/;

/** Problems a phone would trip on: address lists over 127 characters, spaces. */
export function avayaListWarnings(pairs: ReadonlyArray<readonly [string, string]>): string[] {
  const warnings: string[] = [];
  for (const [name, value] of pairs) {
    if (value.length > AVAYA_LIST_MAX && ADDRESS_LIST.test(name))
      warnings.push(`${name} is ${value.length} characters, over the phones' ${AVAYA_LIST_MAX}`);
    if (/\s/.test(value)) warnings.push(`${name} contains white space, which the phones do not accept`);
  }
  return warnings;
}

/**
 * Pairs to option text; throws RangeError (TypeError for a value that is not text) for a name outside
 * [A-Z0-9_]+ or a value containing a `,NAME=` that would read back as a new pair: a phone would take
 * it for a parameter nobody set.
 */
function avayaText(pairs: ReadonlyArray<readonly [string, string]>): string {
  expectList(pairs, 'pairs as a list of [NAME, value]');
  const out: string[] = [];
  for (const pair of pairs) {
    expectValue(
      Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && typeof pair[1] === 'string',
      'a pair [NAME, value] of strings',
      pair,
    );
    const [name, value] = pair;
    if (!NAME.test(name)) throw new RangeError(`Avaya parameter name ${show(name)} is not [A-Z0-9_]+`);
    for (const token of value.split(',').slice(1)) {
      if (PAIR_START.test(token))
        throw new RangeError(`value of ${name} contains ${show(token)}, which would read as a new pair`);
    }
    out.push(`${name}=${value}`);
  }
  return out.join(',');
}

/** Options 176 and 242: the NAME=value pairs in order (a name may repeat: the phone takes the last). */
export interface AvayaList {
  readonly pairs: ReadonlyArray<readonly [name: string, value: string]>;
}

/**
 * An AvayaList from parameters in the order given; a value given as a list is an address list, joined
 * with commas: `avayaList({ MCIPADD: ['10.0.0.5', '10.0.0.6'], MCPORT: '1719' })`. Names and values are
 * checked when the list is encoded (encodeOption names the option).
 */
export function avayaList(
  params:
    Readonly<Record<string, string | readonly string[]>> | Iterable<readonly [string, string | readonly string[]]>,
): AvayaList {
  const list: Iterable<readonly [string, string | readonly string[]]> =
    Symbol.iterator in params ? params : Object.entries(params);
  const pairs: Array<[string, string]> = [];
  for (const [name, v] of list) pairs.push([name, Array.isArray(v) ? v.join(',') : (v as string)]);
  return { pairs };
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
  encode(value) {
    expectValue(typeof value === 'object' && value !== null, 'an Avaya list { pairs }', value);
    return textBytes(avayaText(value.pairs), 'the list');
  },
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
      return avayaCodec.fromConfig(
        input
          .map((x) => (typeof x === 'string' ? x : configError(`expected NAME=value strings, got ${show(x)}`)))
          .join(','),
      );
    }
    if (typeof input === 'object' && input !== null) {
      const pairs: Array<[string, string]> = [];
      for (const [k, v] of Object.entries(input as Record<string, OptionConfigValue>)) {
        if (typeof v === 'string') pairs.push([k, v]);
        else if (typeof v === 'number') pairs.push([k, String(v)]);
        else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) pairs.push([k, v.join(',')]);
        else configError(`Avaya parameter ${k}: expected a string or a list of strings, got ${show(v)}`);
      }
      try {
        return Buffer.from(avayaText(pairs), 'utf8');
      } catch (e) {
        return configError((e as Error).message);
      }
    }
    return configError(`expected "NAME=value,..." text or an object of NAME: value, got ${show(input)}`);
  },
});
