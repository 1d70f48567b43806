/**
 * One log record per finished transfer, the same shape for every protocol: who (client address and
 * port, and the phone's MAC and model when something knows them), what (file, direction, the options
 * negotiated), how it went (bytes, milliseconds, retransmissions, result, error). tftpd-hpa logs only
 * requests; this says which phone fetched what and whether it finished.
 *
 * `result`: `ok`; `failed`, started and not finished (the error says why: the peer's ERROR, a
 * timeout, a closed connection); `refused`, answered with an error before any data (not found,
 * access, busy, an HTTP status of 400 or more).
 */
import http from 'node:http';
import {
  type Endpoint,
  type HttpTransferRecord,
  type PhoneLookup,
  type TftpTransferRecord,
  unmapIPv4,
} from '@bootwire/core';
import type { FtpTransferRecord } from '@bootwire/ftp';

/** How a transfer ended. */
export type TransferOutcome = 'ok' | 'failed' | 'refused';

export interface FinishedTransfer {
  event: 'transfer';
  protocol: string;
  client: string;
  port: number;
  mac?: string;
  model?: string;
  file: string;
  direction: 'read' | 'write';
  /** TFTP: the options acknowledged (blksize, windowsize, tsize, timeout); HTTP: method, status, range. */
  options: Record<string, string | number>;
  bytes: number;
  ms: number;
  retransmits: number;
  result: TransferOutcome;
  error?: string;
}

/** What each protocol says of a transfer; the client, bytes and time come from its record. */
type Described = Pick<FinishedTransfer, 'protocol' | 'file' | 'direction' | 'options' | 'retransmits' | 'result'>;

/** The record, its fields in the logged order (an IPv4 client seen through a dual-stack socket as IPv4). */
function finished(r: { client: Endpoint; bytes: number; ms: number }, d: Described): FinishedTransfer {
  return {
    event: 'transfer',
    protocol: d.protocol,
    client: unmapIPv4(r.client.address),
    port: r.client.port,
    file: d.file,
    direction: d.direction,
    options: d.options,
    bytes: r.bytes,
    ms: r.ms,
    retransmits: d.retransmits,
    result: d.result,
  };
}

function withPhone(t: FinishedTransfer, phone: { mac: string; model?: string } | undefined): FinishedTransfer {
  if (phone) t.mac = phone.mac;
  if (phone?.model) t.model = phone.model;
  return t;
}

export function fromTftp(r: TftpTransferRecord): FinishedTransfer {
  const refused = r.result === 'refused';
  const t = finished(r, {
    protocol: 'tftp',
    file: r.file ?? r.name,
    direction: r.direction,
    options: refused ? { mode: r.mode } : { mode: r.mode, ...r.options },
    retransmits: r.retransmits,
    result: r.result,
  });
  if (r.error) t.error = `${r.error.by === 'peer' ? 'peer sent ' : ''}ERROR ${r.error.code}: ${r.error.message}`;
  return withPhone(t, r.phone);
}

export function fromHttp(r: HttpTransferRecord): FinishedTransfer {
  const options: Record<string, string | number> = { method: r.method, status: r.status };
  if (r.range) options.range = r.range;
  const t = finished(r, {
    protocol: r.protocol,
    file: r.file ?? r.target,
    direction: r.direction,
    options,
    retransmits: 0,
    result: r.result,
  });
  if (r.result === 'failed') t.error = 'connection closed before the response was complete';
  else if (r.result === 'refused') t.error = `${r.status} ${http.STATUS_CODES[r.status] ?? ''}`.trim();
  return withPhone(t, r.phone);
}

/** An FTP RETR (or listing): the phone, when the DHCP side knows the address, comes from `phones`. */
export function fromFtp(r: FtpTransferRecord, phones?: PhoneLookup): FinishedTransfer {
  const t = finished(r, {
    protocol: 'ftp',
    file: r.file ?? r.path,
    direction: 'read',
    options: { command: r.command, mode: r.mode, user: r.user },
    retransmits: 0,
    result: r.ok ? 'ok' : 'failed',
  });
  if (r.error) t.error = r.error;
  return withPhone(t, phones?.phoneAt(t.client));
}

/** The record's one-line message: `tftp read 46xxupgrade.scr from 10.1.2.3:2070 ok, 1,024 bytes in 35 ms`. */
export function describeTransfer(t: FinishedTransfer): string {
  const who = `${t.client}:${t.port}${t.mac ? ` (${t.mac}${t.model ? ` ${t.model}` : ''})` : ''}`;
  const head = `${t.protocol} ${t.direction} ${t.file} ${t.direction === 'read' ? 'to' : 'from'} ${who}`;
  if (t.result === 'refused') return `${head} refused: ${t.error ?? ''}`;
  const retransmitted = t.retransmits ? `, ${t.retransmits} retransmitted` : '';
  const tail = `${t.bytes.toLocaleString('en-US')} bytes in ${t.ms} ms${retransmitted}`;
  return t.result === 'ok' ? `${head} ok, ${tail}` : `${head} failed after ${tail}: ${t.error ?? ''}`;
}
