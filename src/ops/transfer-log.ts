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
import type { HttpRequestRecord } from '../http/server.js';
import type { TftpRefusal, TransferRecord } from '../tftp/server.js';

/**
 * What is known of the phone at a client address: its MAC and model, from the DHCP side (leases,
 * option 60). Supplied by whoever knows; without it records carry neither field.
 */
export type PhoneLookup = (address: string) => { mac?: string; model?: string } | undefined;

/** How a transfer ended. */
export type TransferOutcome = 'ok' | 'failed' | 'refused';

/** An HTTP response as a transfer: served, cut short, or refused with an error status. */
export function httpResult(r: HttpRequestRecord): TransferOutcome {
  if (!r.ok) return 'failed';
  return r.status >= 400 ? 'refused' : 'ok';
}

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

/** An IPv4 client seen through a dual-stack socket is logged as IPv4. */
const plain = (a: string) => (a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a);

function withPhone(t: FinishedTransfer, lookup: PhoneLookup | undefined): FinishedTransfer {
  const p = lookup?.(t.client);
  if (p?.mac) t.mac = p.mac;
  if (p?.model) t.model = p.model;
  return t;
}

export function fromTftp(r: TransferRecord | TftpRefusal, lookup?: PhoneLookup): FinishedTransfer {
  const t: FinishedTransfer = {
    event: 'transfer',
    protocol: 'tftp',
    client: plain(r.client.address),
    port: r.client.port,
    file: r.file,
    direction: r.direction,
    options: r.result === 'refused' ? { mode: r.mode } : { mode: r.mode, ...r.options },
    bytes: r.result === 'refused' ? 0 : r.bytes,
    ms: r.result === 'refused' ? 0 : r.ms,
    retransmits: r.result === 'refused' ? 0 : r.retransmits,
    result: r.result,
  };
  if (r.error) t.error = `${r.error.by === 'peer' ? 'peer sent ' : ''}ERROR ${r.error.code}: ${r.error.message}`;
  return withPhone(t, lookup);
}

export function fromHttp(r: HttpRequestRecord, lookup?: PhoneLookup): FinishedTransfer {
  const result = httpResult(r);
  const options: Record<string, string | number> = { method: r.method, status: r.status };
  if (r.range) options.range = r.range;
  const t: FinishedTransfer = {
    event: 'transfer',
    protocol: r.tls ? 'https' : 'http',
    client: plain(r.client.address),
    port: r.client.port,
    file: r.file ?? r.target,
    direction: 'read',
    options,
    bytes: r.bytes,
    ms: r.ms,
    retransmits: 0,
    result,
  };
  if (result === 'failed') t.error = 'connection closed before the response was complete';
  else if (result === 'refused') t.error = `${r.status} ${http.STATUS_CODES[r.status] ?? ''}`.trim();
  return withPhone(t, lookup);
}

/** The record's one-line message: `tftp read 46xxupgrade.scr from 10.1.2.3:2070 ok, 1,024 bytes in 35 ms`. */
export function describeTransfer(t: FinishedTransfer): string {
  const who = `${t.client}:${t.port}${t.mac ? ` (${t.mac}${t.model ? ` ${t.model}` : ''})` : ''}`;
  const head = `${t.protocol} ${t.direction} ${t.file} ${t.direction === 'read' ? 'to' : 'from'} ${who}`;
  if (t.result === 'refused') return `${head} refused: ${t.error ?? ''}`;
  const tail = `${t.bytes.toLocaleString('en-US')} bytes in ${t.ms} ms${t.retransmits ? `, ${t.retransmits} retransmitted` : ''}`;
  return t.result === 'ok' ? `${head} ok, ${tail}` : `${head} failed after ${tail}: ${t.error ?? ''}`;
}
