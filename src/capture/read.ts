/**
 * Capture files in: pcap (µs and ns, either byte order), pcapng, any of them gzip-compressed.
 *
 * The format is told by the magic number, never by the file name (public pcapng files are named
 * `.pcap`, gzip ones `.cap`). readCapture() never throws on its input: a capture that cannot be read to
 * its end gives every record before the damage and an error with the byte offset of the damage.
 */
import { readFile } from 'node:fs/promises';
import { constants as zc, gunzipSync } from 'node:zlib';
import { readPcapMicro, readPcapNano, type PcapRead } from './pcap.js';
import { BlockType, readPcapng } from './pcapng.js';
import type { CaptureFormat, CaptureResult } from './types.js';

export interface ReadOptions {
  /** Largest decompressed size of a gzip capture (a guard against compression bombs). Default 1 GiB. */
  maxGunzipBytes?: number;
}

const DEFAULT_MAX_GUNZIP = 1024 * 1024 * 1024;

type Detected = { format: Exclude<CaptureFormat, 'unknown'>; read: (b: Buffer) => PcapRead } | undefined;

/** The capture format from the first four bytes (after decompression). */
export function detectFormat(bytes: Buffer): Exclude<CaptureFormat, 'unknown'> | undefined {
  return detect(bytes)?.format;
}

function detect(bytes: Buffer): Detected {
  if (bytes.length < 4) return undefined;
  switch (bytes.readUInt32BE(0)) {
    case 0xa1b2c3d4:
      return { format: 'pcap', read: (b) => readPcapMicro(b, 'big') };
    case 0xd4c3b2a1:
      return { format: 'pcap', read: (b) => readPcapMicro(b, 'little') };
    case 0xa1b23c4d:
      return { format: 'pcap-ns', read: (b) => readPcapNano(b, 'big') };
    case 0x4d3cb2a1:
      return { format: 'pcap-ns', read: (b) => readPcapNano(b, 'little') };
    case BlockType.SHB:
      return { format: 'pcapng', read: readPcapng };
    default:
      return undefined;
  }
}

const isGzip = (b: Buffer): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** Reads a whole capture held in memory. Records and their data are views of `bytes` (or of its decompressed copy). */
export function readCapture(bytes: Buffer, options: ReadOptions = {}): CaptureResult {
  if (!isGzip(bytes)) return readPlain(bytes, false);
  const z = gunzip(bytes, options.maxGunzipBytes ?? DEFAULT_MAX_GUNZIP);
  const inner = readPlain(z.data, true);
  if (!z.error) return inner;
  // The damage in the gzip stream explains whatever went wrong inside; say both.
  const where = `gzip: ${z.error} (at compressed byte ${z.at}; ${z.data.length} bytes decompressed before it)`;
  if (inner.error) return { ...inner, error: { ...inner.error, message: `${inner.error.message}; ${where}` } };
  return { ...inner, error: { kind: 'gzip', message: where, offset: z.data.length } };
}

/** Reads a capture file (whole, into memory). Rejects only when the file cannot be read. */
export async function readCaptureFile(path: string, options: ReadOptions = {}): Promise<CaptureResult> {
  return readCapture(await readFile(path), options);
}

function readPlain(bytes: Buffer, gzip: boolean): CaptureResult {
  const d = detect(bytes);
  if (!d) {
    const magic = bytes.subarray(0, 4).toString('hex');
    const message = bytes.length < 4 ? `${bytes.length} bytes: too short for a capture` : `unknown magic number ${magic}${isGzip(bytes) ? ' (gzip inside gzip)' : ''}`;
    return { format: 'unknown', gzip, records: [], error: { kind: 'unknown-format', message, offset: 0 } };
  }
  const r = d.read(bytes);
  return r.error ? { format: d.format, gzip, records: r.records, error: r.error } : { format: d.format, gzip, records: r.records };
}

interface Gunzipped {
  data: Buffer;
  error?: string;
  /** Compressed offset where decompression fails. */
  at?: number;
}

/**
 * Decompresses as much as can be: a truncated or corrupt stream still gives the bytes before the damage,
 * so the records in them can be read.
 */
function gunzip(bytes: Buffer, maxOutputLength: number): Gunzipped {
  try {
    return { data: gunzipSync(bytes, { maxOutputLength }) };
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    if ((e as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      return { data: Buffer.alloc(0), error: `decompresses to more than ${maxOutputLength} bytes`, at: 0 };
    }
    // The longest prefix that inflates without an error holds everything before the damage: inflate stops
    // at the first bad byte and a prefix of a good stream is good, so the test is monotonic and a
    // binary search finds the edge in log2(n) passes (this only runs on damaged files).
    let lo = 0; // a prefix of lo bytes inflates cleanly
    let hi = bytes.length; // a prefix of hi bytes fails
    let best: Buffer = Buffer.alloc(0);
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const out = partial(bytes.subarray(0, mid), maxOutputLength);
      if (out) {
        lo = mid;
        best = out;
      } else {
        hi = mid;
      }
    }
    return { data: best, error, at: lo };
  }
}

function partial(prefix: Buffer, maxOutputLength: number): Buffer | undefined {
  try {
    return gunzipSync(prefix, { finishFlush: zc.Z_SYNC_FLUSH, maxOutputLength });
  } catch {
    return undefined;
  }
}
