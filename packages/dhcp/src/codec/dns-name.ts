/**
 * RFC 1035 domain names as carried by options 81 (wire form), 119 (domain search, RFC 3397) and 120
 * (SIP servers, RFC 3361). In 119 and 120, compression pointers are offsets from the start of the
 * option's data (after RFC 3396 concatenation).
 */
import { expectList, expectValue } from './types.js';

export type NameRead = { readonly name: string; readonly next: number } | { readonly error: string };

function labelText(data: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) {
    const b = data[i]!;
    if (b === 0x2e || b === 0x5c)
      s += '\\' + String.fromCharCode(b); // '.' and '\' inside a label
    else if (b > 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += '\\' + String(b).padStart(3, '0');
  }
  return s;
}

/**
 * Reads one name at `at`. `partial` allows the data to end before the root label (RFC 4702 partial
 * names). Pointers must point backwards, which also rules out loops. Returns the dotted name without a
 * trailing dot ("" for the root) and the offset just after the name as stored.
 */
export function readDnsName(data: Uint8Array, at: number, pointers: boolean, partial = false): NameRead {
  const labels: string[] = [];
  let pos = at;
  let next = -1; // set at the first pointer: the name continues elsewhere
  let length = 1;
  let limit = at; // a pointer must target bytes before this
  for (;;) {
    if (pos >= data.length) {
      if (partial && next < 0) return { name: labels.join('.'), next: pos };
      return { error: `name at ${at} runs past the end of the data` };
    }
    const len = data[pos]!;
    if (len === 0) {
      return { name: labels.join('.'), next: next < 0 ? pos + 1 : next };
    }
    if ((len & 0xc0) === 0xc0) {
      if (!pointers) return { error: `compression pointer at ${pos} where none are allowed` };
      if (pos + 1 >= data.length) return { error: `compression pointer at ${pos} is cut short` };
      const target = ((len & 0x3f) << 8) | data[pos + 1]!;
      if (target >= limit) return { error: `compression pointer at ${pos} does not point backwards` };
      if (next < 0) next = pos + 2;
      limit = target;
      pos = target;
      continue;
    }
    if (len > 63) return { error: `label type 0x${len.toString(16)} at ${pos} is not a length` };
    if (pos + 1 + len > data.length) return { error: `label at ${pos} runs past the end of the data` };
    length += len + 1;
    if (length > 255) return { error: `name at ${at} is longer than 255 bytes` };
    labels.push(labelText(data, pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
}

/** Reads names one after another until the data ends. */
export function readDnsNames(data: Uint8Array, pointers: boolean): { names: string[] } | { error: string } {
  const names: string[] = [];
  let at = 0;
  while (at < data.length) {
    const r = readDnsName(data, at, pointers);
    if ('error' in r) return r;
    names.push(r.name);
    at = r.next;
  }
  return { names };
}

/** Splits a dotted name into label bytes, honouring `\.`, `\\` and `\DDD` escapes. */
export function nameLabels(name: string): Buffer[] {
  const trimmed = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  if (trimmed === '') return [];
  const labels: Buffer[] = [];
  let cur: number[] = [];
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed[i]!;
    if (c === '\\') {
      const digits = /^[0-9]{3}/.exec(trimmed.slice(i + 1));
      if (digits) {
        const n = Number(digits[0]);
        if (n > 255) throw new RangeError(`bad escape \\${digits[0]} in ${JSON.stringify(name)}`);
        cur.push(n);
        i += 3;
      } else if (i + 1 < trimmed.length) {
        cur.push(...Buffer.from(trimmed[++i]!, 'utf8'));
      } else throw new RangeError(`dangling backslash in ${JSON.stringify(name)}`);
    } else if (c === '.') {
      labels.push(Buffer.from(cur));
      cur = [];
    } else cur.push(...Buffer.from(c, 'utf8'));
  }
  labels.push(Buffer.from(cur));
  let total = 1;
  for (const l of labels) {
    if (l.length === 0) throw new RangeError(`empty label in ${JSON.stringify(name)}`);
    if (l.length > 63) throw new RangeError(`label over 63 bytes in ${JSON.stringify(name)}`);
    total += l.length + 1;
  }
  if (total > 255) throw new RangeError(`name over 255 bytes: ${JSON.stringify(name)}`);
  return labels;
}

/**
 * Names to wire form, one after another. With `compress`, a suffix already written is replaced by a
 * pointer to it. Only an exact suffix (same case): DNS compares names case-insensitively, but a pointer
 * to `Example.com` would make `b.example.com` read back as `b.Example.com`, not the name given.
 */
export function encodeDnsNames(names: readonly string[], compress: boolean): Buffer {
  expectList(names, 'a list of domain names');
  for (const n of names)
    expectValue(typeof n === 'string' && !/\p{Cs}/u.test(n), 'a domain name as a well-formed string', n);
  const out: number[] = [];
  const seen = new Map<string, number>();
  for (const name of names) {
    const labels = nameLabels(name);
    let i = 0;
    for (; i < labels.length; i++) {
      const key = labels
        .slice(i)
        .map((l) => l.toString('latin1'))
        .join('\0');
      const at = compress ? seen.get(key) : undefined;
      if (at !== undefined) {
        out.push(0xc0 | (at >> 8), at & 0xff);
        break;
      }
      if (compress && out.length < 0x4000) seen.set(key, out.length);
      out.push(labels[i]!.length, ...labels[i]!);
    }
    if (i === labels.length) out.push(0);
  }
  return Buffer.from(out);
}
