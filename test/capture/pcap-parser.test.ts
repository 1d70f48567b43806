/**
 * What pcap-parser 0.2.1 does and does not do, as src/capture/pcap.ts describes it. These pin the
 * observations behind the way it is wrapped; if an upgrade changes one, revisit the wrapper.
 */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pcapParser from 'pcap-parser';
import { pcapFile } from './build.js';

const RECS = [1, 2, 3].map((n) => ({ sec: n, frac: n * 1000, data: Buffer.alloc(50 + n, n) }));

/** Drives pcap-parser synchronously over one Buffer, as the wrapper does. */
function parseSync(bytes: Buffer, listenForErrors = true) {
  let onData: ((b?: Buffer | Error) => void) | undefined;
  const source = {
    pause: () => undefined,
    resume: () => undefined,
    on(event: string, fn: (b?: Buffer | Error) => void) {
      if (event === 'data') onData = fn;
      return source;
    },
  };
  const parser = pcapParser.parse(source);
  const out = { packets: [] as Buffer[], errors: [] as string[] };
  parser.on('packet', (p) => out.packets.push(p.data));
  if (listenForErrors) parser.on('error', (e) => out.errors.push(e.message));
  onData?.(bytes);
  return out;
}

function viaFile(bytes: Buffer): Promise<{ packets: number; errors: string[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bootwire-pcap-parser-'));
  const f = path.join(dir, 'x.pcap');
  writeFileSync(f, bytes);
  return new Promise((resolve) => {
    const parser = pcapParser.parse(f);
    const out = { packets: 0, errors: [] as string[] };
    parser.on('packet', () => out.packets++);
    parser.on('error', (e) => out.errors.push(e.message));
    parser.on('end', () => {
      rmSync(dir, { recursive: true, force: true });
      resolve(out);
    });
  });
}

describe('pcap-parser 0.2.1, as observed', () => {
  it('refuses a Buffer: it wants a path or a stream', () => {
    expect(() => pcapParser.parse(pcapFile({ linktype: 1 }, RECS) as never)).toThrow(/pause is not a function/);
  });

  it('parses a whole Buffer synchronously through a stand-in stream, handing out views', () => {
    const file = pcapFile({ linktype: 1, endian: 'big' }, RECS);
    const { packets, errors } = parseSync(file);
    expect(errors).toEqual([]);
    expect(packets.map((p) => p.length)).toEqual([51, 52, 53]);
    for (const p of packets) expect(p.buffer).toBe(file.buffer);
  });

  it('reads neither nanosecond pcap nor pcapng', () => {
    expect(parseSync(pcapFile({ linktype: 1, nanos: true }, RECS)).errors).toEqual(['unknown magic number: 4d3cb2a1']);
    expect(parseSync(Buffer.from('0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000', 'hex')).errors).toEqual([
      'unknown magic number: 0a0d0d0a',
    ]);
  });

  it('lets version 3.4 through (its check is `major != 2 && minor != 4`)', () => {
    expect(parseSync(pcapFile({ linktype: 1, version: [3, 4] }, RECS))).toMatchObject({
      errors: [],
      packets: { length: 3 },
    });
  });

  it('says nothing about a file cut inside a record, whether from a Buffer or a file', async () => {
    const cut = pcapFile({ linktype: 1 }, RECS).subarray(0, 24 + 16 + 51 + 20);
    expect(parseSync(cut)).toMatchObject({ errors: [], packets: { length: 1 } });
    expect(await viaFile(cut)).toEqual({ packets: 1, errors: [] });
  });

  it('throws out of the data call on a bad magic number when nobody listens for errors', () => {
    expect(() => parseSync(Buffer.alloc(24, 0x55), false)).toThrow(/unknown magic number: 55555555/);
  });
});
