/**
 * The firmware image header of bootwire's example images (all families; the 400HD's `.img` reads it to
 * decide whether to download).
 *
 * The vendors' real layouts are not public (reference/phones.md, "AudioCodes 400HD": "The header's byte
 * layout is not public: define one for the project and document it"), and Avaya's images are signed in
 * a format no manual describes. So bootwire defines one layout, written by `bootwire init`, checked by
 * `bootwire check` and by the simulated phones before they "burn" an image:
 *
 * | offset | bytes | field                                                                     |
 * | ------ | ----- | ------------------------------------------------------------------------- |
 * | 0      | 8     | magic `42 57 49 4D 47 0D 0A 1A` ("BWIMG", CR LF, SUB)                      |
 * | 8      | 2     | layout version, 1                                                         |
 * | 10     | 2     | header length, 128                                                        |
 * | 12     | 20    | family id, ASCII, NUL-padded (`audiocodes-400hd`, `avaya-9600-sip`, ...)  |
 * | 32     | 24    | models the image is for, ASCII, comma-separated, NUL-padded (`440HD`)     |
 * | 56     | 20    | firmware version, ASCII, NUL-padded (`2.2.8.64`, `SIP12x004.04.09.00`)    |
 * | 76     | 8     | payload length in bytes (unsigned, big-endian)                            |
 * | 84     | 32    | SHA-256 of the payload                                                    |
 * | 116    | 8     | reserved, zero                                                            |
 * | 124    | 4     | CRC-32 (IEEE 802.3, as zlib) of bytes 0..123                              |
 *
 * All integers big-endian. The file is the 128-byte header followed by the payload. The magic's CR LF
 * and SUB catch a text-mode (netascii) transfer, as PNG's do; the CRC catches a damaged header before
 * its fields are trusted; the length catches a truncated or padded file; the digest a damaged payload.
 */
import { createHash, type Hash } from 'node:crypto';

export const IMAGE_MAGIC: Buffer = Buffer.from([0x42, 0x57, 0x49, 0x4d, 0x47, 0x0d, 0x0a, 0x1a]);
export const IMAGE_LAYOUT_VERSION = 1;
export const IMAGE_HEADER_BYTES = 128;

const F_FAMILY = [12, 20] as const;
const F_MODELS = [32, 24] as const;
const F_VERSION = [56, 20] as const;
const O_LENGTH = 76;
const O_SHA = 84;
const O_RESERVED = 116;
const O_CRC = 124;

export interface ImageHeader {
  readonly family: string;
  /** At least one model name (compared case-insensitively). */
  readonly models: readonly string[];
  readonly version: string;
  readonly payloadLength: number;
  /** 32 bytes. */
  readonly sha256: Buffer;
}

export type ImageErrorCode =
  | 'short' // fewer than 128 bytes
  | 'bad-magic'
  | 'bad-layout' // unknown layout version or header length
  | 'bad-header-crc'
  | 'bad-field' // a text field that is not printable ASCII, or reserved bytes set
  | 'wrong-size' // the file is not header + payload length
  | 'bad-digest' // the payload's SHA-256 differs
  | 'wrong-family'
  | 'wrong-model';

export interface ImageError {
  readonly code: ImageErrorCode;
  readonly message: string;
}

export type ImageCheck =
  { readonly ok: true; readonly header: ImageHeader } | { readonly ok: false; readonly error: ImageError };

const fail = (code: ImageErrorCode, message: string): ImageCheck => ({ ok: false, error: { code, message } });

// ----------------------------------------------------------------------------------------------- CRC

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 as zlib and Ethernet compute it (`crc32('123456789') = 0xcbf43926`). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ------------------------------------------------------------------------------------------- encode

function putText(buf: Buffer, [at, len]: readonly [number, number], text: string, what: string): void {
  if (!/^[\x21-\x7e]*$/.test(text))
    throw new RangeError(`image ${what} ${JSON.stringify(text)} must be printable ASCII without spaces`);
  if (text.length > len) throw new RangeError(`image ${what} ${JSON.stringify(text)} is over ${len} characters`);
  buf.write(text, at, 'latin1');
}

