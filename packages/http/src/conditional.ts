/**
 * Conditional requests (RFC 9110 §13): If-Match, If-Unmodified-Since, If-None-Match,
 * If-Modified-Since and If-Range, evaluated in the order of §13.2.2 against a file's validators.
 * Pure: the caller passes the header values, the validators and the current time.
 */
import { parseHttpDate } from './http-date.js';

export interface Validators {
  /** A strong entity tag, quotes included: `"1a2b-4000-18c3f"`. */
  etag: string;
  /** Last-Modified in ms, whole seconds (what the Last-Modified header says), never after `now`. */
  lastModifiedMs: number;
}

export interface ConditionalHeaders {
  method: string;
  ifMatch?: string | undefined;
  ifNoneMatch?: string | undefined;
  ifModifiedSince?: string | undefined;
  ifUnmodifiedSince?: string | undefined;
  ifRange?: string | undefined;
  /** Whether the request has a Range header (If-Range means nothing without one). */
  hasRange?: boolean;
}

export interface ConditionalOutcome {
  /** 200: go on and send the representation (or its range); 304 Not Modified; 412 Precondition Failed. */
  status: 200 | 304 | 412;
  /** False when If-Range did not match: the Range header must be ignored and the whole file sent. */
  honourRange: boolean;
}

interface EntityTag {
  weak: boolean;
  opaque: string;
}

/**
 * `*`, or the entity tags of a list such as `"a", W/"b"`. Tags a client sent without quotes are
 * accepted as if quoted (some embedded clients do that); anything else unreadable ends the list.
 */
export function parseEntityTags(value: string): '*' | EntityTag[] {
  if (value.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c === ' ' || c === '\t' || c === ',') {
      i++;
      continue;
    }
    let weak = false;
    if (value.startsWith('W/', i)) {
      weak = true;
      i += 2;
    }
    if (value[i] === '"') {
      const end = value.indexOf('"', i + 1);
      if (end < 0) break;
      tags.push({ weak, opaque: value.slice(i + 1, end) });
      i = end + 1;
    } else {
      let end = i;
      while (end < value.length && !' \t,"'.includes(value[end]!)) end++;
      if (end === i) break;
      tags.push({ weak, opaque: value.slice(i, end) });
      i = end;
    }
  }
  return tags;
}

function ownTag(etag: string): EntityTag {
  const weak = etag.startsWith('W/');
  const body = weak ? etag.slice(2) : etag;
  return { weak, opaque: body.startsWith('"') && body.endsWith('"') ? body.slice(1, -1) : body };
}

const strongMatch = (a: EntityTag, b: EntityTag) => !a.weak && !b.weak && a.opaque === b.opaque;
const weakMatch = (a: EntityTag, b: EntityTag) => a.opaque === b.opaque;

function listMatches(value: string, own: EntityTag, compare: (a: EntityTag, b: EntityTag) => boolean): boolean {
  const tags = parseEntityTags(value);
  return tags === '*' || tags.some((t) => compare(t, own));
}

/** A date header's value as whole seconds, ignored (undefined) when invalid or in the future. */
function dateOf(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseHttpDate(value, nowMs);
  return ms === undefined || ms > nowMs ? undefined : ms;
}

/**
 * If-Range matches when it names the current strong ETag, or is exactly the Last-Modified date of a
 * file modified at least a second before now (a date is only a strong validator then, §8.8.2.2).
 */
function ifRangeMatches(value: string, v: Validators, own: EntityTag, mtimeMs: number, nowMs: number): boolean {
  const t = value.trim();
  if (t.startsWith('"') || t.startsWith('W/"')) {
    const tags = parseEntityTags(t);
    return tags !== '*' && tags.length === 1 && strongMatch(tags[0]!, own);
  }
  const date = parseHttpDate(t, nowMs);
  return date !== undefined && date === v.lastModifiedMs && nowMs - mtimeMs >= 1000;
}

/**
 * Evaluates the preconditions of a GET or HEAD. `mtimeMs` is the file's exact modification time
 * (for the If-Range strength rule); `v.lastModifiedMs` the whole-second value that was advertised.
 */
export function evaluateConditions(
  h: ConditionalHeaders,
  v: Validators,
  nowMs: number,
  mtimeMs = v.lastModifiedMs,
): ConditionalOutcome {
  const safe = h.method === 'GET' || h.method === 'HEAD';
  const own = ownTag(v.etag);
  // 1. If-Match (strong comparison), else 2. If-Unmodified-Since.
  if (h.ifMatch !== undefined) {
    if (!listMatches(h.ifMatch, own, strongMatch)) return { status: 412, honourRange: false };
  } else {
    const since = dateOf(h.ifUnmodifiedSince, nowMs);
    if (since !== undefined && v.lastModifiedMs > since) return { status: 412, honourRange: false };
  }
  // 3. If-None-Match (weak comparison), else 4. If-Modified-Since (GET and HEAD only).
  if (h.ifNoneMatch !== undefined) {
    if (listMatches(h.ifNoneMatch, own, weakMatch)) return { status: safe ? 304 : 412, honourRange: false };
  } else if (safe) {
    const since = dateOf(h.ifModifiedSince, nowMs);
    if (since !== undefined && v.lastModifiedMs <= since) return { status: 304, honourRange: false };
  }
  // 5. If-Range, only meaningful for a GET with a Range.
  if (h.method === 'GET' && h.hasRange && h.ifRange !== undefined) {
    return { status: 200, honourRange: ifRangeMatches(h.ifRange, v, own, mtimeMs, nowMs) };
  }
  return { status: 200, honourRange: h.method === 'GET' };
}
