/** A raw FTP control connection for tests: send lines, read replies (multi-line replies as one). */
import net from 'node:net';

export interface Reply {
  code: number;
  text: string;
}

export interface RawControl {
  socket: net.Socket;
  send(line: string | Buffer): void;
  /** The next reply (rejects after `ms` or when the connection closes first). */
  reply(ms?: number): Promise<Reply>;
  /** `send` then `reply`. */
  cmd(line: string, ms?: number): Promise<Reply>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  close(): void;
}

export function rawControl(port: number, opts: { localAddress?: string; host?: string } = {}): Promise<RawControl> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: opts.host ?? '127.0.0.1',
      port,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    const replies: Reply[] = [];
    const waiters: ((r: Reply | undefined) => void)[] = [];
    let buf = '';
    let multi: { code: number; lines: string[] } | undefined;
    let ended = false;
    const push = (r: Reply) => {
      const w = waiters.shift();
      if (w) w(r);
      else replies.push(r);
    };
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => {
      buf += s;
      for (;;) {
        const i = buf.indexOf('\n');
        if (i < 0) break;
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        const m = /^(\d{3})([ -])(.*)$/.exec(line);
        if (multi) {
          multi.lines.push(line);
          if (m && Number(m[1]) === multi.code && m[2] === ' ') {
            push({ code: multi.code, text: multi.lines.join('\n') });
            multi = undefined;
          }
        } else if (m && m[2] === '-') multi = { code: Number(m[1]), lines: [m[3]!] };
        else if (m) push({ code: Number(m[1]), text: m[3]! });
      }
    });
    const closed = new Promise<void>((r) =>
      socket.on('close', () => {
        ended = true;
        for (const w of waiters.splice(0)) w(undefined);
        r();
      }),
    );
    socket.on('error', () => {});
    const reply = (ms = 5000) =>
      new Promise<Reply>((res, rej) => {
        const r = replies.shift();
        if (r) return res(r);
        if (ended) return rej(new Error('connection closed'));
        const t = setTimeout(() => rej(new Error(`no reply within ${ms} ms`)), ms);
        waiters.push((x) => {
          clearTimeout(t);
          if (x) res(x);
          else rej(new Error('connection closed'));
        });
      });
    const send = (line: string | Buffer) => socket.write(typeof line === 'string' ? `${line}\r\n` : line);
    socket.once('connect', () => {
      resolve({ socket, send, reply, cmd: (l, ms) => (send(l), reply(ms)), closed, close: () => socket.destroy() });
    });
    socket.once('error', reject);
  });
}

/** Logs in anonymously (greeting, USER, PASS). */
export async function login(c: RawControl, user = 'anonymous', pass = 'test@'): Promise<Reply> {
  const g = await c.reply();
  if (g.code !== 220) throw new Error(`greeting ${g.code} ${g.text}`);
  const u = await c.cmd(`USER ${user}`);
  if (u.code !== 331) return u;
  return c.cmd(`PASS ${pass}`);
}

/** `227 … (h,h,h,h,p,p)` → port. */
export function pasvPort(text: string): number {
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(text);
  if (!m) throw new Error(`not a PASV reply: ${text}`);
  return Number(m[5]) * 256 + Number(m[6]);
}

/** `229 … (|||port|)` → port. */
export function epsvPort(text: string): number {
  const m = /\(\|\|\|(\d+)\|\)/.exec(text);
  if (!m) throw new Error(`not an EPSV reply: ${text}`);
  return Number(m[1]);
}
