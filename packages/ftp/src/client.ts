/**
 * A small passive-mode FTP client for the phone simulator and tests: log in, TYPE I, PASV, RETR one
 * file, streaming it to a callback (a storm downloads hundreds of images in one process: nothing is
 * kept unless asked), QUIT. The whole exchange has one deadline.
 */
import net, { type Socket } from 'node:net';
import type { HostPort } from '@bootwire/core';

export interface FtpGetOptions {
  host: string;
  port: number;
  /** The file, relative to the login directory (`dir/file`) or absolute (`/dir/file`). */
  path: string;
  /** Default anonymous. */
  user?: string;
  password?: string;
  /** Connect to the last byte. */
  timeoutMs: number;
  localAddress?: string;
  signal?: AbortSignal;
  /**
   * Each chunk as it arrives. Throwing stops the download (the phone refused the header): the
   * promise rejects with that message.
   */
  onData?: (chunk: Buffer) => void;
}

export interface FtpGetResult {
  bytes: number;
  ms: number;
  /** The replies, in order (for tests and timelines). */
  replies: string[];
}

export class FtpClientError extends Error {
  override name = 'FtpClientError';
  constructor(
    message: string,
    /** The server's reply code, when it refused (550: no such file). */
    readonly code?: number,
  ) {
    super(message);
  }
}

interface Reply {
  code: number;
  text: string;
}

/** Reads replies off a control connection; multi-line replies (`123-` … `123 `) count as one. */
class ReplyReader {
  private buf = '';
  private readonly queue: Reply[] = [];
  private waiter: ((r: Reply | Error) => void) | undefined;
  private failed: Error | undefined;
  private multi: number | undefined;
  private lines: string[] = [];

  constructor(socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => {
      this.buf += s;
      if (this.buf.length > 64 * 1024) return this.fail(new FtpClientError('reply longer than 64 KiB'));
      for (;;) {
        const i = this.buf.indexOf('\n');
        if (i < 0) break;
        const line = this.buf.slice(0, i).replace(/\r$/, '');
        this.buf = this.buf.slice(i + 1);
        this.line(line);
      }
    });
    socket.on('close', () => this.fail(new FtpClientError('control connection closed')));
    socket.on('error', (e) => this.fail(new FtpClientError(`control connection: ${e.message}`)));
  }

  private line(line: string): void {
    const m = /^(\d{3})([ -])(.*)$/.exec(line);
    if (this.multi !== undefined) {
      this.lines.push(line);
      if (m && Number(m[1]) === this.multi && m[2] === ' ') {
        this.push({ code: this.multi, text: this.lines.join('\n') });
        this.multi = undefined;
        this.lines = [];
      }
      return;
    }
    if (!m) return this.fail(new FtpClientError(`not an FTP reply: ${JSON.stringify(line.slice(0, 80))}`));
    if (m[2] === '-') {
      this.multi = Number(m[1]);
      this.lines = [m[3]!];
      return;
    }
    this.push({ code: Number(m[1]), text: m[3]! });
  }

  private push(r: Reply): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w(r);
    else this.queue.push(r);
  }

  fail(e: Error): void {
    this.failed ??= e;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(e);
  }

  next(): Promise<Reply> {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => (this.waiter = (x) => (x instanceof Error ? reject(x) : resolve(x))));
  }
}

function connect(host: string, port: number, localAddress: string | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true, ...(localAddress ? { localAddress } : {}) });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', (e) =>
      reject(new FtpClientError(`${host}:${port}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)),
    );
  });
}

/** `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` → address and port. */
export function parsePasvReply(text: string): HostPort | undefined {
  const m = /(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/.exec(text);
  if (!m) return undefined;
  const n = m.slice(1).map(Number);
  if (n.some((x) => x > 255)) return undefined;
  return { host: n.slice(0, 4).join('.'), port: n[4]! * 256 + n[5]! };
}

/** Downloads one file; rejects with FtpClientError (code 550 for a missing file). */
export async function ftpGet(o: FtpGetOptions): Promise<FtpGetResult> {
  const started = performance.now();
  const sockets: Socket[] = [];
  const replies: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const cleanup = () => {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    for (const s of sockets) s.destroy();
  };
  let abort: ((e: Error) => void) | undefined;
  const stopped = new Promise<never>((_, reject) => (abort = reject));
  stopped.catch(() => {});
  const onAbort = () => abort!(new FtpClientError('aborted'));
  if (o.signal?.aborted) return Promise.reject(new FtpClientError('aborted'));
  o.signal?.addEventListener('abort', onAbort, { once: true });
  timer = setTimeout(() => abort!(new FtpClientError(`no complete transfer within ${o.timeoutMs} ms`)), o.timeoutMs);
  const race = <T>(p: Promise<T>) => Promise.race([p, stopped]);
  try {
    const control = await race(connect(o.host, o.port, o.localAddress));
    sockets.push(control);
    const reader = new ReplyReader(control);
    const expect = async (codes: number[], what: string): Promise<Reply> => {
      const r = await race(reader.next());
      replies.push(`${r.code} ${r.text}`);
      if (!codes.includes(Math.floor(r.code / 100) * 100) && !codes.includes(r.code))
        throw new FtpClientError(`${what}: ${r.code} ${r.text}`, r.code);
      return r;
    };
    const cmd = (line: string) => control.write(`${line}\r\n`);
    await expect([220], 'greeting');
    cmd(`USER ${o.user ?? 'anonymous'}`);
    const u = await expect([230, 331], 'USER');
    if (u.code === 331) {
      cmd(`PASS ${o.password ?? 'phone@bootwire'}`);
      await expect([230], 'PASS');
    }
    cmd('TYPE I');
    await expect([200], 'TYPE I');
    cmd('PASV');
    const p = await expect([227], 'PASV');
    const at = parsePasvReply(p.text);
    if (!at) throw new FtpClientError(`PASV: cannot read ${JSON.stringify(p.text)}`);
    // A server behind NAT may announce an address the phone cannot reach; phones use it as given.
    const data = await race(connect(at.host, at.port, o.localAddress));
    sockets.push(data);
    let bytes = 0;
    let stoppedBy: Error | undefined;
    const received = new Promise<void>((resolve, reject) => {
      data.on('data', (c: Buffer) => {
        bytes += c.length;
        if (o.onData && !stoppedBy) {
          try {
            o.onData(c);
          } catch (e) {
            stoppedBy = new FtpClientError((e as Error).message);
            data.destroy();
            reject(stoppedBy);
          }
        }
      });
      data.once('end', () => resolve());
      data.once('error', (e) => reject(new FtpClientError(`data connection: ${e.message}`)));
      data.once('close', () => resolve());
    });
    received.catch(() => {});
    cmd(`RETR ${o.path}`);
    await expect([100], 'RETR');
    await race(received);
    await expect([200], 'transfer');
    cmd('QUIT');
    await race(reader.next()).catch(() => undefined);
    return { bytes, ms: Math.round((performance.now() - started) * 10) / 10, replies };
  } finally {
    cleanup();
  }
}
