/**
 * One FTP control connection as a pure state machine (RFC 959, with RFC 2428 EPSV/EPRT and RFC 3659
 * SIZE/MDTM/REST): a command line goes in, a decision comes out — a reply to send, or work for the
 * edge (look a file or directory up, open a data channel), whose result comes back through the
 * `…Result` methods as the reply to send. No sockets, timers or files here (server.ts is the edge).
 *
 * The server is read-only: every command that would change the tree is refused with 550, every
 * command it does not know with 502. No FTP bounce (RFC 2577): PORT and EPRT must name the client's
 * own address and an unprivileged port.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { CredentialSet, Endpoint, HostPort } from '@bootwire/core';

export interface SessionConfig {
  /** `anonymous` and `ftp` log in with any password. */
  readonly anonymous: boolean;
  readonly users: CredentialSet;
  /** The control connection's peer (IPv4 as dotted quad, IPv6 otherwise; `::ffff:` already removed). */
  readonly clientAddress: string;
  /** Failed PASS before the connection is closed. */
  readonly maxLoginFailures: number;
}

export type FileOp = 'size' | 'mdtm' | 'retr';
export type DirOp = 'cwd' | 'list' | 'nlst';

export type Decision =
  | { kind: 'reply'; reply: string; close?: boolean; loggedIn?: boolean }
  | { kind: 'file'; op: FileOp; path: string; offset: number }
  | { kind: 'dir'; op: DirOp; path: string; /** LIST/NLST of a path that may be a file. */ mayBeFile: boolean }
  | { kind: 'passive'; extended: boolean }
  | { kind: 'active'; host: string; port: number; extended: boolean }
  | { kind: 'abort' };

export type LookupFailure = 'not-found' | 'forbidden' | 'invalid' | 'not-a-file' | 'busy';

/** `code text` + CRLF; a multi-line reply for text with newlines (RFC 959 §4.2). */
export function reply(code: number, text: string): string {
  const lines = text.split('\n');
  if (lines.length === 1) return `${code} ${text}\r\n`;
  return `${code}-${lines[0]}\r\n${lines
    .slice(1, -1)
    .map((l) => ` ${l}\r\n`)
    .join('')}${code} ${lines[lines.length - 1]}\r\n`;
}

const say = (code: number, text: string, extra: { close?: boolean; loggedIn?: boolean } = {}): Decision => ({
  kind: 'reply',
  reply: reply(code, text),
  ...extra,
});

export const GREETING = reply(220, 'bootwire FTP server ready (read-only).');

const FEATURES = ['EPRT', 'EPSV', 'MDTM', 'PASV', 'REST STREAM', 'SIZE', 'TVFS', 'UTF8'];

/** Commands that would change the server's files. */
const WRITES = new Set([
  'STOR',
  'STOU',
  'APPE',
  'DELE',
  'RMD',
  'XRMD',
  'MKD',
  'XMKD',
  'RNFR',
  'RNTO',
  'SITE',
  'ALLO',
  'MFMT',
  'MFCT',
  'MFF',
]);
/** Allowed before login. */
const BEFORE_LOGIN = new Set([
  'USER',
  'PASS',
  'QUIT',
  'SYST',
  'FEAT',
  'OPTS',
  'NOOP',
  'HELP',
  'AUTH',
  'PBSZ',
  'PROT',
  'CLNT',
]);

/** `/a/b` + `../c` → `/a/c`: a path inside the virtual root `/`; `..` never climbs above it. */
export function resolvePath(cwd: string, arg: string): string {
  const segs = arg.startsWith('/') ? [] : cwd.split('/').filter((s) => s !== '');
  for (const s of arg.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segs.pop();
    else segs.push(s);
  }
  return `/${segs.join('/')}`;
}

/** `PORT h1,h2,h3,h4,p1,p2` → address and port, or undefined when malformed. */
export function parsePort(arg: string): HostPort | undefined {
  const m = /^\s*(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})\s*$/.exec(arg);
  if (!m) return undefined;
  const n = m.slice(1).map(Number);
  if (n.some((x) => x > 255)) return undefined;
  return { host: n.slice(0, 4).join('.'), port: n[4]! * 256 + n[5]! };
}

