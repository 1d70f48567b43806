/**
 * What each recorded TFTP conversation did, rebuilt from its packets: pure, no I/O.
 *
 * The file of a transfer is rebuilt from the DATA its sender sent (the server for a read, the client
 * for a write): blocks in order from 1, block numbers rolling over at 65536, retransmitted copies
 * dropped, blocks seen ahead of a gap kept until the gap fills (a capture taken at the receiver sees a
 * window's retransmission after the blocks that followed the loss). A transfer is complete when a block
 * shorter than the block size in force arrives in order; anything else is incomplete, with the reason.
 */
import { looseRequest, type TftpConversation, type TftpItem } from '@bootwire/capture';
import { fromNetascii } from '@bootwire/tftp';
import { DEFAULT_BLKSIZE, Opcode, type RequestPacket, type TftpOption } from '@bootwire/tftp';

export interface RecordedError {
  readonly code: number;
  readonly message: string;
  readonly by: 'server' | 'client';
  readonly frame: number;
  /** Blocks of data sent before it. */
  readonly afterBlocks: number;
}

export type RecordedStatus =
  /** The data ended with a short block. */
  | 'complete'
  /** Answered with an ERROR before any data moved (file not found, upload refused). */
  | 'refused'
  /** Data moved but did not end with a short block (see `damage`). */
  | 'incomplete'
  /** The request was never answered in the capture. */
  | 'unanswered';

export interface RecordedTransfer {
  readonly conversation: TftpConversation;
  /** The request as decoded (its first copy). */
  readonly request: RequestPacket;
  /** Set when the codec refuses the request (read loosely then, options unchecked): why. */
  readonly requestError?: string;
  /** The server's first OACK, when it sent one. */
  readonly oack?: readonly TftpOption[];
  /** The first ERROR in the conversation, from either side. */
  readonly error?: RecordedError;
  readonly status: RecordedStatus;
  /** Why the transfer is incomplete (or what else looked wrong), one phrase each. */
  readonly damage: readonly string[];
  /** Block size and window in force (the OACK's, else RFC 1350's). */
  readonly blksize: number;
  readonly windowsize: number;
  /** Bytes as they crossed the wire (netascii still encoded), for complete transfers. */
  readonly wire?: Buffer;
  /** The file: `wire`, netascii-decoded in netascii mode. */
  readonly file?: Buffer;
  /** Blocks rebuilt in order. */
  readonly blocks: number;
  /** tsize in the OACK, when there was one. */
  readonly tsize?: number;
}

/** Blocks kept ahead of a gap at most; past this a transfer is given up as damaged. */
const MAX_AHEAD = 4096;

interface Building {
  readonly conversation: TftpConversation;
  request?: RequestPacket;
  requestError?: string;
  oack?: readonly TftpOption[];
  oackBlksize?: number;
  oackWindowsize?: number;
  oackTsize?: number;
  error?: RecordedError;
  answered: boolean;
  /** Absolute number of the next block wanted (1-based). */
  next: number;
  chunks: Buffer[];
  bytes: number;
  ahead: Map<number, Buffer>;
  done: boolean;
  damage: string[];
  /** Blocks seen after the transfer had already completed or failed (ignored). */
  cut: boolean;
}

/** Groups TFTP items (in capture order) into the transfers they belong to, in order of their requests. */
export function recordedTransfers(items: Iterable<TftpItem>): RecordedTransfer[] {
  const byConversation = new Map<TftpConversation, Building>();
  for (const item of items) {
    const c = item.conversation;
    if (!c) continue;
    let b = byConversation.get(c);
    if (!b) {
      b = {
        conversation: c,
        answered: false,
        next: 1,
        chunks: [],
        bytes: 0,
        ahead: new Map(),
        done: false,
        damage: [],
        cut: false,
      };
      byConversation.set(c, b);
    }
    const d = item.datagram;
    if (!item.packet.ok) {
      // A request the codec refuses only for its options still opened the conversation.
      const loose = b.request ? undefined : looseRequest(d.payload);
      if (loose) {
        b.request = loose;
        b.requestError = item.packet.error.message;
      }
      continue;
    }
    const fromClient = d.src === c.clientAddr && d.srcPort === c.clientPort;
    const p = item.packet.packet;
    switch (p.opcode) {
      case Opcode.RRQ:
      case Opcode.WRQ:
        b.request ??= p;
        break;
      case Opcode.OACK:
        if (!fromClient && !b.oack) {
          b.oack = p.options;
          b.oackBlksize = p.known.blksize;
          b.oackWindowsize = p.known.windowsize;
          b.oackTsize = p.known.tsize;
        }
        if (!fromClient) b.answered = true;
        break;
      case Opcode.ERROR:
        if (!fromClient) b.answered = true;
        b.error ??= {
          code: p.code,
          message: p.message,
          by: fromClient ? 'client' : 'server',
          frame: d.frame,
          afterBlocks: b.next - 1,
        };
        break;
      case Opcode.ACK:
        if (!fromClient) b.answered = true;
        break;
      case Opcode.DATA: {
        if (!fromClient) b.answered = true;
        // Only the sending side's DATA carries the file.
        if (fromClient !== (c.kind === 'write')) break;
        if (d.truncated) {
          addDamage(b, `DATA in frame ${d.frame} cut by the capture (snaplen)`);
          b.cut = true;
          break;
        }
        data(b, p.block, p.payload);
        break;
      }
    }
  }
  const out: RecordedTransfer[] = [];
  for (const b of byConversation.values()) if (b.request) out.push(finish(b, b.request));
  return out.sort((x, y) => x.conversation.id - y.conversation.id);
}

