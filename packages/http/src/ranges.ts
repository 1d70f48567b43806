/**
 * The Range request header (RFC 9110 §14), evaluated against a representation's length.
 *
 * Policy for more than one range: bootwire answers a single range with 206 and ignores a request for
 * several satisfiable ranges, sending the whole file with 200, which RFC 9110 §14.2 allows ("a server
 * MAY ignore the Range header field"). Phones fetch whole files or resume with one range; multipart/
 * byteranges would only serve other clients and opens the many-small-overlapping-ranges abuse that
 * RFC 9110 §17.15 warns about. When only one of several ranges can be satisfied it is served alone.
 */

/** An inclusive byte range, `first..last`, inside the representation. */
export interface ByteRange {
  first: number;
  last: number;
}

export type RangeDecision =
  /** No Range header, a syntax this server does not honour, or several ranges: send the whole file. */
  | { kind: 'full'; reason: 'absent' | 'invalid' | 'other-unit' | 'multiple' }
  /** One satisfiable range: 206 with `Content-Range: bytes first-last/size`. */
  | { kind: 'partial'; range: ByteRange }
  /** Valid syntax but nothing inside the file: 416 with `Content-Range: bytes * /size`. */
  | { kind: 'unsatisfiable' };

/** Enough ranges for any sane client; more is treated as abuse and ignored (the whole file is sent). */
export const MAX_RANGES = 16;

type Spec = { first: number; last: number | undefined } | { suffix: number };

const DIGITS = /^[0-9]+$/;

/** Parses one `first-last`, `first-` or `-suffix`; undefined when it is not valid byte-range syntax. */
function parseSpec(text: string): Spec | undefined {
  const dash = text.indexOf('-');
  if (dash < 0) return undefined;
  const a = text.slice(0, dash);
  const b = text.slice(dash + 1);
  if (a === '') return DIGITS.test(b) ? { suffix: Number(b) } : undefined;
  if (!DIGITS.test(a)) return undefined;
  if (b === '') return { first: Number(a), last: undefined };
  if (!DIGITS.test(b)) return undefined;
  const first = Number(a);
  const last = Number(b);
  // "last-pos less than first-pos" makes the byte-range-spec invalid (RFC 9110 §14.1.1).
  return last < first ? undefined : { first, last };
}

/** The part of `spec` inside a representation of `size` bytes, or undefined when there is none. */
function satisfy(spec: Spec, size: number): ByteRange | undefined {
  if ('suffix' in spec) {
    if (spec.suffix === 0 || size === 0) return undefined;
    return { first: Math.max(0, size - spec.suffix), last: size - 1 };
  }
  if (spec.first >= size) return undefined;
  return { first: spec.first, last: Math.min(spec.last ?? size - 1, size - 1) };
}

/**
 * Decides how to answer `Range: <header>` for a representation of `size` bytes. Numbers too large
 * for a double still compare correctly against any file size, so no big-integer parsing is needed.
 */
export function evaluateRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: 'full', reason: 'absent' };
  const eq = header.indexOf('=');
  if (eq < 0) return { kind: 'full', reason: 'invalid' };
  const unit = header.slice(0, eq).trim();
  if (unit.toLowerCase() !== 'bytes') return { kind: 'full', reason: unit === '' ? 'invalid' : 'other-unit' };
  // A list may carry empty elements and optional whitespace around commas (RFC 9110 §5.6.1).
  const parts = header
    .slice(eq + 1)
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) return { kind: 'full', reason: 'invalid' };
  if (parts.length > MAX_RANGES) return { kind: 'full', reason: 'multiple' };
  const specs: Spec[] = [];
  for (const p of parts) {
    const s = parseSpec(p);
    if (!s) return { kind: 'full', reason: 'invalid' };
    specs.push(s);
  }
  const satisfiable = specs.map((s) => satisfy(s, size)).filter((r): r is ByteRange => r !== undefined);
  if (satisfiable.length === 0) return { kind: 'unsatisfiable' };
  if (satisfiable.length > 1) return { kind: 'full', reason: 'multiple' };
  return { kind: 'partial', range: satisfiable[0]! };
}

/** `bytes 0-99/1000` for a 206, `bytes * /1000` (without the space) for a 416. */
export function contentRange(range: ByteRange | undefined, size: number): string {
  return range ? `bytes ${range.first}-${range.last}/${size}` : `bytes */${size}`;
}
