/**
 * pcapng reader (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html), written by hand
 * because no npm pcapng reader handles real files: several sections (each with its own byte order),
 * several interfaces with their own link type and timestamp resolution, and blocks it does not know.
 *
 * Read: Section Header (SHB), Interface Description (IDB, options if_tsresol and if_tsoffset), Enhanced
 * Packet (EPB), Simple Packet (SPB) and Obsolete Packet (OPB) blocks. Every other block is skipped by
 * its length. Every length is checked before it is used: a block shorter than 12 bytes, not a multiple
 * of 4, longer than what is left, or whose trailing length differs, ends the read with an error at the
 * block's offset, after the records before it. Nothing here can loop without advancing.
 */
import {
  type Endian,
  PCAPNG_IDB_FIXED_LENGTH,
  PCAPNG_SHB_FIXED_LENGTH,
  parsePcapngInterfaceHeader,
  parsePcapngSectionHeader,
} from './headers.js';
import { type PcapRead, tooManyRecords } from './pcap.js';
import type { CaptureError, CaptureRecord } from './types.js';

export const BlockType = {
  SHB: 0x0a0d0d0a,
  IDB: 0x00000001,
  OPB: 0x00000002,
  SPB: 0x00000003,
  EPB: 0x00000006,
} as const;

const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;
const OPT_ENDOFOPT = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

/** Far above any packet block; a larger length is a corrupt header rather than a real block. */
export const PCAPNG_MAX_BLOCK = 16 * 1024 * 1024;

interface Interface {
  /** Index across the whole file. */
  readonly index: number;
  readonly linktype: number;
  readonly snaplen: number;
  // ns = ((ts * mul) / div >> shift) + offsetNs: covers 10^-n and 2^-n resolutions exactly.
  readonly mul: bigint;
  readonly div: bigint;
  readonly shift: bigint;
  readonly offsetNs: bigint;
}

const NS_PER_S = 1_000_000_000n;

/** The timestamp unit from if_tsresol: MSB clear, 10^-n seconds; MSB set, 2^-n seconds. Default µs. */
function resolution(tsresol: number): Pick<Interface, 'mul' | 'div' | 'shift'> {
  const n = tsresol & 0x7f;
  if (tsresol & 0x80) return { mul: NS_PER_S, div: 1n, shift: BigInt(n) };
  return n <= 9 ? { mul: 10n ** BigInt(9 - n), div: 1n, shift: 0n } : { mul: 1n, div: 10n ** BigInt(n - 9), shift: 0n };
}

function timestampNs(iface: Interface, high: number, low: number): bigint {
  // Exact as a Number while high < 2^21 (µs until the year 2255): one BigInt instead of three.
  const ts = high < 0x200000 ? BigInt(high * 0x100000000 + low) : (BigInt(high) << 32n) | BigInt(low);
  let ns = ts * iface.mul;
  if (iface.div !== 1n) ns /= iface.div;
  if (iface.shift !== 0n) ns >>= iface.shift;
  return ns + iface.offsetNs;
}

const secondsOf = (ns: bigint): number => Number(ns / NS_PER_S) + Number(ns % NS_PER_S) / 1e9;

