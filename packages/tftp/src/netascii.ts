/**
 * netascii (RFC 764 as used by RFC 1350), converted on the fly in both directions:
 * sending, LF -> CR LF and CR -> CR NUL; receiving, CR LF -> LF and CR NUL -> CR.
 * Both converters are streaming: a pair split across two blocks converts the same as a whole one.
 */

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;

/** Size of `data` once encoded as netascii (what tsize reports for a netascii transfer). */
export function netasciiEncodedLength(data: Uint8Array): number {
  let n = data.length;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c === LF || c === CR) n++;
  }
  return n;
}

/** Encodes a local file's bytes to netascii, one block at a time. */
export class NetasciiEncoder {
  private offset = 0;
  /** Second byte of a pair that did not fit at the end of the previous block. */
  private pending = -1;

  constructor(private readonly data: Uint8Array) {}

  get done(): boolean {
    return this.offset >= this.data.length && this.pending < 0;
  }

  /** Fills `out` from the start and returns how many bytes were written (less than out.length at the end). */
  fill(out: Uint8Array): number {
    let w = 0;
    if (this.pending >= 0 && w < out.length) {
      out[w++] = this.pending;
      this.pending = -1;
    }
    const data = this.data;
    while (w < out.length && this.offset < data.length) {
      const c = data[this.offset++]!;
      if (c === LF || c === CR) {
        out[w++] = CR;
        const second = c === LF ? LF : NUL;
        if (w < out.length) out[w++] = second;
        else this.pending = second;
      } else {
        out[w++] = c;
      }
    }
    return w;
  }
}

/** Decodes netascii as it arrives; `push` returns the decoded bytes of one block. */
export class NetasciiDecoder {
  private pendingCr = false;

  /**
   * Decodes one block. Returns a new buffer (decoding shrinks, so it could be done in place, but the input is a view of
   * a datagram we do not own).
   */
  push(chunk: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let w = 0;
    let i = 0;
    if (this.pendingCr && chunk.length > 0) {
      this.pendingCr = false;
      const c = chunk[0]!;
      if (c === LF) {
        out[w++] = LF;
        i = 1;
      } else if (c === NUL) {
        out[w++] = CR;
        i = 1;
      } else {
        out[w++] = CR; // a bare CR is not valid netascii: keep it
      }
    }
    for (; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c !== CR) {
        out[w++] = c;
        continue;
      }
      if (i + 1 === chunk.length) {
        this.pendingCr = true;
        break;
      }
      const next = chunk[i + 1]!;
      if (next === LF) {
        out[w++] = LF;
        i++;
      } else if (next === NUL) {
        out[w++] = CR;
        i++;
      } else {
        out[w++] = CR;
      }
    }
    return out.subarray(0, w);
  }

  /** Ends the stream: a CR left at the very end is kept. */
  end(): Buffer {
    if (!this.pendingCr) return Buffer.alloc(0);
    this.pendingCr = false;
    return Buffer.from([CR]);
  }
}

/** Whole-buffer helpers, for tests and small files. */
export function toNetascii(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(netasciiEncodedLength(data));
  new NetasciiEncoder(data).fill(out);
  return out;
}

export function fromNetascii(data: Uint8Array): Buffer {
  const d = new NetasciiDecoder();
  return Buffer.concat([d.push(data), d.end()]);
}
