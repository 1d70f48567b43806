import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultInjector, parseProbability } from '../../packages/core/src/faults.js';
import { tftpGetBuffer } from '../../packages/tftp/src/client.js';
import { TftpServer } from '../../packages/tftp/src/server.js';

/** A scripted random source: returns the given values in turn. */
const script =
  (...xs: number[]) =>
  () => {
    if (xs.length === 0) throw new Error('random called more often than scripted');
    return xs.shift()!;
  };

describe('FaultInjector', () => {
  it('drops, delays and duplicates as its random source says', () => {
    const held: (() => void)[] = [];
    const f = new FaultInjector({
      loss: 0.1,
      duplicate: 0.1,
      reorder: 0.1,
      random: script(0.05, 0.5, 0.05, 0.5, 0.5, 0.5, 0.05),
      later: (fn) => held.push(fn),
    });
    const got: string[] = [];
    f.apply(() => got.push('a')); // lost
    f.apply(() => got.push('b')); // reordered, not duplicated
    f.apply(() => got.push('c')); // passes, then duplicated
    expect(got).toEqual(['c', 'c']);
    held.forEach((fn) => fn());
    expect(got).toEqual(['c', 'c', 'b']);
    expect(f.counters).toEqual({ passed: 2, dropped: 1, duplicated: 1, reordered: 1 });
  });

  it('is inert with no faults and never calls its random source', () => {
    const f = new FaultInjector({ random: script() });
    let n = 0;
    for (let i = 0; i < 100; i++) f.apply(() => n++);
    expect(n).toBe(100);
    expect(f.inert).toBe(true);
  });

  it('refuses probabilities outside 0..1', () => {
    expect(() => new FaultInjector({ loss: 1.5 })).toThrow(/loss must be a probability/);
    expect(() => new FaultInjector({ duplicate: -0.1 })).toThrow(/duplicate/);
    expect(parseProbability('5%', '--loss')).toBeCloseTo(0.05);
    expect(parseProbability('0.2', '--loss')).toBe(0.2);
    expect(() => parseProbability('abc', '--loss')).toThrow(
      '--loss must be a probability such as 0.05 or 5%, got "abc"',
    );
    expect(() => parseProbability('150%', '--loss')).toThrow(/--loss/);
  });
});

describe('a TFTP client with faults at its socket', () => {
  let root: string;
  let server: TftpServer;
  const data = randomBytes(300_000);
  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'bw-faults-'));
    writeFileSync(path.join(root, 'image.bin'), data);
    server = await TftpServer.start({ root, host: '127.0.0.1', port: 0, timeoutMs: 100, maxRetries: 10, workers: 0 });
  });
  afterAll(async () => {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  });

  for (const windowsize of [1, 8]) {
    it(`gets the same bytes through 10% loss, duplication and reordering (windowsize ${windowsize})`, async () => {
      let seed = 12345;
      const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
      const faults = new FaultInjector({ loss: 0.1, duplicate: 0.1, reorder: 0.1, reorderDelayMs: 3, random });
      const { data: got } = await tftpGetBuffer({
        host: '127.0.0.1',
        port: server.address().port,
        filename: 'image.bin',
        blksize: 1428,
        windowsize,
        timeoutMs: 100,
        maxRetries: 20,
        faults,
      });
      expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
      expect(faults.counters.dropped).toBeGreaterThan(0);
      expect(faults.counters.duplicated).toBeGreaterThan(0);
      expect(faults.counters.reordered).toBeGreaterThan(0);
    });
  }
});