/** Reads a pcapng capture; the caller has checked that it starts with the SHB block type. */
export function readPcapng(bytes: Buffer, maxRecords = Infinity): PcapRead {
  const records: CaptureRecord[] = [];
  const fail = (kind: CaptureError['kind'], message: string, offset: number): PcapRead => ({
    records,
    error: { kind, message, offset },
  });
  let le = true;
  let interfaces: Interface[] = []; // of the current section
  let nextIndex = 0;
  let at = 0;
  let sections = 0;

  while (at < bytes.length) {
    const left = bytes.length - at;
    if (left < 12) return fail('truncated', `the file ends inside a block header (${left} bytes left)`, at);
    // The SHB block type reads the same in both byte orders; its byte-order magic then sets the order
    // of every block up to the next SHB.
    if (bytes.readUInt32LE(at) === BlockType.SHB) {
      const magic = bytes.readUInt32LE(at + 8);
      if (magic === BYTE_ORDER_MAGIC) le = true;
      else if (magic === BYTE_ORDER_MAGIC_SWAPPED) le = false;
      else return fail('corrupt', `section header has byte-order magic 0x${magic.toString(16).padStart(8, '0')}`, at);
    } else if (sections === 0) {
      return fail('corrupt', 'the file does not start with a section header block', at);
    }
    const type = le ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at);
    const length = le ? bytes.readUInt32LE(at + 4) : bytes.readUInt32BE(at + 4);
    if (length < 12 || length % 4 !== 0)
      return fail('corrupt', `block of type 0x${type.toString(16)} has length ${length}`, at);
    if (length > PCAPNG_MAX_BLOCK)
      return fail(
        'corrupt',
        `block of type 0x${type.toString(16)} claims ${length} bytes, over the ${PCAPNG_MAX_BLOCK}-byte limit`,
        at,
      );
    if (length > left)
      return fail(
        'truncated',
        `block of type 0x${type.toString(16)} has ${length} bytes but the file ends after ${left}`,
        at,
      );
    const trailer = le ? bytes.readUInt32LE(at + length - 4) : bytes.readUInt32BE(at + length - 4);
    if (trailer !== length)
      return fail(
        'corrupt',
        `block of type 0x${type.toString(16)} starts with length ${length} and ends with ${trailer}`,
        at,
      );
    const body = at + 8;
    const bodyEnd = at + length - 4;
    if (records.length >= maxRecords && (type === BlockType.EPB || type === BlockType.OPB || type === BlockType.SPB))
      return { records, error: tooManyRecords(maxRecords, at) };

    switch (type) {
      case BlockType.SHB: {
        if (length < PCAPNG_SHB_FIXED_LENGTH + 4) return fail('corrupt', `section header block of ${length} bytes`, at);
        const shb = parsePcapngSectionHeader(bytes, at, le ? 'little' : 'big');
        if (shb.versionMajor !== 1) {
          return fail(
            'unsupported',
            `pcapng section version ${shb.versionMajor}.${shb.versionMinor} (only 1.x is read)`,
            at,
          );
        }
        sections++;
        interfaces = []; // interface IDs restart in every section
        break;
      }
      case BlockType.IDB: {
        if (bodyEnd - body < PCAPNG_IDB_FIXED_LENGTH)
          return fail('corrupt', `interface description block of ${length} bytes`, at);
        const endian: Endian = le ? 'little' : 'big';
        const idb = parsePcapngInterfaceHeader(bytes, body, endian);
        const opts = interfaceOptions(bytes, body + PCAPNG_IDB_FIXED_LENGTH, bodyEnd, le);
        interfaces.push({
          index: nextIndex++,
          linktype: idb.linktype,
          snaplen: idb.snaplen,
          ...resolution(opts.tsresol),
          offsetNs: opts.tsoffset * NS_PER_S,
        });
        break;
      }
      case BlockType.EPB:
      case BlockType.OPB: {
        if (bodyEnd - body < 20) return fail('corrupt', `packet block of ${length} bytes`, at);
        const ifid =
          type === BlockType.EPB ? u32(bytes, body, le) : le ? bytes.readUInt16LE(body) : bytes.readUInt16BE(body);
        const iface = interfaces[ifid];
        if (!iface)
          return fail(
            'corrupt',
            `packet block for interface ${ifid}, but the section describes ${interfaces.length}`,
            at,
          );
        const caplen = u32(bytes, body + 12, le);
        if (caplen > bodyEnd - body - 20)
          return fail('corrupt', `packet block with ${caplen} captured bytes in a ${length}-byte block`, at);
        const timeNs = timestampNs(iface, u32(bytes, body + 4, le), u32(bytes, body + 8, le));
        records.push({
          frame: records.length + 1,
          time: secondsOf(timeNs),
          timeNs,
          linktype: iface.linktype,
          data: bytes.subarray(body + 20, body + 20 + caplen),
          origLen: u32(bytes, body + 16, le),
          interface: iface.index,
          offset: at,
        });
        break;
      }
      case BlockType.SPB: {
        // No interface ID (always the section's first) and no timestamp: time 0, as Wireshark shows it.
        const iface = interfaces[0];
        if (!iface) return fail('corrupt', 'simple packet block in a section with no interface', at);
        if (bodyEnd - body < 4) return fail('corrupt', `simple packet block of ${length} bytes`, at);
        const origLen = u32(bytes, body, le);
        let caplen = Math.min(origLen, bodyEnd - body - 4);
        if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
        records.push({
          frame: records.length + 1,
          time: 0,
          timeNs: 0n,
          linktype: iface.linktype,
          data: bytes.subarray(body + 4, body + 4 + caplen),
          origLen,
          interface: iface.index,
          offset: at,
        });
        break;
      }
      default:
        break; // name resolution, statistics, decryption secrets, custom blocks...: not needed here
    }
    at += length;
  }
  return { records };
}

const u32 = (b: Buffer, at: number, le: boolean): number => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));

/** if_tsresol and if_tsoffset from an IDB's options. A malformed option list ends where it goes wrong. */
function interfaceOptions(
  bytes: Buffer,
  from: number,
  end: number,
  le: boolean,
): { tsresol: number; tsoffset: bigint } {
  let tsresol = 6;
  let tsoffset = 0n;
  let at = from;
  while (end - at >= 4) {
    const code = le ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at);
    const len = le ? bytes.readUInt16LE(at + 2) : bytes.readUInt16BE(at + 2);
    if (code === OPT_ENDOFOPT) break;
    const value = at + 4;
    if (len > end - value) break;
    if (code === OPT_IF_TSRESOL && len >= 1) tsresol = bytes[value] ?? 6;
    else if (code === OPT_IF_TSOFFSET && len === 8)
      tsoffset = le ? bytes.readBigInt64LE(value) : bytes.readBigInt64BE(value);
    at = value + ((len + 3) & ~3);
  }
  return { tsresol, tsoffset };
}
