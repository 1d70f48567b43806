/**
 * The resolver: what a file server serves for a request. TFTP and HTTP (and FTP) call one function,
 * `(request, client) => file | bytes | stream | refusal`, once per request; the built-in one
 * (root-resolver.ts) serves a root through the shared image cache, with the name rules of names.ts.
 * An embedder passes its own to compute a phone's settings file from its MAC, or to pick a file by
 * client.
 *
 * A resolver is code the server does not trust to behave: `runResolver` bounds it in time, checks
 * what it returns, and turns a throw, a rejection, a hang or garbage into a `fault` that the server
 * answers with an error to that client only (TFTP ERROR 0, HTTP 500), never an exception out of the
 * server. Bytes are served as they are, whatever view of whatever buffer they are: exactly the view's
 * bytes, from its byteOffset. A stream is read with a byte limit and a deadline.
 */
import type { Phone, PhoneLookup } from '../server/phones.js';

export type FileProtocol = 'tftp' | 'http' | 'https' | 'ftp';

export interface FileRequest {
  /** The name as the client asked: a TFTP filename, an HTTP path (%-decoded, no leading `/`), an FTP path. */
  name: string;
  protocol: FileProtocol;
  /** TFTP transfer mode (`octet`, `netascii`), HTTP method (`GET`, `HEAD`), FTP command (`RETR`, `SIZE`). */
  mode: string;
}

export interface ClientInfo {
  address: string;
  port: number;
  /** The phone at this address, when bootwire's DHCP server leased it in this process. */
  phone?: Phone;
}

export type RefusalReason = 'not-found' | 'forbidden' | 'invalid';

export type Resolution =
  /** A file on disk, served from the shared cache (one copy per file version for all transfers). */
  | { kind: 'file'; path: string; name?: string }
  /** These bytes, exactly (any Uint8Array view; a SharedArrayBuffer's is served from the TFTP worker pool). */
  | { kind: 'bytes'; bytes: Uint8Array; name?: string; mtimeMs?: number; etag?: string }
  /** Generated content: read up to the server's stream limit and deadline; `size`, when given, must be exact. */
  | { kind: 'stream'; stream: AsyncIterable<Uint8Array>; size?: number; name?: string }
  | { kind: 'refusal'; reason: RefusalReason; message?: string };

/** How a name is mapped before it is looked up (remap rules, lowercase); `op` is the request's direction. */
export type NameResult = { ok: true; name: string } | { ok: false; message?: string };
export type NameMapper = (request: FileRequest, client: ClientInfo, op: 'read' | 'write') => NameResult;

export type ResolverFunction = (request: FileRequest, client: ClientInfo) => Resolution | Promise<Resolution>;

/**
 * A resolver. `mapName`, when present, is the name mapping it applies (the built-in resolver's remap
 * and lowercase rules): a server applies it to uploads too, and an FTP server to directory names.
 */
export type Resolver = ResolverFunction & { mapName?: NameMapper };

export type ResolverOutcome =
  | Exclude<Resolution, { kind: 'refusal' }>
  | Extract<Resolution, { kind: 'refusal' }>
  | { kind: 'fault'; message: string };

/** What every file server (TFTP, HTTP, FTP) takes to serve through a resolver. */
export interface ResolverOptions {
  /**
   * The served directory: the default resolver's root (and, for TFTP, where uploads go). Needed
   * unless a `resolver` is given.
   */
  root?: string;
  /** What a read request gets; default: the files under `root`. */
  resolver?: Resolver;
  /** The phones behind client addresses (bootwire's DHCP server in the same process), for records and names. */
  phones?: PhoneLookup;
  /** Time a resolver has to answer; past it the client gets an error (TFTP ERROR 0, HTTP 500). Default 5 s. */
  resolveTimeoutMs?: number;
  /** Bytes a stream result may produce (TFTP reads it whole before its first block). Default 16 MiB. */
  maxStreamBytes?: number;
  /** Time a stream result has to end. Default 30 s. */
  streamTimeoutMs?: number;
}

export const DEFAULT_RESOLVE_TIMEOUT_MS = 5000;
/** Bytes a stream result may produce. */
export const DEFAULT_MAX_STREAM_BYTES = 16 * 1024 * 1024;
/** Time a stream result may take from its first to its last byte. */
export const DEFAULT_STREAM_TIMEOUT_MS = 30_000;

const REASONS = new Set<string>(['not-found', 'forbidden', 'invalid']);
const fault = (message: string): ResolverOutcome => ({ kind: 'fault', message });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const optionalString = (v: unknown) => v === undefined || typeof v === 'string';

