import { describe, expect, it } from 'vitest';
import { evaluateConditions, parseEntityTags, type ConditionalHeaders } from '../../packages/http/src/conditional.js';
import { formatHttpDate, parseHttpDate } from '../../packages/http/src/http-date.js';

describe('HTTP-date', () => {
  const t = Date.UTC(1994, 10, 6, 8, 49, 37);
  it('reads the three forms of RFC 9110 §5.6.7 as UTC', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', Date.UTC(2026, 0, 1))).toBe(t);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(t);
  });
  it('refuses what is not an HTTP-date', () => {
    for (const s of [
      '',
      'yesterday',
      '2026-01-01T00:00:00Z',
      'Sun, 31 Feb 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 25:49:37 GMT',
      'Sun, 06 Nov 1994 08:49:37 PST',
      '1700000000',
    ]) {
      expect(parseHttpDate(s), s).toBeUndefined();
    }
  });
  it('round-trips what it formats', () => {
    const ms = Date.UTC(2026, 10, 21, 5, 20, 15);
    expect(formatHttpDate(ms)).toBe('Sat, 21 Nov 2026 05:20:15 GMT');
    expect(parseHttpDate(formatHttpDate(ms))).toBe(ms);
  });
});

describe('parseEntityTags', () => {
  it('reads lists, weak tags, * and unquoted tags', () => {
    expect(parseEntityTags('*')).toBe('*');
    expect(parseEntityTags('"a", W/"b",,"c,d"')).toEqual([
      { weak: false, opaque: 'a' },
      { weak: true, opaque: 'b' },
      { weak: false, opaque: 'c,d' },
    ]);
    expect(parseEntityTags('abc')).toEqual([{ weak: false, opaque: 'abc' }]);
    expect(parseEntityTags('"unterminated')).toEqual([]);
  });
});

describe('evaluateConditions (RFC 9110 §13.2.2)', () => {
  const now = Date.UTC(2026, 10, 21, 12, 0, 0);
  const lm = Date.UTC(2026, 10, 21, 10, 0, 0);
  const v = { etag: '"abc-10-1"', lastModifiedMs: lm };
  const ev = (h: Partial<ConditionalHeaders>) => evaluateConditions({ method: 'GET', ...h }, v, now, lm + 250);
  const date = formatHttpDate;

  it('proceeds without conditions; only a GET honours Range', () => {
    expect(ev({})).toEqual({ status: 200, honourRange: true });
    expect(ev({ method: 'HEAD' })).toEqual({ status: 200, honourRange: false });
  });

  it('If-None-Match: a match (weak comparison, or *) is 304', () => {
    expect(ev({ ifNoneMatch: '"abc-10-1"' }).status).toBe(304);
    expect(ev({ ifNoneMatch: 'W/"abc-10-1"' }).status).toBe(304);
    expect(ev({ ifNoneMatch: '"x", "abc-10-1"' }).status).toBe(304);
    expect(ev({ ifNoneMatch: '*' }).status).toBe(304);
    expect(ev({ method: 'HEAD', ifNoneMatch: '"abc-10-1"' }).status).toBe(304);
    expect(ev({ ifNoneMatch: '"other"' }).status).toBe(200);
  });

  it(
    'If-Modified-Since: 304 when not modified since; ignored with If-None-Match, when invalid or in ' + 'the future',
    () => {
      expect(ev({ ifModifiedSince: date(lm) }).status).toBe(304);
      expect(ev({ ifModifiedSince: date(lm + 5000) }).status).toBe(304);
      expect(ev({ ifModifiedSince: date(lm - 1000) }).status).toBe(200);
      expect(ev({ ifModifiedSince: date(lm), ifNoneMatch: '"other"' }).status).toBe(200);
      expect(ev({ ifModifiedSince: 'garbage' }).status).toBe(200);
      expect(ev({ ifModifiedSince: date(now + 3600_000) }).status).toBe(200);
    },
  );

  it('If-Match and If-Unmodified-Since fail with 412', () => {
    expect(ev({ ifMatch: '"other"' }).status).toBe(412);
    expect(ev({ ifMatch: 'W/"abc-10-1"' }).status).toBe(412); // strong comparison
    expect(ev({ ifMatch: '"abc-10-1"' }).status).toBe(200);
    expect(ev({ ifMatch: '*' }).status).toBe(200);
    expect(ev({ ifUnmodifiedSince: date(lm - 1000) }).status).toBe(412);
    expect(ev({ ifUnmodifiedSince: date(lm) }).status).toBe(200);
    // If-Match wins over If-Unmodified-Since.
    expect(ev({ ifMatch: '"abc-10-1"', ifUnmodifiedSince: date(lm - 1000) }).status).toBe(200);
  });

  it('If-Range: the current strong ETag or the exact Last-Modified keeps the Range; anything else drops it', () => {
    expect(ev({ hasRange: true, ifRange: '"abc-10-1"' })).toEqual({ status: 200, honourRange: true });
    expect(ev({ hasRange: true, ifRange: '"old"' })).toEqual({ status: 200, honourRange: false });
    expect(ev({ hasRange: true, ifRange: 'W/"abc-10-1"' })).toEqual({ status: 200, honourRange: false });
    expect(ev({ hasRange: true, ifRange: date(lm) })).toEqual({ status: 200, honourRange: true });
    expect(ev({ hasRange: true, ifRange: date(lm - 1000) })).toEqual({ status: 200, honourRange: false });
    expect(ev({ hasRange: true, ifRange: 'nonsense' })).toEqual({ status: 200, honourRange: false });
    // A date is not a strong validator for a file modified less than a second ago.
    const fresh = evaluateConditions({ method: 'GET', hasRange: true, ifRange: date(lm) }, v, lm + 500, lm + 200);
    expect(fresh).toEqual({ status: 200, honourRange: false });
  });
});
