import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentRange, evaluateRange, MAX_RANGES } from '../../packages/http/src/ranges.js';

describe('evaluateRange', () => {
  const size = 1000;
  it('answers the three single-range forms', () => {
    expect(evaluateRange('bytes=0-99', size)).toEqual({ kind: 'partial', range: { first: 0, last: 99 } });
    expect(evaluateRange('bytes=-100', size)).toEqual({ kind: 'partial', range: { first: 900, last: 999 } });
    expect(evaluateRange('bytes=100-', size)).toEqual({ kind: 'partial', range: { first: 100, last: 999 } });
  });

  it('clamps a last position past the end and a suffix longer than the file', () => {
    expect(evaluateRange('bytes=990-5000', size)).toEqual({ kind: 'partial', range: { first: 990, last: 999 } });
    expect(evaluateRange('bytes=-5000', size)).toEqual({ kind: 'partial', range: { first: 0, last: 999 } });
    expect(evaluateRange('bytes=0-99999999999999999999999', size)).toEqual({
      kind: 'partial',
      range: { first: 0, last: 999 },
    });
  });

  it('is unsatisfiable when nothing lies inside the file', () => {
    expect(evaluateRange('bytes=1000-', size)).toEqual({ kind: 'unsatisfiable' });
    expect(evaluateRange('bytes=5000-6000', size)).toEqual({ kind: 'unsatisfiable' });
    expect(evaluateRange('bytes=-0', size)).toEqual({ kind: 'unsatisfiable' });
    expect(evaluateRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(evaluateRange('bytes=-10', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(evaluateRange('bytes=2000-3000, 4000-', size)).toEqual({ kind: 'unsatisfiable' });
  });

  it('ignores invalid syntax, other units and absence (the whole file is sent)', () => {
    expect(evaluateRange(undefined, size)).toEqual({ kind: 'full', reason: 'absent' });
    for (const h of [
      'bytes=',
      'bytes=abc',
      'bytes=5-1',
      'bytes=1-2-3',
      'bytes 0-1',
      '=0-1',
      'bytes=0x10-',
      'bytes=+1-2',
      'bytes=-',
    ]) {
      expect(evaluateRange(h, size), h).toEqual({ kind: 'full', reason: 'invalid' });
    }
    expect(evaluateRange('items=0-1', size)).toEqual({ kind: 'full', reason: 'other-unit' });
  });

  it('accepts the unit in any case and whitespace and empty list elements', () => {
    expect(evaluateRange('Bytes = 0-9', size)).toEqual({ kind: 'partial', range: { first: 0, last: 9 } });
    expect(evaluateRange('bytes=, 0-9 ,', size)).toEqual({ kind: 'partial', range: { first: 0, last: 9 } });
  });

  it('sends the whole file for several satisfiable ranges, or the one satisfiable among several', () => {
    expect(evaluateRange('bytes=0-9,20-29', size)).toEqual({ kind: 'full', reason: 'multiple' });
    expect(evaluateRange('bytes=0-9,5000-6000', size)).toEqual({ kind: 'partial', range: { first: 0, last: 9 } });
    const many = `bytes=${Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i}-${i}`).join(',')}`;
    expect(evaluateRange(many, size)).toEqual({ kind: 'full', reason: 'multiple' });
  });

  it('a partial range always lies inside the file (property)', () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.option(fc.nat(20_000)), fc.option(fc.nat(20_000)), (sz, a, b) => {
        const h = `bytes=${a ?? ''}-${b ?? ''}`;
        const d = evaluateRange(h, sz);
        if (d.kind === 'partial') {
          expect(d.range.first).toBeGreaterThanOrEqual(0);
          expect(d.range.first).toBeLessThanOrEqual(d.range.last);
          expect(d.range.last).toBeLessThan(sz);
        }
      }),
    );
  });

  it('formats Content-Range for 206 and 416', () => {
    expect(contentRange({ first: 0, last: 99 }, 1000)).toBe('bytes 0-99/1000');
    expect(contentRange(undefined, 1000)).toBe('bytes */1000');
  });
});
