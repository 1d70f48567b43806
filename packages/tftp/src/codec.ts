/**
 * TFTP codec: pure functions over bytes.
 *
 * decodeTftp() never throws and never reads outside the datagram: every malformed input yields a typed
 * DecodeError. A decoded DATA payload is a view of the datagram.
 *
 * Encoding DATA never copies the payload: dataHeader() returns a 4-byte header from a shared, immutable
 * table and the caller sends `[header, payload]` with `socket.send`. The table matters because dgram
 * resolves the destination on the next tick: a header buffer reused and rewritten within one burst of
 * sends would corrupt the earlier ones.
 */
import {
  BLKSIZE_MAX,
  BLKSIZE_MIN,
  type DecodeError,
  type DecodeErrorKind,
  type DecodeResult,
  type KnownOptions,
  Opcode,
  type TftpOption,
  type TftpPacket,
  TIMEOUT_MAX,
  TIMEOUT_MIN,
  WINDOWSIZE_MAX,
  WINDOWSIZE_MIN,
} from './packet.js';

// ---------------------------------------------------------------------------------------------- decode

const fail = (kind: DecodeErrorKind, message: string, offset: number): DecodeResult => ({
  ok: false,
  error: { kind, message, offset },
});

/** Index of the NUL ending the string that starts at `from`, or -1. */
function nulFrom(buf: Uint8Array, from: number): number {
  return from < buf.length ? buf.indexOf(0, from) : -1;
}

/** Decodes one UDP payload as a TFTP packet. */
export function decodeTftp(buf: Buffer): DecodeResult {
  if (buf.length < 2) return fail('truncated', `packet of ${buf.length} bytes has no opcode`, 0);
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ:
      return decodeRequest(buf, opcode);
    case Opcode.DATA:
      if (buf.length < 4) return fail('truncated', 'DATA shorter than its 4-byte header', buf.length);
      return { ok: true, packet: { opcode, block: buf.readUInt16BE(2), payload: buf.subarray(4) } };
    case Opcode.ACK:
      if (buf.length < 4) return fail('truncated', 'ACK shorter than 4 bytes', buf.length);
      if (buf.length > 4) return fail('trailing-bytes', `ACK has ${buf.length - 4} bytes after its block number`, 4);
      return { ok: true, packet: { opcode, block: buf.readUInt16BE(2) } };
    case Opcode.ERROR: {
      if (buf.length < 4) return fail('truncated', 'ERROR shorter than its 4-byte header', buf.length);
      // Many stacks omit the message's NUL: accept an unterminated message rather than lose the code.
      const end = nulFrom(buf, 4);
      const message = buf.toString('utf8', 4, end < 0 ? buf.length : end);
      return { ok: true, packet: { opcode, code: buf.readUInt16BE(2), message } };
    }
    case Opcode.OACK: {
      const opts = decodeOptions(buf, 2);
      if (!opts.ok) return opts;
      return { ok: true, packet: { opcode, options: opts.options, known: opts.known } };
    }
    default:
      return fail('unknown-opcode', `unknown opcode ${opcode}`, 0);
  }
}

function decodeRequest(buf: Buffer, opcode: typeof Opcode.RRQ | typeof Opcode.WRQ): DecodeResult {
  const fileEnd = nulFrom(buf, 2);
  if (fileEnd < 0) return fail('unterminated', 'filename is not NUL-terminated', buf.length);
  if (fileEnd === 2) return fail('empty-filename', 'empty filename', 2);
  const modeEnd = nulFrom(buf, fileEnd + 1);
  if (modeEnd < 0) return fail('unterminated', 'mode is not NUL-terminated', buf.length);
  const mode = buf.toString('latin1', fileEnd + 1, modeEnd).toLowerCase();
  if (mode !== 'octet' && mode !== 'netascii' && mode !== 'mail') {
    return fail('bad-mode', `unknown transfer mode ${JSON.stringify(mode)}`, fileEnd + 1);
  }
  const opts = decodeOptions(buf, modeEnd + 1);
  if (!opts.ok) return opts;
  return {
    ok: true,
    packet: {
      opcode,
      filename: buf.toString('utf8', 2, fileEnd),
      mode: mode,
      options: opts.options,
      known: opts.known,
    },
  };
}

