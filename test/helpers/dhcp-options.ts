/**
 * The decode→encode round trip of one DHCP option value, shared by the property tests and the walk
 * over every capture.
 */
import { expect } from 'vitest';
import { decodeOption, encodeOption, lookupOption } from '../../packages/dhcp/src/codec/index.js';

/**
 * Codec types whose bytes are the only encoding of their value: a value read from any bytes encodes
 * back to those very bytes. The others normalise: strings drop trailing NULs (and Latin-1 text comes
 * back as UTF-8), flags become 0/1, option 43 loses its pads, DNS names their own compression, routes
 * their host bits, Avaya lists the text before the first NAME=.
 */
export const EXACT_TYPES: ReadonlySet<string> = new Set([
  'ip',
  'ip-list',
  'ip-pairs',
  'u8',
  'u16',
  'u32',
  'i32',
  'u8-list',
  'u16-list',
  'bytes',
  'message-type',
  'option-list',
  'overload',
  'client-id',
  'client-arch',
  'client-ndi',
  'machine-id',
  'vi-vendor-class',
  'vi-vendor-specific',
  'relay-agent',
]);

/** Option 43's `raw` is the bytes read (pads included): the value is its form and sub-options. */
function comparable(code: number, v: unknown): unknown {
  if (code === 43 && typeof v === 'object' && v !== null && (v as { form?: string }).form !== 'raw')
    return { ...v, raw: undefined };
  return v;
}

/**
 * Decodes `bytes` as option `code`; when they fit its type, the value encodes again (never refused),
 * to bytes that decode to the same value and encode to themselves; for EXACT_TYPES, to `bytes`.
 * Returns the re-encoded bytes (undefined when the bytes did not fit the type).
 */
export function checkOptionRoundTrip(code: number, bytes: Buffer, vendorClass?: string): Buffer | undefined {
  const ctx = vendorClass === undefined ? {} : { vendorClass };
  const d1 = decodeOption(code, bytes, ctx);
  if (!d1.ok) return undefined;
  const [c, e1] = encodeOption(code, d1.value as never);
  expect(c).toBe(code);
  const d2 = decodeOption(code, e1, ctx);
  expect(
    d2.ok,
    `option ${code} ${bytes.toString('hex')} re-encoded as ${e1.toString('hex')}: ${d2.warnings.join('; ')}`,
  ).toBe(true);
  expect(comparable(code, d2.value)).toEqual(comparable(code, d1.value));
  expect(
    encodeOption(code, d2.value as never)[1].equals(e1),
    `option ${code}: ${e1.toString('hex')} is not a fixed point`,
  ).toBe(true);
  if (EXACT_TYPES.has(lookupOption(code)!.codec.type))
    expect(e1.toString('hex'), `option ${code}`).toBe(bytes.toString('hex'));
  return e1;
}
