/**
 * TFTP conversations in a stream of UDP datagrams: pure, no I/O.
 *
 * TFTP is recognised by conversation, not by port. A request (RRQ/WRQ) to any port opens a
 * conversation; every packet after it between the client's address:port and any port of the server's
 * address belongs to it. The server's first answer fixes its transfer ID (`serverTid`): normally a fresh
 * port (RFC 1350), sometimes the request port itself (servers that keep 69, or 9000 in public captures).
 * Accepting any server port, not only the first TID, is what Wireshark does too (its TFTP conversation
 * leaves the server port open), and it keeps a buggy server's second answer to a retransmitted request
 * visible.
 *
 * A request repeated while its conversation is open (a retransmitted RRQ: same client port, server
 * endpoint, kind and file name) stays in that conversation. Once a conversation has ended (an ERROR, or a
 * DATA shorter than the block size), the same request opens a new one: clients retry after ERROR 8
 * without options, from the same port.
 *
 * A request the codec refuses only for its options (an empty option name, as Alcatel phones send, or an
 * out-of-range blksize that the server will answer with ERROR 8) still opens a conversation when its
 * file name and mode can be read: the server answers it, and what follows is TFTP. Its item keeps the
 * decode error.
 *
 * Datagrams to or from the well-known port (69) that belong to no conversation (a malformed request, a
 * capture that starts mid-transfer on a server that keeps 69) are still TFTP: they come out with
 * `conversation: undefined`.
 */
import { decodeTftp } from '@bootwire/tftp';
import {
  DEFAULT_BLKSIZE,
  type DecodeResult,
  Opcode,
  type RequestPacket,
  type TftpOption,
  type TftpPacket,
  type TransferMode,
} from '@bootwire/tftp';
import { formatHostPort } from '@bootwire/core';
import type { UdpDatagram } from './types.js';

export interface TftpConversation {
  /** 1-based, in order of the requests that opened them. */
  readonly id: number;
  readonly kind: 'read' | 'write';
  /** The client's endpoint: "addr:port", "[v6addr]:port" for IPv6. */
  readonly client: string;
  readonly clientAddr: string;
  readonly clientPort: number;
  /** Where the request went: "addr:port". */
  readonly server: string;
  readonly serverAddr: string;
  readonly serverPort: number;
  /** The port the server first answered from; undefined until it answers. */
  readonly serverTid: number | undefined;
  readonly filename: string;
  readonly mode: TransferMode;
  /** The request's options, in wire order. */
  readonly options: readonly TftpOption[];
  /** Frame of the first request. */
  readonly requestFrame: number;
  /** Copies of the request seen (1 + retransmissions). */
  readonly requests: number;
  /** Block size in force: the OACK's blksize once acknowledged, else 512. */
  readonly blksize: number;
  /** Set when an ERROR or the last DATA (shorter than blksize) has been seen. */
  readonly ended: 'error' | 'complete' | undefined;
}

/** One TFTP datagram: its decode and the conversation it belongs to (undefined: port 69, no conversation). */
export interface TftpItem {
  readonly datagram: UdpDatagram;
  readonly packet: DecodeResult;
  /** A live object: serverTid, requests, blksize and ended are updated as later packets arrive. */
  readonly conversation: TftpConversation | undefined;
}