/** `EPRT |1|10.0.0.5|6000|` (any delimiter in 33..126) → address and port, or undefined. */
export function parseEprt(arg: string): HostPort | undefined {
  const d = arg.charAt(0);
  if (d === '' || d.charCodeAt(0) < 33 || d.charCodeAt(0) > 126) return undefined;
  const parts = arg.split(d);
  if (parts.length !== 5 || parts[0] !== '' || parts[4] !== '') return undefined;
  const [, proto, host, port] = parts as [string, string, string, string];
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return undefined;
  if ((proto === '1' && isIPv4(host)) || (proto === '2' && isIPv6(host))) return { host, port: Number(port) };
  return undefined;
}

/** `"/dir"` as in a 257 reply: a `"` in the name is doubled (RFC 959 appendix II). */
const quotePath = (p: string) => `"${p.replace(/"/g, '""')}"`;

/** `YYYYMMDDHHMMSS` (UTC) of an MDTM reply (RFC 3659 §2.3). */
export function mdtmTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}` +
    `${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`
  );
}

const failureReply = (f: LookupFailure): string =>
  f === 'not-found'
    ? reply(550, 'No such file or directory.')
    : f === 'not-a-file'
      ? reply(550, 'Not a plain file.')
      : f === 'busy'
        ? reply(450, 'File unavailable, try again.')
        : reply(550, 'Permission denied.');

/** Which address family a client's address is, for comparing PORT/EPRT with it. */
const sameAddress = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export class FtpSession {
  /** Logged in as this user (`anonymous` for anonymous logins). */
  user: string | undefined;
  cwd = '/';
  binary = false;
  private pendingUser: string | undefined;
  private failures = 0;
  private restOffset = 0;
  /** A data channel prepared by PASV/EPSV/PORT/EPRT, used up by the next transfer command. */
  private dataReady = false;
  /** After `EPSV ALL` (RFC 2428 §4) PORT, EPRT and PASV are refused. */
  private epsvOnly = false;

  constructor(private readonly config: SessionConfig) {}

  get loggedIn(): boolean {
    return this.user !== undefined;
  }

  /** One command line (without CRLF, already decoded). */
  command(line: string): Decision {
    const sp = line.indexOf(' ');
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? '' : line.slice(sp + 1);
    const rest = this.restOffset;
    if (verb !== 'REST') this.restOffset = 0; // REST applies to the command right after it
    if (verb === '') return say(500, 'Empty command.');
    if (!/^[A-Z]{3,4}$/.test(verb)) return say(500, 'Unknown command.');
    if (!this.loggedIn && !BEFORE_LOGIN.has(verb)) return say(530, 'Please login with USER and PASS.');
    if (WRITES.has(verb)) return say(550, 'Permission denied: this server is read-only.');
    switch (verb) {
      case 'USER':
        return this.userCommand(arg);
      case 'PASS':
        return this.passCommand(arg);
      case 'QUIT':
        return say(221, 'Goodbye.', { close: true });
      case 'SYST':
        return say(215, 'UNIX Type: L8');
      case 'FEAT':
        return say(211, ['Features:', ...FEATURES, 'End'].join('\n'));
      case 'OPTS':
        return /^utf8(\s+on)?$/i.test(arg.trim())
          ? say(200, 'Always in UTF8 mode.')
          : say(501, 'Option not understood.');
      case 'NOOP':
        return say(200, 'NOOP ok.');
      case 'HELP':
        return say(
          214,
          'Commands: USER PASS SYST FEAT PWD CWD CDUP TYPE MODE STRU SIZE MDTM REST PASV EPSV PORT EPRT ' +
            'RETR LIST NLST NOOP ABOR QUIT\nHelp OK.',
        );
      case 'AUTH':
      case 'PBSZ':
      case 'PROT':
      case 'CCC':
        return say(502, 'TLS is not offered (use HTTPS for encrypted downloads).');
      case 'CLNT':
        return say(200, 'Noted.');
      case 'ACCT':
        return say(202, 'No account needed.');
      case 'PWD':
      case 'XPWD':
        return say(257, `${quotePath(this.cwd)} is the current directory.`);
      case 'CWD':
      case 'XCWD':
        return { kind: 'dir', op: 'cwd', path: resolvePath(this.cwd, arg.trim() === '' ? '/' : arg), mayBeFile: false };
      case 'CDUP':
      case 'XCUP':
        return { kind: 'dir', op: 'cwd', path: resolvePath(this.cwd, '..'), mayBeFile: false };
      case 'TYPE': {
        const t = arg.trim().toUpperCase();
        if (t === 'I' || t === 'L 8' || t === 'L8') {
          this.binary = true;
          return say(200, 'Switching to Binary mode.');
        }
        if (t === 'A' || t === 'A N') {
          this.binary = false;
          // As vsftpd by default: files are sent as they are (no line-end conversion).
          return say(200, 'Switching to ASCII mode.');
        }
        return say(504, 'Type not supported.');
      }
      case 'MODE':
        return arg.trim().toUpperCase() === 'S' ? say(200, 'Mode set to S.') : say(504, 'Only stream mode.');
      case 'STRU':
        return arg.trim().toUpperCase() === 'F' ? say(200, 'Structure set to F.') : say(504, 'Only file structure.');
      case 'SIZE':
      case 'MDTM':
        if (arg.trim() === '') return say(501, 'A file name is needed.');
        return { kind: 'file', op: verb === 'SIZE' ? 'size' : 'mdtm', path: resolvePath(this.cwd, arg), offset: 0 };
      case 'REST': {
        if (!/^\d{1,15}$/.test(arg.trim())) return say(501, 'REST needs a byte offset.');
        this.restOffset = Number(arg.trim());
        return say(350, `Restarting at ${this.restOffset}. Send RETR to start the transfer.`);
      }
      case 'PASV':
        if (this.epsvOnly) return say(501, 'EPSV ALL is in force: use EPSV.');
        return { kind: 'passive', extended: false };
      case 'EPSV': {
        const a = arg.trim().toUpperCase();
        if (a === 'ALL') {
          this.epsvOnly = true;
          return say(200, 'EPSV ALL ok.');
        }
        if (a !== '' && a !== '1' && a !== '2') return say(522, 'Network protocol not supported, use (1,2).');
        return { kind: 'passive', extended: true };
      }
      case 'PORT':
      case 'EPRT': {
        if (this.epsvOnly) return say(501, 'EPSV ALL is in force: use EPSV.');
        const target = verb === 'PORT' ? parsePort(arg) : parseEprt(arg.trim());
        if (!target)
          return verb === 'PORT'
            ? say(501, 'Syntax error in PORT arguments.')
            : say(522, 'Bad EPRT: use (1,2) with an address and a port.');
        // RFC 2577: no third-party data connections, no privileged ports.
        if (!sameAddress(target.host, this.config.clientAddress))
          return say(500, `Illegal ${verb}: the data address must be the client's own.`);
        if (target.port < 1024) return say(500, `Illegal ${verb}: privileged port.`);
        return { kind: 'active', host: target.host, port: target.port, extended: verb === 'EPRT' };
      }
      case 'RETR':
        if (arg.trim() === '') return say(501, 'A file name is needed.');
        if (!this.dataReady) return say(425, 'Use PORT, EPRT, PASV or EPSV first.');
        return { kind: 'file', op: 'retr', path: resolvePath(this.cwd, arg), offset: rest };
      case 'LIST':
      case 'NLST': {
        if (!this.dataReady) return say(425, 'Use PORT, EPRT, PASV or EPSV first.');
        // `LIST -la dir`: options as ls takes them are skipped.
        const words = arg
          .trim()
          .split(/\s+/)
          .filter((w) => w !== '' && !w.startsWith('-'));
        return {
          kind: 'dir',
          op: verb === 'LIST' ? 'list' : 'nlst',
          path: resolvePath(this.cwd, words.join(' ')),
          mayBeFile: true,
        };
      }
      case 'ABOR':
        return { kind: 'abort' };
      case 'STAT':
        return arg.trim() === ''
          ? say(
              211,
              `bootwire FTP server status:\nLogged in as ${this.user}\nTYPE: ` +
                `${this.binary ? 'BINARY' : 'ASCII'}\nEnd of status`,
            )
          : say(502, 'STAT of a path is not offered: use LIST.');
      default:
        return say(502, 'Command not implemented.');
    }
  }

  private userCommand(arg: string): Decision {
    const name = arg.trim();
    if (name === '') return say(501, 'A user name is needed.');
    this.user = undefined;
    this.dataReady = false;
    if (/^(anonymous|ftp)$/i.test(name)) {
      if (!this.config.anonymous) return say(530, 'Anonymous logins are not allowed here.');
      this.pendingUser = 'anonymous';
      return say(331, 'Anonymous login ok, send your e-mail address as password.');
    }
    this.pendingUser = name;
    return say(331, 'Password required.');
  }

  private passCommand(arg: string): Decision {
    if (this.loggedIn) return say(230, 'Already logged in.');
    const user = this.pendingUser;
    if (user === undefined) return say(503, 'Login with USER first.');
    this.pendingUser = undefined;
    if (user === 'anonymous' || this.config.users.verify(user, arg)) {
      this.user = user;
      this.failures = 0;
      return say(230, 'Login successful.', { loggedIn: true });
    }
    this.failures++;
    const close = this.failures >= this.config.maxLoginFailures;
    return say(530, close ? 'Login incorrect; closing.' : 'Login incorrect.', { close });
  }

  // ------------------------------------------------------------------ results of the edge's work

  /** The data channel of PASV/EPSV is listening on `port` at `address` (IPv4 for PASV). */
  passiveResult(
    r: ({ ok: true; extended: boolean } & Endpoint) | { ok: false; extended: boolean; why: string },
  ): string {
    if (!r.ok) return reply(425, `Cannot open a passive data port: ${r.why}.`);
    this.dataReady = true;
    if (r.extended) return reply(229, `Entering Extended Passive Mode (|||${r.port}|).`);
    const h = r.address.split('.').join(',');
    return reply(227, `Entering Passive Mode (${h},${r.port >> 8},${r.port & 255}).`);
  }

  /** PORT/EPRT accepted (the connection is made when a transfer starts). */
  activeResult(extended: boolean): string {
    this.dataReady = true;
    return reply(200, `${extended ? 'EPRT' : 'PORT'} command successful. Consider using EPSV.`);
  }

  /** The file a SIZE/MDTM/RETR named, looked up. RETR's transfer starts after the returned 150. */
  fileResult(
    op: FileOp,
    r: { ok: true; size: number; mtimeMs: number; name: string } | { ok: false; failure: LookupFailure },
    offset = 0,
  ): string {
    if (op === 'retr') this.dataReady = false; // the data channel is used (or dropped) by this command
    if (!r.ok) return failureReply(r.failure);
    if (op === 'size') return reply(213, String(r.size));
    if (op === 'mdtm') return reply(213, mdtmTime(r.mtimeMs));
    if (offset > r.size) return reply(554, `REST offset ${offset} is past the end (${r.size} bytes).`);
    return reply(
      150,
      `Opening ${this.binary ? 'BINARY' : 'ASCII'} mode data connection for ${r.name} (${r.size - offset} bytes).`,
    );
  }

  /** CWD's directory, or LIST/NLST's listing (sent after the returned 150). */
  dirResult(op: DirOp, path: string, r: { ok: true } | { ok: false; failure: LookupFailure }): string {
    if (op !== 'cwd') this.dataReady = false;
    if (!r.ok) return op === 'cwd' ? reply(550, 'Failed to change directory.') : failureReply(r.failure);
    if (op === 'cwd') {
      this.cwd = path;
      return reply(250, 'Directory successfully changed.');
    }
    return reply(150, 'Here comes the directory listing.');
  }

  /** The end of a transfer on the data channel. */
  transferResult(r: 'done' | 'no-connection' | 'aborted' | 'timeout'): string {
    if (r === 'done') return reply(226, 'Transfer complete.');
    if (r === 'no-connection') return reply(425, 'Cannot open data connection.');
    if (r === 'timeout') return reply(426, 'Data connection stalled; transfer aborted.');
    return reply(426, 'Connection closed; transfer aborted.');
  }

  /** ABOR with no transfer running. */
  static abortIdle(): string {
    return reply(226, 'No transfer to abort.');
  }
}
