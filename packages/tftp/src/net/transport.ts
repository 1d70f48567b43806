/**
 * A TFTP transfer's socket (its TID), whatever carries it: batched native sockets on Linux over IPv4
 * (src/net/batch-transport.ts), node:dgram everywhere else (src/net/dgram-transport.ts). Chosen once,
 * by `openTransport`; a transfer sees only this interface.
 *
 * What every transport does the same way:
 * - Datagrams from the peer go to `onPeer` (null: one arrived but could not be kept whole); from anyone
 *   else to `onStranger`. Until the peer's port is known (a client, before the server's first answer),
 *   the first datagram from the peer's address fixes it (RFC 1350: the server's TID).
 * - `queue` adds a datagram to the current event's batch and `flush` ends the event: the batch goes,
 *   a window of DATA together. A datagram the kernel has no room for is never counted as sent: it
 *   waits, with the rest of its batch, for room (back-pressure), and a newer batch replaces what is
 *   left of an older one: a transfer's later window or ACK covers what its earlier one had to say.
 * - `close` resolves once what was flushed has left, or could not (bounded).
 */
import { BatchTransport } from './batch-transport.js';
import { batchUdpFor } from './batch-udp.js';
import type { SendCounters } from './send-counters.js';
import { DgramTransport } from './dgram-transport.js';

export interface Endpoint {
  address: string;
  port: number;
}

export interface TransportOptions {
  /** The local address to bind: the server's listen address, a phone's own address, or 0.0.0.0. */
  local: string;
  peer: Endpoint;
  /** False for a client: the peer's port (its TID) is learned from its first datagram. */
  peerPortKnown: boolean;
  /** The longest datagram the peer usually sends (DATA of the blksize, for a receiving side). */
  slotBytes?: number;
  /** How many it sends at once (the window, for a receiving side). */
  burst?: number;
}

export interface TransferTransport {
  readonly kind: 'batch' | 'dgram';
  /** The local port: this side's TID. */
  readonly port: number;
  /** The peer as known now (its port learned, for a client). */
  readonly peer: Endpoint;
  onPeer: (msg: Buffer | null) => void;
  onStranger: (msg: Buffer | null, from: Endpoint) => void;
  /** Adds a datagram (head, then the body view) to the current event's batch. */
  queue(head: Buffer, body?: Buffer): void;
  /** Ends the event: sends its batch, which replaces what is still waiting of an earlier one. */
  flush(): void;
  /** One datagram to someone other than the peer (ERROR 5 to a stranger): at once, best effort. */
  sendTo(to: Endpoint, packet: Buffer): void;
  /** The transport no longer keeps the process alive (a client's dally). */
  unref(): void;
  close(): Promise<void>;
  readonly counters: SendCounters;
}

/** Opens a transfer's socket: batched where it can be (Linux, IPv4, addon built), node:dgram otherwise. */
export function openTransport(o: TransportOptions): Promise<TransferTransport> {
  return batchUdpFor(o.local) && batchUdpFor(o.peer.address) ? BatchTransport.open(o) : DgramTransport.open(o);
}