export interface TftpTrackOptions {
  /** Ports whose unattributed datagrams are still TFTP. Default [69]. */
  readonly wellKnownPorts?: readonly number[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** "addr:port", IPv6 in brackets (as in URLs): @bootwire/core's formatHostPort, under this package's name. */
export const endpoint: (addr: string, port: number) => string = formatHostPort;

/**
 * Feed datagrams in capture order; push() returns the TFTP item for a datagram, or undefined when the
 * datagram is not TFTP.
 */
export class TftpTracker {
  /** The latest conversation per client endpoint and server address. */
  readonly #open = new Map<string, Mutable<TftpConversation>>();
  readonly #wellKnown: ReadonlySet<number>;
  #nextId = 1;

  constructor(options: TftpTrackOptions = {}) {
    this.#wellKnown = new Set(options.wellKnownPorts ?? [69]);
  }

  push(d: UdpDatagram): TftpItem | undefined {
    const p = d.payload;
    // Only opcodes 1 and 2 can open a conversation; decode nothing else until it is known to be TFTP.
    if (p.length >= 2 && p[0] === 0 && (p[1] === Opcode.RRQ || p[1] === Opcode.WRQ)) {
      const packet = decodeTftp(p);
      const req = packet.ok ? packet.packet : looseRequest(p);
      if (req && (req.opcode === Opcode.RRQ || req.opcode === Opcode.WRQ))
        return { datagram: d, packet, conversation: this.#request(d, req) };
    }
    const fromClient = this.#open.get(`${d.src}|${d.srcPort}|${d.dst}`);
    const toClient = fromClient ? undefined : this.#open.get(`${d.dst}|${d.dstPort}|${d.src}`);
    let conversation = fromClient ?? toClient;
    const wellKnown = this.#wellKnown.has(d.srcPort) || this.#wellKnown.has(d.dstPort);
    if (!conversation && !wellKnown) return undefined;
    const packet = decodeTftp(p);
    // After its end a conversation keeps only real TFTP (the last ACK, late retransmissions): the same
    // ports may carry something else later.
    if (conversation?.ended !== undefined && !packet.ok) {
      if (!wellKnown) return undefined;
      conversation = undefined;
    }
    if (conversation) {
      if (toClient && conversation.serverTid === undefined) conversation.serverTid = d.srcPort;
      if (packet.ok) this.#follow(conversation, packet.packet, d);
    }
    return { datagram: d, packet, conversation };
  }

  #request(d: UdpDatagram, req: RequestPacket): TftpConversation {
    const key = `${d.src}|${d.srcPort}|${d.dst}`;
    const kind = req.opcode === Opcode.RRQ ? 'read' : 'write';
    const prev = this.#open.get(key);
    if (
      prev &&
      prev.ended === undefined &&
      prev.serverPort === d.dstPort &&
      prev.kind === kind &&
      prev.filename === req.filename
    ) {
      prev.requests++;
      return prev;
    }
    const c: Mutable<TftpConversation> = {
      id: this.#nextId++,
      kind,
      client: endpoint(d.src, d.srcPort),
      clientAddr: d.src,
      clientPort: d.srcPort,
      server: endpoint(d.dst, d.dstPort),
      serverAddr: d.dst,
      serverPort: d.dstPort,
      serverTid: undefined,
      filename: req.filename,
      mode: req.mode,
      options: req.options,
      requestFrame: d.frame,
      requests: 1,
      blksize: DEFAULT_BLKSIZE,
      ended: undefined,
    };
    this.#open.set(key, c);
    return c;
  }

  /** Keeps the state that decides whether a repeated request is a retransmission. */
  #follow(c: Mutable<TftpConversation>, pk: TftpPacket, d: UdpDatagram): void {
    switch (pk.opcode) {
      case Opcode.OACK:
        if (pk.known.blksize !== undefined) c.blksize = pk.known.blksize;
        break;
      case Opcode.ERROR:
        c.ended ??= 'error';
        break;
      case Opcode.DATA:
        // A datagram cut by the capture's snaplen says nothing about the real length.
        if (!d.truncated && pk.payload.length < c.blksize) c.ended ??= 'complete';
        break;
    }
  }
}

const MODES: ReadonlySet<string> = new Set(['octet', 'netascii', 'mail']);

/**
 * A request read without judging its options: file name and mode must be there (NUL-terminated, a
 * known mode); then name/value pairs as far as they are NUL-terminated, empty ones included.
 */
export function looseRequest(b: Buffer): RequestPacket | undefined {
  if (b.length < 2 || b[0] !== 0 || (b[1] !== Opcode.RRQ && b[1] !== Opcode.WRQ)) return undefined;
  const fileEnd = b.indexOf(0, 2);
  if (fileEnd <= 2) return undefined;
  const modeEnd = b.indexOf(0, fileEnd + 1);
  const mode = modeEnd < 0 ? '' : b.toString('latin1', fileEnd + 1, modeEnd).toLowerCase();
  if (!MODES.has(mode)) return undefined;
  const options: TftpOption[] = [];
  for (let at = modeEnd + 1; at < b.length;) {
    const nameEnd = b.indexOf(0, at);
    const valueEnd = nameEnd < 0 ? -1 : b.indexOf(0, nameEnd + 1);
    if (valueEnd < 0) break;
    const name = b.toString('utf8', at, nameEnd);
    options.push({
      name,
      key: name.replace(/[A-Z]+/g, (x) => x.toLowerCase()),
      value: b.toString('utf8', nameEnd + 1, valueEnd),
    });
    at = valueEnd + 1;
  }
  return { opcode: b[1], filename: b.toString('utf8', 2, fileEnd), mode: mode as TransferMode, options, known: {} };
}

/** The TFTP datagrams of a capture, with their conversations, in capture order. */
export function* trackTftp(datagrams: Iterable<UdpDatagram>, options: TftpTrackOptions = {}): Generator<TftpItem> {
  const t = new TftpTracker(options);
  for (const d of datagrams) {
    const item = t.push(d);
    if (item) yield item;
  }
}
