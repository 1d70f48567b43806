/**
 * Capture files in: pcap (µs and ns, either byte order), pcapng, any of them gzip-compressed.
 *
 * The format is told by the magic number, never by the file name (public pcapng files are named
 * `.pcap`, gzip ones `.cap`). readCapture() never throws on its input: a capture that cannot be read to
 * its end gives every record before the damage and an error with the byte offset of the damage.
 */
import { readFile } from 'node:fs/promises';
import { Gunzip } from 'minizlib';
import { readPcapMicro, readPcapNano, type PcapRead } from './pcap.js';
import { BlockType, readPcapng } from './pcapng.js';
import type { CaptureFormat, CaptureResult } from './types.js';

export interface ReadOptions {
  /** Largest decompressed size of a gzip capture. Default 1 GiB. */
  maxGunzipBytes?: number;
  /**
   * Largest ratio of decompressed to compressed size of a gzip capture, past the first 16 MiB (a guard
   * against compression bombs: deflate reaches 1032:1 on zeros; real captures compress 5 to 20 times,
   * synthetic ones of repeated packets about 60). Default 200.
   */
  maxGunzipRatio?: number;
  /**
   * Records read at most; past it the read stops with a `limit` error. Default 5,000,000 (about 1.1 GB of record
   * objects).
   */
  maxRecords?: number;
}

export const DEFAULT_MAX_GUNZIP_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_GUNZIP_RATIO = 200;
/** Output that is never refused for its ratio: small files of repeated packets are harmless. */
export const GUNZIP_RATIO_FLOOR = 16 * 1024 * 1024;
export const DEFAULT_MAX_RECORDS = 5_000_000;

type Reader = (b: Buffer, maxRecords: number) => PcapRead;
type Detected = { format: Exclude<CaptureFormat, 'unknown'>; read: Reader } | undefined;

/** The capture format from the first four bytes (after decompression). */
export function detectFormat(bytes: Buffer): Exclude<CaptureFormat, 'unknown'> | undefined {
  return detect(bytes)?.format;
}

function detect(bytes: Buffer): Detected {
  if (bytes.length < 4) return undefined;
  switch (bytes.readUInt32BE(0)) {
    case 0xa1b2c3d4:
      return { format: 'pcap', read: (b, max) => readPcapMicro(b, 'big', max) };
    case 0xd4c3b2a1:
      return { format: 'pcap', read: (b, max) => readPcapMicro(b, 'little', max) };
    case 0xa1b23c4d:
      return { format: 'pcap-ns', read: (b, max) => readPcapNano(b, 'big', max) };
    case 0x4d3cb2a1:
      return { format: 'pcap-ns', read: (b, max) => readPcapNano(b, 'little', max) };
    case BlockType.SHB:
      return { format: 'pcapng', read: readPcapng };
    default:
      return undefined;
  }
}

const isGzip = (b: Buffer): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** Reads a whole capture held in memory. Records and their data are views of `bytes` (or of its decompressed copy). */
export function readCapture(bytes: Buffer, options: ReadOptions = {}): CaptureResult {
  const maxRecords = options.maxRecords ?? DEFAULT_MAX_RECORDS;
  if (!isGzip(bytes)) return readPlain(bytes, false, maxRecords);
  const maxBytes = options.maxGunzipBytes ?? DEFAULT_MAX_GUNZIP_BYTES;
  const ratio = options.maxGunzipRatio ?? DEFAULT_MAX_GUNZIP_RATIO;
  const z = gunzip(bytes, Math.min(maxBytes, Math.max(GUNZIP_RATIO_FLOOR, Math.floor(ratio * bytes.length))));
  if (z.over !== undefined) {
    // Refused whole: what was inflated so far is a prefix of a bomb, or of a capture too big to hold.
    const why =
      z.over >= maxBytes
        ? `inflates to more than ${maxBytes} bytes (the maxGunzipBytes bound): refused; gunzip the file ` +
          `first to read it`
        : `inflates to more than ${z.over} bytes, over ${ratio} times its ${bytes.length} compressed ` +
          `bytes: refused as a compression bomb (the maxGunzipRatio bound)`;
    return {
      format: z.format ?? 'unknown',
      gzip: true,
      records: [],
      error: { kind: 'gzip', message: `gzip: ${why}`, offset: 0 },
    };
  }
  const inner = readPlain(z.data, true, maxRecords);
  if (z.error === undefined) return inner;
  // The damage in the gzip stream explains whatever went wrong inside; say both.
  const where = `gzip: ${z.error} (at compressed byte ${z.at}; ${z.data.length} bytes decompressed before it)`;
  if (inner.error) return { ...inner, error: { ...inner.error, message: `${inner.error.message}; ${where}` } };
  return { ...inner, error: { kind: 'gzip', message: where, offset: z.data.length } };
}

