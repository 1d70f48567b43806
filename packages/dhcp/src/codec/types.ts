/**
 * Value codecs for DHCP option payloads: IPv4 addresses and lists, integers, flags, strings, bytes.
 *
 * Every codec has three faces:
 * - decode(view): never throws. A value of the wrong shape (a 3-byte router, an odd-length u16 list)
 *   decodes to `{ ok: false, value: <the raw view>, text: <0x hex>, warnings }`.
 * - encode(value): typed value to bytes, the inverse of decode: what decode gave encodes back to bytes
 *   that decode to the same value. The value is checked at run time (callers may be JavaScript): one
 *   the option cannot carry throws TypeError or RangeError (encodeOption names the option), never
 *   silently truncated or coerced bytes.
 * - fromConfig(input): the JSON forms of a configuration file to bytes; throws DhcpConfigError saying
 *   what is wrong. `"0x0102ff"` (hex) is accepted by every codec and taken as the exact bytes.
 *
 * Strings keep their bytes as sent (phones NUL-terminate or NUL-pad option 60); the text and value
 * drop trailing NULs.
 */
import { isUtf8 } from 'node:buffer';
import { DhcpConfigError } from './errors.js';
import { formatIPv4 as ipAt, parseIPv4 } from '@bootwire/core';

/** What a configuration file may give for an option (JSON). */
export type OptionConfigValue =
  string | number | boolean | readonly OptionConfigValue[] | { readonly [key: string]: OptionConfigValue };

/** A decoded option value: typed when the bytes fit the type, else the raw view. */
export type Decoded<T> =
  | { readonly ok: true; readonly value: T; readonly text: string; readonly warnings: string[] }
  | { readonly ok: false; readonly value: Buffer; readonly text: string; readonly warnings: string[] };

/**
 * `T` is what decode gives; `In` what encode takes, the same type or a wider one without decode's
 * derived fields (display text, warnings, a MAC spelled out): every decoded value is a valid input.
 */
export interface OptionCodec<T = unknown, In = T> {
  /** Short type name for documentation and tools: 'ip', 'ip-list', 'u32', 'string', ... */
  readonly type: string;
  // `this: void`: codecs are plain objects whose functions are passed around alone (see defineCodec).
  decode(this: void, view: Buffer): Decoded<T>;
  encode(this: void, value: In): Buffer;
  fromConfig(this: void, input: OptionConfigValue): Buffer;
}

// ------------------------------------------------------------------------------------------- helpers

const HEX_CONFIG = /^0x((?:[0-9a-fA-F]{2})*)$/;

/** `0x`-prefixed hex as shown for raw values and accepted by every fromConfig. */
export function hexText(view: Uint8Array): string {
  return '0x' + Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('hex');
}

/** The bytes of a `0x...` config string, or undefined when the input is not one. */
export function hexConfig(input: OptionConfigValue): Buffer | undefined {
  if (typeof input !== 'string') return undefined;
  const m = HEX_CONFIG.exec(input);
  return m ? Buffer.from(m[1]!, 'hex') : undefined;
}

export function rawValue<T>(view: Buffer, warning: string): Decoded<T> {
  return { ok: false, value: view, text: hexText(view), warnings: [warning] };
}

export function okValue<T>(value: T, text: string, warnings: string[] = []): Decoded<T> {
  return { ok: true, value, text, warnings };
}

export function configError(message: string): never {
  throw new DhcpConfigError(message);
}

