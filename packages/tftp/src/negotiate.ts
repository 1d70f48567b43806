/**
 * Server-side option negotiation (RFC 2347, 2348, 2349, 7440): which of a request's options the
 * server accepts, at what values, and the OACK that says so. Unknown options are never echoed.
 */
import type { OptionPair } from './codec.js';
import { DEFAULT_BLKSIZE, Opcode, type RequestPacket } from './packet.js';

export interface OptionPolicy {
  /** Largest blksize granted; a larger request is answered with this (RFC 2348 allows a smaller reply). */
  maxBlksize: number;
  /** Largest windowsize granted. */
  maxWindowsize: number;
  /**
   * Largest client timeout honoured, in ms. A longer one is declined (left out of the OACK, as RFC
   * 2349 allows no other answer than the value asked) and the server's own timeout applies.
   */
  maxTimeoutMs?: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** The client's timeout option, in ms, when it sent one. */
  timeoutMs?: number;
  /** RRQ: the size announced; WRQ: the size the client announced. */
  tsize?: number;
  /** Options to put in the OACK, in the client's order and spelling; empty means no OACK. */
  oack: OptionPair[];
}

/**
 * Reads the request's options once, from its wire list: order, spelling and value together. The
 * decoder checked the first instance of each known option against its RFC's range (a request that
 * fails it is refused before negotiation), so its value is read here as the number it was checked as;
 * later instances are skipped, as the decoder skips them.
 *
 * @param size for a RRQ, the number of bytes the transfer will carry (file size, or its netascii size).
 */
export function negotiate(req: RequestPacket, policy: OptionPolicy, size?: number): Negotiated {
  const out: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, oack: [] };
  const seen = new Set<string>();
  for (const o of req.options) {
    if (seen.has(o.key)) continue; // the first instance of a repeated option wins, as in decoding
    seen.add(o.key);
    switch (o.key) {
      case 'blksize':
        out.blksize = Math.min(Number(o.value), policy.maxBlksize);
        out.oack.push({ name: o.name, value: String(out.blksize) });
        break;
      case 'windowsize':
        out.windowsize = Math.min(Number(o.value), policy.maxWindowsize);
        out.oack.push({ name: o.name, value: String(out.windowsize) });
        break;
      case 'timeout': {
        const timeoutMs = Number(o.value) * 1000;
        if (policy.maxTimeoutMs !== undefined && timeoutMs > policy.maxTimeoutMs) break;
        out.timeoutMs = timeoutMs;
        out.oack.push({ name: o.name, value: o.value });
        break;
      }
      case 'tsize':
        if (req.opcode === Opcode.RRQ) {
          if (size === undefined) break;
          out.tsize = size;
        } else {
          out.tsize = Number(o.value);
        }
        out.oack.push({ name: o.name, value: String(out.tsize) });
        break;
      default:
        break; // unknown: ignored, never echoed
    }
  }
  return out;
}