/** Reads a capture file (whole, into memory). Rejects only when the file cannot be read. */
export async function readCaptureFile(path: string, options: ReadOptions = {}): Promise<CaptureResult> {
  return readCapture(await readFile(path), options);
}

function readPlain(bytes: Buffer, gzip: boolean, maxRecords: number): CaptureResult {
  const d = detect(bytes);
  if (!d) {
    const magic = bytes.subarray(0, 4).toString('hex');
    const message =
      bytes.length < 4
        ? `${bytes.length} bytes: too short for a capture`
        : `unknown magic number ${magic}${isGzip(bytes) ? ' (gzip inside gzip)' : ''}`;
    return { format: 'unknown', gzip, records: [], error: { kind: 'unknown-format', message, offset: 0 } };
  }
  const r = d.read(bytes, maxRecords);
  return r.error
    ? { format: d.format, gzip, records: r.records, error: r.error }
    : { format: d.format, gzip, records: r.records };
}

interface Gunzipped {
  data: Buffer;
  /** Set when the output passed `limit` (its value): nothing is returned then. */
  over?: number;
  /** The format of what inflated before the limit, when `over` is set. */
  format?: Exclude<CaptureFormat, 'unknown'>;
  error?: string;
  /** Compressed offset where decompression fails. */
  at?: number;
}

/** Compressed bytes handed to zlib at a time: each inflates to at most 16 MiB, so the limit is checked often. */
const STEP = 16 * 1024;

/**
 * Inflates in one streaming pass (minizlib: node's zlib driven synchronously), stopping as soon as the
 * output passes `limit`. A truncated or corrupt stream gives the bytes before the damage, so the records
 * in them can be read. zlib drops the output of a write that fails; so when one does, a second pass
 * (over the same bytes, within the same limit) goes up to that write and then feeds it a byte at a time
 * to find where the damage starts and keep what inflates before it.
 */
function gunzip(bytes: Buffer, limit: number): Gunzipped {
  const first = inflate(bytes, limit, bytes.length);
  if (first.over !== undefined) {
    const head = Buffer.concat(first.chunks.slice(0, 1));
    const format = detectFormat(head);
    return { data: Buffer.alloc(0), over: first.over, ...(format ? { format } : {}) };
  }
  if (first.error === undefined) return { data: Buffer.concat(first.chunks, first.size) };
  if (first.failedAt === undefined)
    return { data: Buffer.concat(first.chunks, first.size), error: first.error, at: bytes.length }; // at the end
  const exact = inflate(bytes, limit, first.failedAt);
  return {
    data: Buffer.concat(exact.chunks, exact.size),
    error: exact.error ?? first.error,
    at: exact.failedAt ?? first.failedAt,
  };
}

interface Inflated {
  chunks: Buffer[];
  size: number;
  over?: number;
  error?: string;
  /** Start of the write that failed; undefined when the stream failed at its end (truncated). */
  failedAt?: number;
}

/** Inflates `bytes` in STEP-sized writes, except the STEP bytes from `byteFrom`: a byte at a time. */
function inflate(bytes: Buffer, limit: number, byteFrom: number): Inflated {
  const out: Inflated = { chunks: [], size: 0 };
  const z = new Gunzip({});
  z.on('data', (c: Buffer) => {
    out.size += c.length;
    if (out.size > limit) out.over ??= limit;
    else out.chunks.push(c);
  });
  z.on('error', (e: unknown) => (out.error ??= String((e as Error).message ?? e).replace(/^zlib: /, '')));
  let at = 0;
  while (at < bytes.length && out.error === undefined && out.over === undefined) {
    const n = at < byteFrom ? Math.min(STEP, byteFrom - at) : at < byteFrom + STEP ? 1 : STEP;
    z.write(bytes.subarray(at, at + n));
    if (out.error !== undefined) out.failedAt = at;
    else at += n;
  }
  if (out.error === undefined && out.over === undefined) z.end();
  return out;
}