function blksizeOf(b: Building): number {
  return b.oackBlksize ?? DEFAULT_BLKSIZE;
}

function addDamage(b: Building, what: string): void {
  if (!b.damage.includes(what)) b.damage.push(what);
}

function data(b: Building, wire: number, payload: Buffer): void {
  if (b.done || b.cut || b.error) return;
  // The absolute block this wire number is nearest to, ahead of or behind `next`.
  const delta = (((wire - b.next) & 0xffff) << 16) >> 16;
  const abs = b.next + delta;
  if (abs < b.next) return; // a retransmitted copy
  if (abs > b.next) {
    if (b.ahead.size >= MAX_AHEAD) {
      addDamage(b, `more than ${MAX_AHEAD} blocks ahead of missing block ${b.next}`);
      b.cut = true;
      return;
    }
    if (!b.ahead.has(abs)) b.ahead.set(abs, payload);
    return;
  }
  take(b, payload);
  for (let next = b.ahead.get(b.next); next && !b.done; next = b.ahead.get(b.next)) {
    b.ahead.delete(b.next);
    take(b, next);
  }
}

function take(b: Building, payload: Buffer): void {
  const blksize = blksizeOf(b);
  if (payload.length > blksize)
    addDamage(b, `block ${b.next} has ${payload.length} bytes, more than blksize ${blksize}`);
  b.chunks.push(payload);
  b.bytes += payload.length;
  b.next++;
  if (payload.length < blksize) {
    b.done = true;
    b.ahead.clear();
  }
}

function finish(b: Building, request: RequestPacket): RecordedTransfer {
  const blocks = b.next - 1;
  const base = {
    conversation: b.conversation,
    request,
    ...(b.requestError ? { requestError: b.requestError } : {}),
    ...(b.oack ? { oack: b.oack } : {}),
    ...(b.error ? { error: b.error } : {}),
    blksize: blksizeOf(b),
    windowsize: b.oackWindowsize ?? 1,
    blocks,
    ...(b.oackTsize !== undefined ? { tsize: b.oackTsize } : {}),
  };
  if (b.done) {
    const wire = Buffer.concat(b.chunks, b.bytes);
    const file = request.mode === 'netascii' ? fromNetascii(wire) : wire;
    const damage = [...b.damage];
    if (b.error) damage.push(`ERROR ${b.error.code} from the ${b.error.by} after the last block`);
    if (
      b.oackTsize !== undefined &&
      b.oackTsize !== 0 &&
      b.oackTsize !== wire.length &&
      b.conversation.kind === 'read'
    ) {
      damage.push(`the OACK announced tsize ${b.oackTsize}, ${wire.length} bytes arrived`);
    }
    return { ...base, status: 'complete', damage, wire, file };
  }
  const damage = [...b.damage];
  if (b.error && blocks === 0 && b.ahead.size === 0) return { ...base, status: 'refused', damage };
  if (!b.answered) return { ...base, status: 'unanswered', damage };
  if (b.error)
    damage.push(
      `ended by ERROR ${b.error.code} from the ${b.error.by} after ${blocks} block${blocks === 1 ? '' : 's'}`,
    );
  else if (b.ahead.size > 0) damage.push(`block ${b.next} missing`);
  else if (blocks === 0) damage.push('no DATA in the capture');
  else damage.push(`the capture ends after block ${blocks}, which is not short`);
  return { ...base, status: 'incomplete', damage };
}