/** Short JSON rendering of a config input or typed value for error messages. */
export function show(input: unknown): string {
  let s: string;
  try {
    s = Buffer.isBuffer(input) ? hexText(input) : (JSON.stringify(input) ?? String(input));
  } catch {
    s = typeof input === 'bigint' ? `${input}n` : Object.prototype.toString.call(input); // a BigInt or a cycle
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** A typed value's shape, checked at run time: throws TypeError saying what was expected. */
export function expectValue(ok: boolean, expected: string, value: unknown): asserts ok {
  if (!ok) throw new TypeError(`expected ${expected}, got ${show(value)}`);
}

const LONE_SURROGATE = /\p{Cs}/u;

/**
 * UTF-8 of a typed string. A lone UTF-16 surrogate is refused: UTF-8 cannot carry it, and Node would send
 * U+FFFD in its place, bytes the caller did not write.
 */
export function textBytes(value: unknown, what: string): Buffer {
  expectValue(typeof value === 'string', `${what} as a string`, value);
  if (LONE_SURROGATE.test(value))
    throw new RangeError(`${what} is not well-formed Unicode (a lone surrogate): ${show(value)}`);
  return Buffer.from(value, 'utf8');
}

/**
 * A typed list: an array of at least `min` items without holes (map and forEach skip a sparse array's
 * holes, which would leave bytes unwritten).
 */
export function expectList(value: unknown, what: string, min = 0): asserts value is readonly unknown[] {
  let ok = Array.isArray(value) && value.length >= min;
  for (let i = 0; ok && i < (value as unknown[]).length; i++) ok = i in (value as unknown[]);
  expectValue(ok, what, value);
}

/** Array.isArray, keeping the item type of a config list (Array.isArray narrows a readonly array to any[]). */
export function isConfigList(v: OptionConfigValue): v is readonly OptionConfigValue[] {
  return Array.isArray(v);
}

/** Bytes of a typed value (a Buffer or any Uint8Array view). */
export function expectBytes(value: unknown, what: string): asserts value is Uint8Array {
  expectValue(value instanceof Uint8Array, `${what} as a Buffer`, value);
}

/**
 * Builds a codec whose fromConfig accepts `0x` hex for any option before the type's own forms. Keeps the
 * hex rule in one place.
 */
export function defineCodec<T, In = T>(c: OptionCodec<T, In>): OptionCodec<T, In> {
  const own = c.fromConfig;
  return {
    type: c.type,
    decode: c.decode,
    encode: c.encode,
    fromConfig: (input) => hexConfig(input) ?? own(input),
  };
}

/** Number of trailing NUL bytes excluded: phones send option 60 and friends NUL-terminated or padded. */
export function trimNuls(view: Buffer): Buffer {
  let end = view.length;
  while (end > 0 && view[end - 1] === 0) end--;
  return end === view.length ? view : view.subarray(0, end);
}

/** Text of a string option: trailing NULs dropped; UTF-8 when valid, else Latin-1 (one char per byte). */
export function decodeText(view: Buffer): string {
  const t = trimNuls(view);
  return isUtf8(t) ? t.toString('utf8') : t.toString('latin1');
}

/** True when every byte is printable ASCII (space to tilde). */
export function isPrintable(view: Uint8Array): boolean {
  for (let i = 0; i < view.length; i++) {
    const b = view[i]!;
    if (b < 0x20 || b > 0x7e) return false;
  }
  return true;
}

/** A sub-option or identifier for display: quoted text when printable, else hex. */
export function displayBytes(view: Buffer): string {
  const t = trimNuls(view);
  return t.length > 0 && isPrintable(t) ? JSON.stringify(t.toString('latin1')) : hexText(view);
}

// The byte <-> text conversions are @bootwire/core's; re-exported under the names the codec has used.
export { formatIPv4 as ipAt, parseIPv4, writeIPv4 } from '@bootwire/core';

/** Like parseIPv4, for typed values given by code: throws RangeError. */
export function ipBytes(s: string): Buffer {
  const b = typeof s === 'string' ? parseIPv4(s) : undefined;
  if (!b) throw new RangeError(`not an IPv4 address (a.b.c.d): ${show(s)}`);
  return b;
}

function ipFromConfig(input: OptionConfigValue): Buffer {
  if (typeof input !== 'string') configError(`expected an IPv4 address as a string, got ${show(input)}`);
  const b = parseIPv4(input.trim());
  if (!b) configError(`${show(input)} is not an IPv4 address (a.b.c.d)`);
  return b;
}

/** A config list given as an array or as one string separated by commas and/or spaces. */
export function configList(input: OptionConfigValue, what: string): string[] {
  if (typeof input === 'string') return input.split(/[\s,]+/).filter((s) => s.length > 0);
  if (Array.isArray(input)) {
    return input.map((x) => {
      if (typeof x !== 'string') configError(`expected ${what} as strings, got ${show(x)}`);
      return x.trim();
    });
  }
  return configError(`expected ${what} as an array or a comma-separated string, got ${show(input)}`);
}

const MAC_SEPARATED = /^[0-9a-fA-F]{1,2}(?:[:-][0-9a-fA-F]{1,2})+$/;
const MAC_DOTTED = /^[0-9a-fA-F]{4}(?:\.[0-9a-fA-F]{4})+$/;
const MAC_PLAIN = /^(?:[0-9a-fA-F]{2})+$/;

/** A hardware address as `aa:bb:cc:dd:ee:ff`, `aa-bb-...`, `aabb.ccdd.eeff` or `aabbccddeeff`. */
export function parseMac(s: string): Buffer | undefined {
  const t = s.trim();
  if (MAC_SEPARATED.test(t)) return Buffer.from(t.split(/[:-]/).map((x) => parseInt(x, 16)));
  if (MAC_DOTTED.test(t)) return Buffer.from(t.replaceAll('.', ''), 'hex');
  if (MAC_PLAIN.test(t)) return Buffer.from(t, 'hex');
  return undefined;
}

const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase colon hex: `00:1b:4f:aa:bb:cc`. */
export function colonHex(view: Uint8Array): string {
  let s = view.length > 0 ? HEX_BYTE[view[0]!]! : '';
  for (let i = 1; i < view.length; i++) s += ':' + HEX_BYTE[view[i]!]!;
  return s;
}

function integerFromConfig(input: OptionConfigValue, min: number, max: number): number {
  let n: number;
  if (typeof input === 'number') n = input;
  else if (typeof input === 'string' && /^\s*-?[0-9]+\s*$/.test(input)) n = Number(input);
  else return configError(`expected an integer in ${min}..${max}, got ${show(input)}`);
  if (!Number.isInteger(n) || n < min || n > max) configError(`${show(input)} is not an integer in ${min}..${max}`);
  return n;
}

/** A typed integer in min..max (run-time checked: no rounding, wrapping or masking to fit). */
export function checkInt(n: number, min: number, max: number): number {
  if (!Number.isInteger(n) || n < min || n > max)
    throw new RangeError(`${show(n)} is not an integer in ${min}..${max}`);
  return n;
}

// -------------------------------------------------------------------------------------------- codecs

export const ipCodec: OptionCodec<string> = defineCodec<string>({
  type: 'ip',
  decode(view) {
    if (view.length !== 4) return rawValue(view, `expected a 4-byte IPv4 address, got ${view.length} bytes`);
    const ip = ipAt(view, 0);
    return okValue(ip, ip);
  },
  encode: ipBytes,
  fromConfig: ipFromConfig,
});

/** A list of IPv4 addresses; `min` is the fewest the option may carry (1 for most, 0 for option 68). */
export function ipListCodec(min = 1): OptionCodec<string[]> {
  return defineCodec<string[]>({
    type: 'ip-list',
    decode(view) {
      if (view.length % 4 !== 0 || view.length < 4 * min) {
        return rawValue(view, `expected a list of 4-byte IPv4 addresses, got ${view.length} bytes`);
      }
      const ips: string[] = [];
      for (let at = 0; at < view.length; at += 4) ips.push(ipAt(view, at));
      return okValue(ips, ips.join(', '));
    },
    encode(value) {
      expectList(value, `a list of ${min > 0 ? `at least ${min} ` : ''}IPv4 addresses`, min);
      return Buffer.concat(value.map((ip) => ipBytes(ip)));
    },
    fromConfig(input) {
      const items = configList(input, 'IPv4 addresses');
      if (items.length < min) configError(`expected at least ${min} IPv4 address(es), got ${show(input)}`);
      return Buffer.concat(items.map((s) => ipFromConfig(s)));
    },
  });
}

/** Pairs of addresses (policy filter 21: address/mask; static routes 33: destination/router). */
export const ipPairsCodec: OptionCodec<Array<[string, string]>> = defineCodec<Array<[string, string]>>({
  type: 'ip-pairs',
  decode(view) {
    if (view.length % 8 !== 0 || view.length === 0)
      return rawValue(view, `expected pairs of IPv4 addresses, got ${view.length} bytes`);
    const pairs: Array<[string, string]> = [];
    for (let at = 0; at < view.length; at += 8) pairs.push([ipAt(view, at), ipAt(view, at + 4)]);
    return okValue(pairs, pairs.map(([a, b]) => `${a} ${b}`).join(', '));
  },
  encode(value) {
    expectList(value, 'a non-empty list of [address, address] pairs', 1);
    return Buffer.concat(
      value.flatMap((pair) => {
        expectValue(Array.isArray(pair) && pair.length === 2, 'a pair [address, address]', pair);
        return [ipBytes(pair[0]), ipBytes(pair[1])];
      }),
    );
  },
  fromConfig(input) {
    // ["10.0.0.0 10.0.0.1", ...], [["10.0.0.0","10.0.0.1"], ...] or "10.0.0.0 10.0.0.1, ..."
    const flat: string[] = [];
    const items = typeof input === 'string' ? input.split(',') : Array.isArray(input) ? input : undefined;
    if (!items) configError(`expected address pairs as an array, got ${show(input)}`);
    for (const item of items) {
      const pair = typeof item === 'string' ? item.trim().split(/\s+/) : Array.isArray(item) ? item : [];
      if (pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        configError(`expected a pair of IPv4 addresses, got ${show(item)}`);
      }
      flat.push(pair[0], pair[1]);
    }
    return Buffer.concat(flat.map((s) => ipFromConfig(s)));
  },
});

function uintCodec(bytes: 1 | 2 | 4, signed = false): OptionCodec<number> {
  const bits = bytes * 8;
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const type = `${signed ? 'i' : 'u'}${bits}`;
  return defineCodec<number>({
    type,
    decode(view) {
      if (view.length !== bytes) return rawValue(view, `expected ${bytes} byte(s) for ${type}, got ${view.length}`);
      const n = signed ? view.readIntBE(0, bytes) : view.readUIntBE(0, bytes);
      return okValue(n, String(n));
    },
    encode(value) {
      const b = Buffer.allocUnsafe(bytes);
      if (signed) b.writeIntBE(checkInt(value, min, max), 0, bytes);
      else b.writeUIntBE(checkInt(value, min, max), 0, bytes);
      return b;
    },
    fromConfig(input) {
      const b = Buffer.allocUnsafe(bytes);
      const n = integerFromConfig(input, min, max);
      if (signed) b.writeIntBE(n, 0, bytes);
      else b.writeUIntBE(n, 0, bytes);
      return b;
    },
  });
}

export const u8Codec = uintCodec(1);
export const u16Codec = uintCodec(2);
export const u32Codec = uintCodec(4);
export const i32Codec = uintCodec(4, true);

export const boolCodec: OptionCodec<boolean> = defineCodec<boolean>({
  type: 'bool',
  decode(view) {
    if (view.length !== 1) return rawValue(view, `expected a 1-byte flag, got ${view.length} bytes`);
    const v = view[0]!;
    return okValue(v !== 0, v !== 0 ? 'true' : 'false', v > 1 ? [`flag value ${v} is neither 0 nor 1`] : []);
  },
  encode(value) {
    expectValue(typeof value === 'boolean', 'true or false', value);
    return Buffer.from([value ? 1 : 0]);
  },
  fromConfig(input) {
    if (typeof input === 'boolean') return Buffer.from([input ? 1 : 0]);
    if (input === 0 || input === 1 || input === '0' || input === '1') return Buffer.from([Number(input)]);
    if (input === 'true' || input === 'false') return Buffer.from([input === 'true' ? 1 : 0]);
    return configError(`expected true or false, got ${show(input)}`);
  },
});

export function uintListCodec(bytes: 1 | 2, min = 0): OptionCodec<number[]> {
  const type = bytes === 1 ? 'u8-list' : 'u16-list';
  const max = bytes === 1 ? 255 : 65535;
  return defineCodec<number[]>({
    type,
    decode(view) {
      if (view.length % bytes !== 0 || view.length < min * bytes) {
        return rawValue(view, `expected a list of ${bytes}-byte numbers, got ${view.length} bytes`);
      }
      const out: number[] = [];
      for (let at = 0; at < view.length; at += bytes) out.push(bytes === 1 ? view[at]! : view.readUInt16BE(at));
      return okValue(out, out.join(', '));
    },
    encode(value) {
      expectList(value, `a list of integers in 0..${max}${min > 0 ? ` (at least ${min})` : ''}`, min);
      const b = Buffer.alloc(value.length * bytes);
      for (let i = 0; i < value.length; i++) b.writeUIntBE(checkInt(value[i]!, 0, max), i * bytes, bytes);
      return b;
    },
    fromConfig(input) {
      const items: readonly OptionConfigValue[] =
        typeof input === 'number'
          ? [input]
          : typeof input === 'string'
            ? input.split(/[\s,]+/).filter(Boolean)
            : isConfigList(input)
              ? input
              : [];
      if (items.length < Math.max(min, 1)) configError(`expected a list of integers in 0..${max}, got ${show(input)}`);
      const b = Buffer.allocUnsafe(items.length * bytes);
      items.forEach((x, i) => b.writeUIntBE(integerFromConfig(x, 0, max), i * bytes, bytes));
      return b;
    },
  });
}

/** NVT-ASCII-ish text (host names, file names, URLs, vendor class). Decoding tolerates anything. */
export const stringCodec: OptionCodec<string> = defineCodec<string>({
  type: 'string',
  decode(view) {
    const text = decodeText(view);
    return okValue(text, text);
  },
  encode: (value) => textBytes(value, 'the value'),
  fromConfig(input) {
    if (typeof input === 'string') return Buffer.from(input, 'utf8');
    if (typeof input === 'number') return Buffer.from(String(input), 'utf8');
    return configError(`expected a string, got ${show(input)}`);
  },
});

/**
 * Opaque bytes. From config: `0x` hex, an array of byte values, or other text as UTF-8 (colon hex is
 * not guessed: "12:30" may well be text).
 */
export const bytesCodec: OptionCodec<Buffer, Uint8Array> = defineCodec<Buffer, Uint8Array>({
  type: 'bytes',
  decode: (view) => okValue(view, hexText(view)),
  encode(value) {
    expectBytes(value, 'the value');
    return Buffer.from(value);
  },
  fromConfig(input) {
    if (typeof input === 'string') return Buffer.from(input, 'utf8');
    if (Array.isArray(input)) {
      return Buffer.from(input.map((x) => integerFromConfig(x as OptionConfigValue, 0, 255)));
    }
    return configError(`expected 0x hex, text or an array of byte values, got ${show(input)}`);
  },
});
