/**
 * `bootwire decode CAPTURE [--json]`: every DHCP and TFTP message of a capture, one line each.
 *
 * Exit codes: 0 the capture was read to its end; 1 it could not be read at all (one line on stderr),
 * or only up to some damage (everything before it is printed, then the error with its byte offset).
 * Output is streamed in chunks with backpressure; a reader that goes away (`| head`) ends it quietly.
 */
import { readFileSync } from 'node:fs';
import { captureMessages, describeMessage } from '@bootwire/capture';
import { DEFAULT_MAX_FRAGMENTS, MAX_SET_BYTES, readCapture, udpDatagrams, type CaptureResult } from '@bootwire/capture';

export interface DecodeFlags {
  json?: boolean;
  warnings?: boolean;
}

const CHUNK = 64 * 1024;

export async function decode(file: string, flags: DecodeFlags): Promise<void> {
  let capture: CaptureResult;
  try {
    // One synchronous read: nothing else runs meanwhile, and it is faster than readFile's chunks.
    capture = readCapture(readFileSync(file));
  } catch (e) {
    return fail(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (capture.format === 'unknown')
    return fail(`${file}: not a capture file (${capture.error?.message ?? 'unknown format'})`);

  const { datagrams, warnings, fragments } = udpDatagrams(capture.records);
  const out = new ChunkedWriter(process.stdout);
  const line = flags.json ? (m: Parameters<typeof describeMessage>[0]) => JSON.stringify(m) : describeMessage;
  for (const m of captureMessages(datagrams)) {
    if (!(await out.write(line(m) + '\n'))) return; // the reader has gone: stop quietly
  }
  if (!(await out.flush())) return;
  if (flags.warnings) for (const w of warnings) process.stderr.write(`${file}: ${w}\n`);
  // Datagrams lost to a bound are worth a line even without --warnings: the capture may be hostile.
  const bounded = fragments?.droppedByLimits ?? 0;
  if (bounded > 0) {
    const s = bounded === 1 ? '' : 's';
    const bounds =
      `${DEFAULT_MAX_FRAGMENTS} fragments or ${MAX_SET_BYTES} bytes per datagram, 1024 datagrams or 16 ` +
      `MiB at once`;
    process.stderr.write(
      `bootwire: ${file}: ${bounded} fragmented datagram${s} not reassembled: over the reassembly ` +
        `bounds (${bounds})${flags.warnings ? '' : '; --warnings lists them'}\n`,
    );
  }
  if (capture.error) {
    const e = capture.error;
    fail(
      `${file}: capture ${e.kind} at byte offset ${e.offset}: ${e.message} (${capture.records.length}` +
        ` records read before it)`,
    );
  }
}

function fail(message: string): void {
  process.stderr.write(`bootwire: ${message}\n`);
  process.exitCode = 1;
}

/**
 * Gathers lines into 64 KiB writes, waits for 'drain' when the stream asks, and yields to the event loop
 * after each chunk so an EPIPE reported asynchronously is seen (pipe writes are synchronous on Linux).
 */
class ChunkedWriter {
  #pending: string[] = [];
  #size = 0;
  #closed = false;

  constructor(private readonly stream: NodeJS.WritableStream & { writableNeedDrain?: boolean }) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      this.#closed = true;
      if (e.code === 'EPIPE') return;
      process.stderr.write(`bootwire: output: ${e.message}\n`);
      process.exitCode = 1;
    });
  }

  /** False once the output is closed. */
  async write(s: string): Promise<boolean> {
    this.#pending.push(s);
    this.#size += s.length;
    return this.#size < CHUNK ? !this.#closed : this.flush();
  }

  async flush(): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#size > 0) {
      const ok = this.stream.write(this.#pending.join(''));
      this.#pending = [];
      this.#size = 0;
      if (!ok)
        await new Promise<void>((resolve) => {
          const done = () => {
            this.stream.off('drain', done);
            this.stream.off('close', done);
            resolve();
          };
          this.stream.on('drain', done);
          this.stream.on('close', done);
        });
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return !this.#closed;
  }
}
