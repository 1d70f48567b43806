/**
 * Where a sender's DATA payloads come from. `block()` is asked only for blocks in the current window
 * (above the last acknowledged one), so a streaming source can forget what has been acknowledged.
 */
import { NetasciiEncoder, netasciiEncodedLength } from './netascii.js';

export interface BlockSource {
  /** Bytes on the wire in all (the tsize of the transfer). */
  readonly size: number;
  /** Payload of block `index` (absolute, 1-based) at `blksize`. A view wherever the source allows. */
  block(index: number, blksize: number): Buffer;
  /** Blocks up to and including `index` are acknowledged and will not be asked for again. */
  release(index: number): void;
}

/** octet mode: payloads are views of `bytes` (e.g. the shared copy of an image). Never copies. */
export class OctetSource implements BlockSource {
  readonly size: number;
  constructor(private readonly bytes: Buffer) {
    this.size = bytes.length;
  }
  block(index: number, blksize: number): Buffer {
    const start = Math.min((index - 1) * blksize, this.size);
    return this.bytes.subarray(start, Math.min(start + blksize, this.size));
  }
  release(): void {}
}

/**
 * netascii mode, converted on the fly. Blocks are produced in order and kept only until acknowledged,
 * so a window can be resent; netascii files are small text files, so this copy is not a hot path.
 */
export class NetasciiSource implements BlockSource {
  readonly size: number;
  private readonly encoder: NetasciiEncoder;
  private readonly produced = new Map<number, Buffer>();
  private next = 1;

  /** `encodedLength`: the netascii length when already known (a server computes it once per file version). */
  constructor(bytes: Uint8Array, encodedLength?: number) {
    this.size = encodedLength ?? netasciiEncodedLength(bytes);
    this.encoder = new NetasciiEncoder(bytes);
  }

  block(index: number, blksize: number): Buffer {
    while (this.next <= index) {
      const out = Buffer.allocUnsafe(blksize);
      this.produced.set(this.next++, out.subarray(0, this.encoder.fill(out)));
    }
    const b = this.produced.get(index);
    if (!b) throw new RangeError(`netascii block ${index} was already released`);
    return b;
  }

  release(index: number): void {
    for (const k of this.produced.keys()) if (k <= index) this.produced.delete(k);
  }
}

/** Number of DATA blocks for `size` bytes: a size that is an exact multiple ends with an empty block. */
export function blockCount(size: number, blksize: number): number {
  return Math.floor(size / blksize) + 1;
}