type OptionsResult = { ok: true; options: TftpOption[]; known: KnownOptions } | { ok: false; error: DecodeError };

function decodeOptions(buf: Buffer, from: number): OptionsResult {
  const options: TftpOption[] = [];
  const known: KnownOptions = {};
  let at = from;
  // Some clients pad requests with NULs (RFC 1350 requests were often padded to a fixed size).
  while (at < buf.length && !isPadding(buf, at)) {
    const nameEnd = nulFrom(buf, at);
    if (nameEnd < 0)
      return {
        ok: false,
        error: { kind: 'unterminated', message: 'option name is not NUL-terminated', offset: buf.length },
      };
    if (nameEnd === at)
      return { ok: false, error: { kind: 'empty-option-name', message: 'empty option name', offset: at } };
    const valueEnd = nulFrom(buf, nameEnd + 1);
    if (valueEnd < 0) {
      return {
        ok: false,
        error:
          nameEnd + 1 >= buf.length
            ? {
                kind: 'odd-options',
                message: `option ${buf.toString('latin1', at, nameEnd)} has no value`,
                offset: nameEnd + 1,
              }
            : { kind: 'unterminated', message: 'option value is not NUL-terminated', offset: buf.length },
      };
    }
    const name = buf.toString('utf8', at, nameEnd);
    // Option names are case-insensitive ASCII (RFC 2347). Fold A-Z only: toLowerCase() would also map
    // e.g. KELVIN SIGN (U+212A) to 'k' and turn a non-ASCII name into "blksize".
    const key = name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
    const value = buf.toString('utf8', nameEnd + 1, valueEnd);
    const bad = parseKnown(known, key, value);
    if (bad) return { ok: false, error: { kind: 'bad-option-value', message: bad, offset: nameEnd + 1 } };
    options.push({ name, key, value });
    at = valueEnd + 1;
  }
  return { ok: true, options, known };
}

