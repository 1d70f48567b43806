/**
 * TFTP packet shapes (RFC 1350, 2347) and protocol constants.
 *
 * Decoded packets are views: a DATA payload is a `Buffer` view of the received datagram, never a copy.
 * Strings (filename, mode, option names and values, error messages) are decoded because they are short
 * and are compared and logged as text.
 */

export const Opcode = {
  RRQ: 1,
  WRQ: 2,
  DATA: 3,
  ACK: 4,
  ERROR: 5,
  OACK: 6,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

export const OPCODE_NAMES: Readonly<Record<number, string>> = {
  1: 'RRQ',
  2: 'WRQ',
  3: 'DATA',
  4: 'ACK',
  5: 'ERROR',
  6: 'OACK',
};

/** RFC 1350 error codes, plus RFC 2347's 8. */
export const ErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_NEGOTIATION: 8,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export type TransferMode = 'octet' | 'netascii' | 'mail';

/** One option as it stood on the wire; `name` keeps the sender's spelling, `key` is lower-cased. */
export interface TftpOption {
  readonly name: string;
  readonly key: string;
  readonly value: string;
}

/**
 * The options this engine understands, parsed and range-checked. Anything else a peer sends stays in
 * the packet's `options` list (for display and round-trips) but is never negotiated or echoed.
 */
export interface KnownOptions {
  blksize?: number; // RFC 2348: 8..65464
  timeout?: number; // RFC 2349: 1..255 seconds
  tsize?: number; // RFC 2349: 0.. (0 in a RRQ asks the server for the size)
  windowsize?: number; // RFC 7440: 1..65535
}

export interface RequestPacket {
  readonly opcode: typeof Opcode.RRQ | typeof Opcode.WRQ;
  readonly filename: string;
  /** Lower-cased mode. */
  readonly mode: TransferMode;
  /** Every option in wire order, known or not. */
  readonly options: readonly TftpOption[];
  /** The known options, validated. When a name repeats, the first instance wins. */
  readonly known: KnownOptions;
}

export interface DataPacket {
  readonly opcode: typeof Opcode.DATA;
  /** The 16-bit block number on the wire. */
  readonly block: number;
  /** View of the received bytes. */
  readonly payload: Buffer;
}

export interface AckPacket {
  readonly opcode: typeof Opcode.ACK;
  readonly block: number;
}

export interface ErrorPacket {
  readonly opcode: typeof Opcode.ERROR;
  readonly code: number;
  readonly message: string;
}

export interface OackPacket {
  readonly opcode: typeof Opcode.OACK;
  readonly options: readonly TftpOption[];
  readonly known: KnownOptions;
}

export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

/** Why a datagram is not a valid TFTP packet. Every malformed input maps to exactly one of these. */
export type DecodeErrorKind =
  | 'truncated' // shorter than its opcode's fixed part
  | 'unknown-opcode'
  | 'unterminated' // a string without its NUL
  | 'empty-filename'
  | 'bad-mode' // not octet, netascii or mail
  | 'odd-options' // an option name without a value
  | 'empty-option-name'
  | 'bad-option-value' // a known option whose value is not a number in its RFC's range
  | 'trailing-bytes'; // bytes after a packet with a fixed length (ACK)

export interface DecodeError {
  readonly kind: DecodeErrorKind;
  readonly message: string;
  /** Offset of the offending byte in the datagram. */
  readonly offset: number;
}

export type DecodeResult =
  { readonly ok: true; readonly packet: TftpPacket } | { readonly ok: false; readonly error: DecodeError };

export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
export const DEFAULT_BLKSIZE = 512;
export const TIMEOUT_MIN = 1;
export const TIMEOUT_MAX = 255;
export const WINDOWSIZE_MIN = 1;
export const WINDOWSIZE_MAX = 65535;