/** Checks a resolver's answer; anything that is not a resolution is a fault. */
export function checkResolution(r: unknown): ResolverOutcome {
  if (!isObject(r)) return fault(`resolver returned ${r === null ? 'null' : typeof r}, not a resolution`);
  if (!optionalString(r.name)) return fault('resolver returned a name that is not a string');
  switch (r.kind) {
    case 'file':
      if (typeof r.path !== 'string' || !r.path.startsWith('/') || r.path.includes('\0'))
        return fault('resolver returned a file without an absolute path');
      return r as unknown as ResolverOutcome;
    case 'bytes':
      if (!(r.bytes instanceof Uint8Array)) return fault('resolver returned bytes that are not a Uint8Array');
      if (r.mtimeMs !== undefined && !Number.isFinite(r.mtimeMs)) return fault('resolver returned a bad mtimeMs');
      if (!optionalString(r.etag)) return fault('resolver returned an etag that is not a string');
      return r as unknown as ResolverOutcome;
    case 'stream':
      if (
        !isObject(r.stream) ||
        typeof (r.stream as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function'
      )
        return fault('resolver returned a stream that is not async iterable');
      if (r.size !== undefined && !(Number.isSafeInteger(r.size) && (r.size as number) >= 0))
        return fault('resolver returned a bad stream size');
      return r as unknown as ResolverOutcome;
    case 'refusal':
      if (typeof r.reason !== 'string' || !REASONS.has(r.reason))
        return fault('resolver returned a refusal without a known reason');
      if (!optionalString(r.message)) return fault('resolver returned a refusal message that is not a string');
      return r as unknown as ResolverOutcome;
    default:
      return fault('resolver returned an object of no known kind');
  }
}

/** Runs a resolver for one request: its answer checked, or a fault; never throws, never waits past `timeoutMs`. */
export async function runResolver(
  resolver: ResolverFunction,
  request: FileRequest,
  client: ClientInfo,
  timeoutMs = DEFAULT_RESOLVE_TIMEOUT_MS,
): Promise<ResolverOutcome> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = resolver(request, client);
    if (!isThenable(answer)) return checkResolution(answer);
    const late = new Promise<ResolverOutcome>((resolve) => {
      timer = setTimeout(() => resolve(fault(`resolver did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const r = await Promise.race([Promise.resolve(answer).then(checkResolution), late]);
    if (r.kind === 'fault') {
      // A late answer's stream is closed when it comes: nobody will read it.
      Promise.resolve(answer).then(
        (a) => isObject(a) && a.kind === 'stream' && closeStream(a.stream),
        () => {},
      );
    }
    return r;
  } catch (e) {
    return fault(`resolver failed: ${messageOf(e)}`);
  } finally {
    clearTimeout(timer);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return isObject(v) && typeof (v as { then?: unknown }).then === 'function';
}

export function messageOf(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.length > 200 ? `${m.slice(0, 199)}…` : m;
}

/** Ends a stream nobody will read (a Node stream is destroyed, a generator returns). */
export function closeStream(stream: AsyncIterable<Uint8Array>): void {
  const s = stream as { destroy?: () => void; return?: () => unknown };
  try {
    if (typeof s.destroy === 'function') s.destroy();
    else void (stream[Symbol.asyncIterator]() as { return?: () => unknown }).return?.();
  } catch {
    /* nothing more to do */
  }
}

export class StreamError extends Error {}

/**
 * Reads a stream's chunks one at a time, each checked to be bytes, the total bounded by `maxBytes`
 * (and equal to `size` when given), the whole by `deadlineMs`. `onChunk` gets each as it comes and
 * may wait (back-pressure). Throws StreamError; the stream is closed on any way out.
 */
export async function readStream(
  stream: AsyncIterable<Uint8Array>,
  o: {
    maxBytes: number;
    timeoutMs: number;
    size?: number;
    onChunk: (chunk: Uint8Array) => void | Promise<void>;
    stopped?: () => boolean;
  },
): Promise<number> {
  const it = stream[Symbol.asyncIterator]();
  const deadline = performance.now() + o.timeoutMs;
  const limit = o.size ?? o.maxBytes;
  let total = 0;
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  try {
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) throw new StreamError(`stream took longer than ${o.timeoutMs} ms`);
      const next = await Promise.race([
        Promise.resolve(it.next()),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new StreamError(`stream took longer than ${o.timeoutMs} ms`)), left);
        }),
      ]).catch((e: unknown) => {
        throw e instanceof StreamError ? e : new StreamError(`stream failed: ${messageOf(e)}`);
      });
      clearTimeout(timer);
      if (next.done) {
        finished = true;
        break;
      }
      const chunk: unknown = next.value;
      if (!(chunk instanceof Uint8Array)) throw new StreamError('stream produced something that is not bytes');
      total += chunk.byteLength;
      if (total > limit)
        throw new StreamError(
          o.size !== undefined
            ? `stream ran past its size of ${o.size} bytes`
            : `stream ran past the limit of ${o.maxBytes} bytes`,
        );
      await o.onChunk(chunk);
      if (o.stopped?.()) return total;
    }
    if (o.size !== undefined && total !== o.size)
      throw new StreamError(`stream ended after ${total} of its ${o.size} bytes`);
    return total;
  } finally {
    clearTimeout(timer);
    if (!finished) closeStream(stream);
  }
}

/**
 * A whole stream in one buffer over a SharedArrayBuffer (so a TFTP worker can send views of it), for
 * protocols that must know the content before its first block.
 */
export async function collectStream(
  stream: AsyncIterable<Uint8Array>,
  o: { maxBytes: number; timeoutMs: number; size?: number },
): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  const total = await readStream(stream, { ...o, onChunk: (c) => void chunks.push(c) });
  const out = Buffer.from(new SharedArrayBuffer(total));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
