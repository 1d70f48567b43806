/** Synthetic UDP datagrams for the replay unit tests. */
import {
  encodeAck,
  encodeError,
  encodeOack,
  encodeRequest,
  encodeTftp,
  type OptionPair,
} from '../../packages/tftp/src/codec.js';
import { Opcode } from '../../packages/tftp/src/packet.js';

export { dg, resetFrames } from '../helpers/datagrams.js';

export const rrq = (file: string, opts: OptionPair[] = [], mode = 'octet') =>
  encodeRequest(Opcode.RRQ, file, mode, opts);
export const wrq = (file: string, opts: OptionPair[] = []) => encodeRequest(Opcode.WRQ, file, 'octet', opts);
export const data = (block: number, payload: Buffer) => encodeTftp({ opcode: Opcode.DATA, block, payload });
export const ack = (block: number) => Buffer.from(encodeAck(block));
export const oack = (opts: OptionPair[]) => encodeOack(opts);
export const error = (code: number, message: string) => encodeError(code, message);

/** Deterministic bytes. */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** The DATA packets of `file` in blocks of `blksize` (with the empty last block when it divides). */
export function blocks(file: Buffer, blksize: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; ; i++) {
    const chunk = file.subarray(i * blksize, (i + 1) * blksize);
    out.push(data((i + 1) & 0xffff, chunk));
    if (chunk.length < blksize) return out;
  }
}