/** The 128 header bytes. Throws RangeError on a field that does not fit (a programming error). */
export function encodeImageHeader(h: ImageHeader): Buffer {
  const b = Buffer.alloc(IMAGE_HEADER_BYTES);
  IMAGE_MAGIC.copy(b, 0);
  b.writeUInt16BE(IMAGE_LAYOUT_VERSION, 8);
  b.writeUInt16BE(IMAGE_HEADER_BYTES, 10);
  if (h.family === '') throw new RangeError('image family is empty');
  if (h.models.length === 0 || h.models.some((m) => m === '' || m.includes(',')))
    throw new RangeError(`image models ${JSON.stringify(h.models)}`);
  if (h.version === '') throw new RangeError('image version is empty');
  putText(b, F_FAMILY, h.family, 'family');
  putText(b, F_MODELS, h.models.join(','), 'models');
  putText(b, F_VERSION, h.version, 'version');
  if (!Number.isSafeInteger(h.payloadLength) || h.payloadLength < 0)
    throw new RangeError(`payload length ${h.payloadLength}`);
  b.writeBigUInt64BE(BigInt(h.payloadLength), O_LENGTH);
  if (h.sha256.length !== 32) throw new RangeError('sha256 must be 32 bytes');
  h.sha256.copy(b, O_SHA);
  b.writeUInt32BE(crc32(b.subarray(0, O_CRC)), O_CRC);
  return b;
}

/** Header for a payload: computes length and digest. */
export function imageHeaderFor(
  fields: { family: string; models: readonly string[]; version: string },
  payload: Uint8Array,
): Buffer {
  const sha256 = createHash('sha256').update(payload).digest();
  return encodeImageHeader({ ...fields, payloadLength: payload.length, sha256 });
}

// ------------------------------------------------------------------------------------------- decode

function getText(buf: Uint8Array, [at, len]: readonly [number, number]): string | undefined {
  let end = at;
  while (end < at + len && buf[end] !== 0) end++;
  for (let i = end; i < at + len; i++) if (buf[i] !== 0) return undefined; // text after the NUL padding
  for (let i = at; i < end; i++) if (buf[i]! < 0x21 || buf[i]! > 0x7e) return undefined;
  return Buffer.from(buf.buffer, buf.byteOffset + at, end - at).toString('latin1');
}

/**
 * Reads the header from the first bytes of an image (at least 128; the rest is not looked at). This is
 * what a 400HD does with the start of the file before deciding to download the whole. Never throws.
 */
export function decodeImageHeader(bytes: Uint8Array): ImageCheck {
  if (bytes.length < IMAGE_HEADER_BYTES)
    return fail('short', `${bytes.length} bytes, shorter than the ${IMAGE_HEADER_BYTES}-byte image header`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, IMAGE_HEADER_BYTES);
  if (!b.subarray(0, 8).equals(IMAGE_MAGIC)) {
    // "BWIMG" followed by something else than CR LF SUB: the bytes went through a text-mode transfer.
    const hint =
      b.subarray(0, 5).toString('latin1') === 'BWIMG' ? ' (line ends changed in transfer? use octet mode)' : '';
    return fail(
      'bad-magic',
      `not a bootwire image header: starts with ${b.subarray(0, 8).toString('hex')}, expected ` +
        `${IMAGE_MAGIC.toString('hex')}${hint}`,
    );
  }
  const layout = b.readUInt16BE(8);
  const headerLength = b.readUInt16BE(10);
  if (layout !== IMAGE_LAYOUT_VERSION || headerLength !== IMAGE_HEADER_BYTES)
    return fail('bad-layout', `header layout ${layout} of ${headerLength} bytes (this version reads layout 1 of 128)`);
  const crc = crc32(b.subarray(0, O_CRC));
  if (crc !== b.readUInt32BE(O_CRC))
    return fail(
      'bad-header-crc',
      `header CRC-32 is ${b.readUInt32BE(O_CRC).toString(16).padStart(8, '0')}, computed ` +
        `${crc.toString(16).padStart(8, '0')}: the header is damaged`,
    );
  const family = getText(b, F_FAMILY);
  const models = getText(b, F_MODELS);
  const version = getText(b, F_VERSION);
  if (!family || !models || !version)
    return fail('bad-field', 'a text field of the header is empty or not printable ASCII');
  if (models.split(',').some((m) => m === ''))
    return fail('bad-field', `empty model name in ${JSON.stringify(models)}`);
  if (!b.subarray(O_RESERVED, O_CRC).every((x) => x === 0))
    return fail('bad-field', 'reserved header bytes are not zero');
  const length = b.readBigUInt64BE(O_LENGTH);
  if (length > BigInt(Number.MAX_SAFE_INTEGER)) return fail('bad-field', `payload length ${length} is not plausible`);
  return {
    ok: true,
    header: {
      family,
      models: models.split(','),
      version,
      payloadLength: Number(length),
      sha256: Buffer.from(b.subarray(O_SHA, O_SHA + 32)),
    },
  };
}

