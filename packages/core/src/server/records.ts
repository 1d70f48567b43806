/**
 * What bootwire's file servers tell about their work, one shape for every protocol: a transfer's start,
 * its end (every request, refused ones included), and warnings as objects with a code. The servers
 * emit them as `transfer-start`, `transfer-end` and `warning`; a logger, a dashboard or a test reads
 * `protocol` to know which fields follow.
 *
 * To add a protocol: declare its record (extending TransferBase with its own `protocol`) and add it
 * to TransferRecords; TransferRecord and TransferStart follow.
 */

import type { Endpoint } from '../hostport.js';

/** The phone behind a client address, when bootwire's DHCP server leased it in this process. */
export interface PhoneRef {
  /** aa:bb:cc:dd:ee:ff, lowercase. */
  mac: string;
  /** What DHCP knows of its model (see src/server/phones.ts). */
  model?: string;
}

export interface TransferBase {
  protocol: string;
  client: Endpoint;
  phone?: PhoneRef;
  direction: 'read' | 'write';
  /** The name as the client asked for it (cut to 256 characters). */
  name: string;
  /** What was served: relative to the root for files, the resolver's name for other content. */
  file?: string;
  /** Payload bytes sent (read) or received (write). */
  bytes: number;
  /** The content's size, when known. */
  size?: number;
  ms: number;
  /** True when the whole content went (or came) through. */
  ok: boolean;
  /**
   * `ok`; `failed`: started and not finished (the error says why: the peer's ERROR, a timeout, a
   * closed connection); `refused`: answered with an error before any data (not found, access, busy).
   */
  result: 'ok' | 'failed' | 'refused';
}

export interface TftpTransferRecord extends TransferBase {
  protocol: 'tftp';
  mode: string;
  blksize: number;
  windowsize: number;
  /** The options the server acknowledged (its OACK), by name; empty when none were. */
  options: Record<string, string>;
  retransmits: number;
  /** The ERROR that ended it (sent by us: `local`, or by the client: `peer`). */
  error?: { code: number; message: string; by: 'peer' | 'local' };
}

export interface HttpTransferRecord extends TransferBase {
  protocol: 'http' | 'https';
  tls: boolean;
  httpVersion: string;
  method: string;
  /** The request-target as sent (cut at 512 characters). */
  target: string;
  status: number;
  /** Content-Range of a 206 or 416. */
  range?: string;
  userAgent?: string;
}

/** Every protocol's record, by protocol name. */
export interface TransferRecords {
  tftp: TftpTransferRecord;
  http: HttpTransferRecord;
  https: HttpTransferRecord;
}

export type TransferProtocol = keyof TransferRecords;
/** A transfer's end (`transfer-end`): what went, to whom, how it ended. */
export type TransferRecord = TransferRecords[TransferProtocol];
/** A transfer's start (`transfer-start`): content resolved, its first byte about to go. */
export type TransferStart = Pick<
  TransferRecord,
  'protocol' | 'client' | 'phone' | 'direction' | 'name' | 'file' | 'size'
>;

export type WarningCode =
  /** A request failed in a way the server did not foresee (its client got an error). */
  | 'request-failed'
  /** The resolver threw, rejected, timed out or returned something that is not a resolution. */
  | 'resolver-failed'
  /** A stream result failed, ran past its size or the stream limit. */
  | 'stream-failed'
  | 'socket-error';

export interface ServerWarning {
  code: WarningCode;
  message: string;
  client?: Endpoint;
}

/** Longest request name kept in a record (and so in a log line). */
export const MAX_RECORDED_NAME = 256;