/** True when every byte from `at` to the end is NUL. */
function isPadding(buf: Buffer, at: number): boolean {
  for (let i = at; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

const DIGITS = /^[0-9]{1,16}$/;

function parseKnown(known: KnownOptions, key: string, value: string): string | undefined {
  let min: number;
  let max: number;
  switch (key) {
    case 'blksize':
      [min, max] = [BLKSIZE_MIN, BLKSIZE_MAX];
      break;
    case 'timeout':
      [min, max] = [TIMEOUT_MIN, TIMEOUT_MAX];
      break;
    case 'windowsize':
      [min, max] = [WINDOWSIZE_MIN, WINDOWSIZE_MAX];
      break;
    case 'tsize':
      [min, max] = [0, Number.MAX_SAFE_INTEGER];
      break;
    default:
      return undefined; // unknown options are kept as text and never negotiated
  }
  if (known[key] !== undefined) return undefined; // a repeated option: the first one wins
  const n = DIGITS.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) return `option ${key}=${JSON.stringify(value)} is not a number in ${min}..${max}`;
  known[key] = n;
  return undefined;
}

// ---------------------------------------------------------------------------------------------- encode

/** An option to put on the wire, in the order given. */
export interface OptionPair {
  readonly name: string;
  readonly value: string;
}

function writeString(buf: Buffer, at: number, s: string): number {
  at += buf.write(s, at, 'utf8');
  buf[at] = 0;
  return at + 1;
}

function optionsLength(options: readonly OptionPair[]): number {
  let n = 0;
  for (const o of options) n += Buffer.byteLength(o.name) + Buffer.byteLength(o.value) + 2;
  return n;
}

function writeOptions(buf: Buffer, at: number, options: readonly OptionPair[]): number {
  for (const o of options) {
    at = writeString(buf, at, o.name);
    at = writeString(buf, at, o.value);
  }
  return at;
}

function checkString(what: string, s: string): void {
  if (s.includes('\0')) throw new RangeError(`${what} must not contain NUL`);
}

/** RRQ or WRQ. Throws RangeError on a string containing NUL (a programming error, not wire input). */
export function encodeRequest(
  opcode: typeof Opcode.RRQ | typeof Opcode.WRQ,
  filename: string,
  mode: string,
  options: readonly OptionPair[] = [],
): Buffer {
  if (filename.length === 0) throw new RangeError('empty filename');
  checkString('filename', filename);
  checkString('mode', mode);
  for (const o of options) {
    checkString('option name', o.name);
    checkString('option value', o.value);
  }
  const buf = Buffer.allocUnsafe(
    2 + Buffer.byteLength(filename) + Buffer.byteLength(mode) + 2 + optionsLength(options),
  );
  buf.writeUInt16BE(opcode, 0);
  let at = writeString(buf, 2, filename);
  at = writeString(buf, at, mode);
  writeOptions(buf, at, options);
  return buf;
}

export function encodeOack(options: readonly OptionPair[]): Buffer {
  for (const o of options) {
    checkString('option name', o.name);
    checkString('option value', o.value);
  }
  const buf = Buffer.allocUnsafe(2 + optionsLength(options));
  buf.writeUInt16BE(Opcode.OACK, 0);
  writeOptions(buf, 2, options);
  return buf;
}

export function encodeError(code: number, message: string): Buffer {
  const clean = message.replaceAll('\0', ' ');
  const buf = Buffer.allocUnsafe(4 + Buffer.byteLength(clean) + 1);
  buf.writeUInt16BE(Opcode.ERROR, 0);
  buf.writeUInt16BE(code & 0xffff, 2);
  writeString(buf, 4, clean);
  return buf;
}

// Immutable 4-byte headers for every block number, shared by every transfer in this thread. Views are
// created on first use; 2 x 256 KiB of backing store.
const dataHeaderBytes = Buffer.alloc(65536 * 4);
const ackBytes = Buffer.alloc(65536 * 4);
for (let b = 0; b < 65536; b++) {
  dataHeaderBytes.writeUInt16BE(Opcode.DATA, b * 4);
  dataHeaderBytes.writeUInt16BE(b, b * 4 + 2);
  ackBytes.writeUInt16BE(Opcode.ACK, b * 4);
  ackBytes.writeUInt16BE(b, b * 4 + 2);
}
const dataHeaders = new Array<Buffer | undefined>(65536);
const acks = new Array<Buffer | undefined>(65536);

/** The DATA header for a block (number taken modulo 65536). Never write into it. */
export function dataHeader(block: number): Buffer {
  const b = block & 0xffff;
  return (dataHeaders[b] ??= dataHeaderBytes.subarray(b * 4, b * 4 + 4));
}

/** An ACK packet for a block (number taken modulo 65536). Never write into it. */
export function encodeAck(block: number): Buffer {
  const b = block & 0xffff;
  return (acks[b] ??= ackBytes.subarray(b * 4, b * 4 + 4));
}

/** DATA as the two pieces to hand to `socket.send`: the shared header and the payload view. */
export function encodeData(block: number, payload: Buffer): [Buffer, Buffer] {
  return [dataHeader(block), payload];
}

/**
 * Any packet as one contiguous buffer. This copies a DATA payload: it is for tests, captures and tools,
 * not for the transfer path (which uses encodeData).
 */
export function encodeTftp(packet: TftpPacket): Buffer {
  switch (packet.opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ:
      return encodeRequest(packet.opcode, packet.filename, packet.mode, packet.options);
    case Opcode.DATA:
      return Buffer.concat(encodeData(packet.block, packet.payload));
    case Opcode.ACK:
      return Buffer.from(encodeAck(packet.block));
    case Opcode.ERROR:
      return encodeError(packet.code, packet.message);
    case Opcode.OACK:
      return encodeOack(packet.options);
  }
}