export interface ImageExpectation {
  /** The model that will run the image: must be one of the header's models. */
  readonly model?: string;
  readonly family?: string;
}

/** Header-only checks against the phone that reads it. */
export function checkImageFor(header: ImageHeader, expect: ImageExpectation): ImageCheck {
  if (expect.family !== undefined && header.family !== expect.family) {
    return fail('wrong-family', `image is for family ${header.family}, not ${expect.family}`);
  }
  if (expect.model !== undefined && !header.models.some((m) => m.toLowerCase() === expect.model!.toLowerCase())) {
    return fail('wrong-model', `image is for ${header.models.join(', ')}, not ${expect.model}`);
  }
  return { ok: true, header };
}

/**
 * Incremental check of a whole image as it arrives (a download, a file read in chunks): feed every
 * byte in order with `update`, then `finish` says whether it is safe to burn. Never throws.
 */
export class ImageVerifier {
  private head: Buffer = Buffer.alloc(0);
  private header: ImageHeader | undefined;
  private failure: ImageError | undefined;
  private hash: Hash | undefined;
  private payloadSeen = 0;

  constructor(private readonly expect: ImageExpectation = {}) {}

  update(chunk: Uint8Array): void {
    if (this.failure || this.done || chunk.length === 0) return;
    let rest = chunk;
    if (!this.header) {
      const need = IMAGE_HEADER_BYTES - this.head.length;
      this.head = Buffer.concat([this.head, chunk.subarray(0, need)]);
      rest = chunk.subarray(Math.min(need, chunk.length));
      if (this.head.length < IMAGE_HEADER_BYTES) return;
      const r = decodeImageHeader(this.head);
      const c = r.ok ? checkImageFor(r.header, this.expect) : r;
      if (!c.ok) {
        this.failure = c.error;
        return;
      }
      this.header = c.header;
      this.hash = createHash('sha256');
    }
    this.payloadSeen += rest.length;
    if (this.payloadSeen > this.header.payloadLength) {
      this.failure = {
        code: 'wrong-size',
        message: `more than the ${this.header.payloadLength} payload bytes the header announces`,
      };
      return;
    }
    this.hash!.update(rest);
  }

  private done: ImageCheck | undefined;

  /** Set as soon as the bytes so far are known bad (a header that is wrong, for another model, or too much payload). */
  get failed(): ImageError | undefined {
    return this.failure;
  }

  /** The verdict; later calls return the same one. */
  finish(): ImageCheck {
    this.done ??= this.verdict();
    return this.done;
  }

  private verdict(): ImageCheck {
    if (this.failure) return { ok: false, error: this.failure };
    if (!this.header) return decodeImageHeader(this.head); // too short: 'short'
    if (this.payloadSeen !== this.header.payloadLength) {
      return fail(
        'wrong-size',
        `payload is ${this.payloadSeen} bytes, the header announces ${this.header.payloadLength} (truncated image)`,
      );
    }
    const digest = this.hash!.digest();
    if (!digest.equals(this.header.sha256))
      return fail(
        'bad-digest',
        `payload SHA-256 ${digest.toString('hex').slice(0, 16)}... differs from the header's ` +
          `${this.header.sha256.toString('hex').slice(0, 16)}...`,
      );
    return { ok: true, header: this.header };
  }
}

/** Checks a whole image in memory. */
export function verifyImage(bytes: Uint8Array, expect: ImageExpectation = {}): ImageCheck {
  const v = new ImageVerifier(expect);
  v.update(bytes);
  return v.finish();
}
