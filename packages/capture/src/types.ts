/**
 * Shapes of a decoded capture file and of the UDP datagrams found in it.
 *
 * Everything here is a view of the capture's bytes (record data, UDP payloads), except a datagram that
 * was reassembled from IP fragments: its payload is a copy, the only place bytes are copied.
 */

import type { FragmentStats } from './reassembly.js';

/** Capture file formats, told apart by their magic number. `unknown` comes with an error. */
export type CaptureFormat = 'pcap' | 'pcap-ns' | 'pcapng' | 'unknown';

export type CaptureErrorKind =
  | 'unknown-format' // no known magic number
  | 'unsupported' // a known format in a version or variant this reader does not read
  | 'truncated' // the bytes end inside a header, record or block
  | 'corrupt' // a length or field that cannot be right
  | 'gzip' // the gzip stream is damaged (the records before the damage are still returned), or inflates past a bound
  | 'limit'; // more records than ReadOptions.maxRecords (those before are returned)

/**
 * Where a capture stops being readable. `offset` counts bytes from the start of the capture (of the
 * decompressed bytes for a gzip file): the header, record or block that could not be read starts there.
 */
export interface CaptureError {
  readonly kind: CaptureErrorKind;
  readonly message: string;
  readonly offset: number;
}

export interface CaptureRecord {
  /** 1-based record number, as Wireshark numbers frames. */
  readonly frame: number;
  /** Seconds since the epoch (a float: about 0.2 µs resolution today; use timeNs for exact values). */
  readonly time: number;
  /** Nanoseconds since the epoch. Microsecond formats give multiples of 1000. */
  readonly timeNs: bigint;
  /** LINKTYPE_* value of the record's interface (see LinkType). */
  readonly linktype: number;
  /** The captured bytes: a view of the capture buffer. */
  readonly data: Buffer;
  /** Length of the packet on the wire; more than data.length when the capture cut it (snaplen). */
  readonly origLen: number;
  /** Interface index: 0 for pcap; for pcapng, the Interface Description Blocks numbered across the whole file. */
  readonly interface: number;
  /** Byte offset of the record (pcap record header or pcapng block) in the capture. */
  readonly offset: number;
}

export interface CaptureResult {
  readonly format: CaptureFormat;
  /** True when the file was gzip-compressed (offsets are then into the decompressed bytes). */
  readonly gzip: boolean;
  /** Every record before the first damage, in file order. */
  readonly records: CaptureRecord[];
  /** Set when the capture could not be read to its end. */
  readonly error?: CaptureError;
}

export interface UdpDatagram {
  /** Record number; for a reassembled datagram, that of the fragment that completed it (as tshark shows it). */
  readonly frame: number;
  readonly time: number;
  readonly timeNs: bigint;
  /** Addresses as text: dotted IPv4, RFC 5952 IPv6. For tunnelled traffic (GRE, IP in IP), the inner ones. */
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  /** UDP payload, as long as the UDP length field says (a view; a copy when reassembled). */
  readonly payload: Buffer;
  readonly ipVersion: 4 | 6;
  /** 802.1Q/802.1ad VLAN IDs, outermost first; absent when untagged. */
  readonly vlan?: number[];
  /** Record numbers of the fragments, in offset order, when the datagram was reassembled. */
  readonly fragments?: number[];
  /**
   * Set when the capture cut the datagram (snaplen): the payload holds only the captured part.
   * A warning is given for each one.
   */
  readonly truncated?: true;
}

export interface UdpScan {
  readonly datagrams: UdpDatagram[];
  /** One line per skipped or doubtful packet, prefixed with its frame number where it has one. */
  readonly warnings: string[];
  /** What became of fragmented datagrams; present when there were any (reassembled or dropped). */
  readonly fragments?: FragmentStats;
}

/** LINKTYPE_* values (https://www.tcpdump.org/linktypes.html) that udpDatagrams() decodes. */
export const LinkType = {
  NULL: 0, // BSD loopback: 4-byte address family in the capturing host's byte order
  ETHERNET: 1,
  RAW_DLT12: 12, // DLT_RAW as written by some systems instead of 101
  RAW_DLT14: 14, // DLT_RAW on OpenBSD
  RAW: 101,
  IEEE802_11: 105,
  LOOP: 108, // OpenBSD loopback: address family in network byte order
  LINUX_SLL: 113,
  IEEE802_11_RADIOTAP: 127,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;
