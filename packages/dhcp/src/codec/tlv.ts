/**
 * Code/length/value sub-options, as found inside options 43, 82 and 125.
 *
 * Parsing never throws: it stops at the first item that runs past the end, keeps what came before and
 * hands back the rest as `trailing`, so a caller can show it and nothing is lost.
 */
import { configError, expectBytes, expectList, expectValue, hexConfig, type OptionConfigValue, show } from './types.js';

export interface SubOption {
  readonly code: number;
  /** View of the sub-option's bytes. */
  readonly value: Buffer;
}

export interface TlvParse {
  readonly items: SubOption[];
  /** True when the items cover the bytes exactly (with pads and an End, when those are allowed). */
  readonly complete: boolean;
  /** The bytes from the first item that did not fit, when not complete. */
  readonly trailing?: Buffer;
  readonly problem?: string;
}

/**
 * Splits `view` into sub-options. With `padEnd`, code 0 is a one-byte pad and 255 ends the list (as in
 * options 43 per RFC 2132 §8.4 and PXE); only zeros may follow the End.
 */
export function parseTlv(view: Buffer, padEnd: boolean): TlvParse {
  const items: SubOption[] = [];
  let at = 0;
  while (at < view.length) {
    const code = view[at]!;
    if (padEnd && code === 0) {
      at++;
      continue;
    }
    if (padEnd && code === 255) {
      for (let i = at + 1; i < view.length; i++) {
        if (view[i] !== 0) {
          return {
            items,
            complete: false,
            trailing: view.subarray(at),
            problem: `bytes after the End sub-option at ${at}`,
          };
        }
      }
      return { items, complete: true };
    }
    if (at + 1 >= view.length) {
      return {
        items,
        complete: false,
        trailing: view.subarray(at),
        problem: `sub-option ${code} at ${at} has no length byte`,
      };
    }
    const len = view[at + 1]!;
    if (at + 2 + len > view.length) {
      return {
        items,
        complete: false,
        trailing: view.subarray(at),
        problem: `sub-option ${code} at ${at} claims ${len} bytes, ${view.length - at - 2} remain`,
      };
    }
    items.push({ code, value: view.subarray(at + 2, at + 2 + len) });
    at += 2 + len;
  }
  return { items, complete: true };
}

/**
 * Sub-options back to bytes, in the order given. A value over 255 bytes cannot be a sub-option; with
 * `padEnd` (option 43), codes 0 and 255 are Pad and End, so not sub-options either.
 */
export function encodeTlv(items: readonly SubOption[], padEnd = false): Buffer {
  expectList(items, 'a list of sub-options { code, value }');
  const [lo, hi] = padEnd ? [1, 254] : [0, 255];
  const parts: Buffer[] = [];
  for (const item of items) {
    expectValue(typeof item === 'object' && item !== null, 'a sub-option { code, value }', item);
    const { code, value } = item;
    if (!Number.isInteger(code) || code < lo || code > hi)
      throw new RangeError(`sub-option code ${show(code)} is not in ${lo}..${hi}`);
    expectBytes(value, `sub-option ${code}'s value`);
    if (value.length > 255) throw new RangeError(`sub-option ${code} is ${value.length} bytes, over 255`);
    parts.push(Buffer.from([code, value.length]), value);
  }
  return Buffer.concat(parts);
}

/**
 * A sub-option value from config: a string is text (or `0x` hex), an array of strings is joined with
 * commas (address lists). Numbers are refused: "1": 6889 could mean text or a binary integer.
 */
export function subOptionFromConfig(input: OptionConfigValue, where: string): Buffer {
  const hex = hexConfig(input);
  if (hex) return hex;
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  if (Array.isArray(input) && input.every((x) => typeof x === 'string')) return Buffer.from(input.join(','), 'utf8');
  return configError(`${where}: write the value as text or 0x hex (a number is ambiguous), got ${show(input)}`);
}

/**
 * `{"1": "6889", "2": "10.0.0.1"}` to sub-options; keys are codes 1..254 (or names via `codeOf`). They go
 * out in code order: a JSON object cannot keep the written order of numeric keys, so none is promised.
 */
export function tlvFromConfig(
  input: OptionConfigValue,
  where: string,
  codeOf: (key: string) => number | undefined = () => undefined,
): SubOption[] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return configError(`${where}: expected an object of sub-options {"code": value}, got ${show(input)}`);
  }
  const items: SubOption[] = [];
  for (const [key, v] of Object.entries(input as Record<string, OptionConfigValue>)) {
    const code = /^[0-9]+$/.test(key) ? Number(key) : codeOf(key);
    if (code === undefined || code < 1 || code > 254)
      configError(`${where}: sub-option key ${show(key)} is not a code in 1..254`);
    const value = subOptionFromConfig(v, `${where} sub-option ${key}`);
    if (value.length > 255) configError(`${where}: sub-option ${key} is ${value.length} bytes, over 255`);
    items.push({ code, value });
  }
  return items.sort((a, b) => a.code - b.code);
}
