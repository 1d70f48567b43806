/**
 * The resolver contract's shared test pieces: TFTP and HTTP serve through the same Resolver, so their
 * tests feed them the same views, record the same events and meet the same failing resolvers.
 */
import type { EventEmitter } from 'node:events';
import { expect } from 'vitest';
import type { FileRequest, Resolution, Resolver } from '../../packages/core/src/files/resolver.js';
import type { ServerWarning, TransferStart } from '../../packages/core/src/server/records.js';

/** A slice of Node's shared allocation pool: its byteOffset is not 0 and its buffer holds other data. */
export function poolSlice(text: string): Buffer {
  Buffer.from('x'.repeat(100)); // something before it in the pool
  const b = Buffer.from(text);
  expect(b.byteOffset).toBeGreaterThan(0);
  expect(b.buffer.byteLength).toBeGreaterThan(b.length);
  return b;
}

export interface RecordedEvents<End> {
  ends: End[];
  starts: TransferStart[];
  warnings: ServerWarning[];
}

/** Everything a file server reports from now on: transfer-end records, transfer-starts, warnings. */
export function recordEvents<End>(server: EventEmitter): RecordedEvents<End> {
  const r: RecordedEvents<End> = { ends: [], starts: [], warnings: [] };
  server.on('transfer-end', (e: End) => r.ends.push(e));
  server.on('transfer-start', (s: TransferStart) => r.starts.push(s));
  server.on('warning', (w: ServerWarning) => r.warnings.push(w));
  return r;
}

/**
 * A resolver that fails as resolvers can: `throws` throws, `rejects` rejects, `hangs` never answers
 * (counted by `hung()`), each name of `more` gives what its function returns; any other name: `good`.
 */
export function faultyResolver(
  good: Uint8Array,
  more: Record<string, () => unknown> = {},
): { resolver: Resolver; hung: () => number } {
  let hung = 0;
  const resolver = ((req: FileRequest) => {
    if (Object.hasOwn(more, req.name)) return more[req.name]!();
    switch (req.name) {
      case 'throws':
        throw new Error('boom');
      case 'rejects':
        return Promise.reject(new Error('async boom'));
      case 'hangs':
        hung++;
        return new Promise<Resolution>(() => {});
      default:
        return { kind: 'bytes', bytes: good };
    }
  }) as unknown as Resolver;
  return { resolver, hung: () => hung };
}
