/**
 * A small HTTP(S) GET for the phone simulator and tests. A phone downloads images of up to 40 MB and a
 * boot storm simulates hundreds of phones in one process, so the body is hashed as it streams in and
 * dropped; it is kept only when asked (`keepBody`, for scripts and settings).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

export interface HttpGetOptions {
  /** Default GET. */
  method?: 'GET' | 'HEAD' | 'PUT' | 'DELETE';
  /** A request body (PUT), sent with its Content-Length. */
  body?: Uint8Array;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Limit for the whole exchange, connect to last byte. Default: none. */
  timeoutMs?: number;
  /** Trust anchors for HTTPS (PEM), e.g. a test's self-signed certificate. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Default true. False accepts any certificate (as phones with no trust store do). */
  rejectUnauthorized?: boolean;
  /**
   * Connection reuse: an agent from createKeepAliveAgent() keeps connections open between calls.
   * Default: a new connection per request, closed after it (what most phones do per file).
   */
  agent?: http.Agent | false;
  /** The address to connect from (a simulated phone's own); default: the system's choice. */
  localAddress?: string;
  /** Keep the body in the result (default false: only counted and hashed). */
  keepBody?: boolean;
  /** Hash the body with SHA-256 as it arrives (default true). */
  sha256?: boolean;
  /** Give up with `too-large` when the body passes this many bytes. */
  maxBytes?: number;
  /**
   * Each body chunk as it arrives (a phone checking an image's header and checksum as it streams in).
   * Throwing aborts the download: the promise rejects with code `aborted` and the thrown message.
   */
  onData?: (chunk: Buffer) => void;
}

export interface HttpGetResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  httpVersion: string;
  /** Body bytes received. */
  bytes: number;
  /** Hex SHA-256 of the body, unless `sha256: false`. */
  sha256?: string;
  body?: Buffer;
  /** From the request to the response headers, and to the last body byte. */
  headersMs: number;
  ms: number;
}

export type HttpClientErrorCode = 'bad-url' | 'timeout' | 'aborted' | 'network' | 'too-large' | 'truncated';

export class HttpClientError extends Error {
  override name = 'HttpClientError';
  constructor(
    readonly code: HttpClientErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** An agent that keeps connections for reuse, for http: or https: URLs. Call `destroy()` when done. */
export function createKeepAliveAgent(
  protocol: 'http:' | 'https:',
  options: http.AgentOptions & https.AgentOptions = {},
): http.Agent {
  const o = { keepAlive: true, maxSockets: 8, ...options };
  return protocol === 'https:' ? new https.Agent(o) : new http.Agent(o);
}

/**
 * GETs (or HEADs) `url`. Resolves with any HTTP status, 4xx and 5xx included: the caller decides what a
 * status means. Rejects with an HttpClientError for a bad URL, a network or TLS failure, a timeout, an
 * abort, a body larger than `maxBytes`, or a body shorter than its Content-Length.
 */
export function httpGet(url: string | URL, options: HttpGetOptions = {}): Promise<HttpGetResult> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.reject(new HttpClientError('bad-url', `not a URL: ${JSON.stringify(String(url))}`));
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return Promise.reject(
      new HttpClientError('bad-url', `expected an http:// or https:// URL, got ${JSON.stringify(u.href)}`),
    );
  }
  const tls = u.protocol === 'https:';
  const started = performance.now();
  return new Promise<HttpGetResult>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const cleanup = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (e: HttpClientError) => {
      if (settled) return;
      settled = true;
      cleanup();
      req.destroy();
      reject(e);
    };
    const onAbort = () => fail(new HttpClientError('aborted', `${u.href}: aborted`));
    const requestOptions: https.RequestOptions = {
      method: options.method ?? 'GET',
      headers: {
        ...(options.body ? { 'Content-Length': String(options.body.length) } : {}),
        ...(options.headers ?? {}),
      },
      agent: options.agent ?? false,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      ...(tls
        ? {
            rejectUnauthorized: options.rejectUnauthorized ?? true,
            ...(options.ca !== undefined ? { ca: options.ca } : {}),
          }
        : {}),
    };
    const req = (tls ? https : http).request(u, requestOptions, (res) => {
      const headersMs = performance.now() - started;
      const hash = options.sha256 === false ? undefined : createHash('sha256');
      const chunks: Buffer[] | undefined = options.keepBody ? [] : undefined;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (options.maxBytes !== undefined && bytes > options.maxBytes) {
          fail(new HttpClientError('too-large', `${u.href}: body larger than ${options.maxBytes} bytes`));
          return;
        }
        hash?.update(chunk);
        chunks?.push(chunk);
        if (options.onData) {
          try {
            options.onData(chunk);
          } catch (e) {
            fail(new HttpClientError('aborted', `${u.href}: ${(e as Error).message}`));
          }
        }
      });
      const cut = () =>
        new HttpClientError('truncated', `${u.href}: connection closed after ${bytes} bytes of the body`);
      res.on('error', (e) => fail(res.complete ? new HttpClientError('network', `${u.href}: ${e.message}`) : cut()));
      res.on('close', () => {
        if (!res.complete) fail(cut());
      });
      res.on('end', () => {
        if (settled) return;
        if (!res.complete) return fail(cut());
        settled = true;
        cleanup();
        const result: HttpGetResult = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          httpVersion: res.httpVersion,
          bytes,
          headersMs: Math.round(headersMs * 10) / 10,
          ms: Math.round((performance.now() - started) * 10) / 10,
        };
        if (hash) result.sha256 = hash.digest('hex');
        if (chunks) result.body = Buffer.concat(chunks, bytes);
        resolve(result);
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      fail(new HttpClientError('network', `${u.href}: ${e.code ? `${e.code} ` : ''}${e.message}`));
    });
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(
        () => fail(new HttpClientError('timeout', `${u.href}: no complete response within ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
    }
    req.end(options.body);
  });
}
