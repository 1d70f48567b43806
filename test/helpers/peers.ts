/**
 * Helpers for tests that run real peer programs (TFTP clients and servers from Debian 12).
 *
 * ===================================================================================================
 * VERIFIED CLIENT COMMAND LINES (Debian 12 / bookworm packages, checked on the wire with tshark)
 * ===================================================================================================
 * All against a server on 127.0.0.1:PORT; FILE is the remote name, OUT the local file.
 * ("No/silent server" = nothing listening on a loopback port: all four clients ignore the ICMP
 * port-unreachable and retry until their own timeout.)
 * "ERROR 1" below = the server answered RRQ with ERROR code 1 "File not found".
 *
 * curl 7.88.1 (package curl)
 *   get:       curl -sS -m 20 tftp://127.0.0.1:PORT/FILE -o OUT
 *   blksize:   curl -sS -m 20 --tftp-blksize 1428 tftp://127.0.0.1:PORT/FILE -o OUT
 *   no opts:   curl -sS -m 20 --tftp-no-options tftp://127.0.0.1:PORT/FILE -o OUT  (plain RFC 1350 RRQ)
 *   netascii:  curl -sS -m 20 'tftp://127.0.0.1:PORT/FILE;mode=netascii' -o OUT
 *   put:       curl -sS -m 20 -T LOCAL tftp://127.0.0.1:PORT/REMOTE
 *   - Without --tftp-no-options every RRQ carries `tsize=0 blksize=512 timeout=T` (blksize=N with
 *     --tftp-blksize N), even in netascii mode; T was 6 without -m and 1 with `-m 5`.
 *     tftpd-hpa refuses tsize in netascii mode with ERROR 8 "Unsupported option(s) requested"
 *     (curl exit 42), so netascii against tftpd-hpa needs --tftp-no-options.
 *   - netascii: curl writes the bytes exactly as received (CRLF / CR NUL are NOT converted back).
 *   - No windowsize support.
 *   - Exit codes by server ERROR code: 0 -> 71, 1 -> 68, 8 -> 42 (verified); per curl's source
 *     2 -> 69, 3 -> 70, 4 -> 71, 5 -> 72, 6 -> 73, 7 -> 74, anything else -> 42.
 *   - On ERROR the message printed is misleading: `curl: (68) getpeername() failed with errno 107:
 *     Transport endpoint is not connected` (stale error buffer); `-v` shows
 *     `* TFTP error: File not found`. No OUT file is created when no DATA arrived.
 *   - No/silent server: exit 28 after 300 s (!) unless -m/--max-time is given -> always pass -m.
 *
 * tftp-hpa 5.2 client (package tftp-hpa, binary `tftp`)
 *   octet:     tftp 127.0.0.1 PORT -m binary -c get FILE OUT        (-m octet is the same)
 *   netascii:  tftp 127.0.0.1 PORT -m netascii -c get FILE OUT      (-m ascii is the same; the
 *              default mode is netascii!). Converts CRLF -> LF and CR NUL -> CR on receipt.
 *   put:       tftp 127.0.0.1 PORT -m binary -c put LOCAL REMOTE
 *   -v before -c prints "getting from ... [octet]" / "Received N bytes in ..." on stdout.
 *   `-c` must be the LAST argument. Only one command with -c; for several commands or to change the
 *   timeouts feed a script on stdin instead: printf 'binary\nrexmt 1\ntimeout 3\nget F O\nquit\n' |
 *   tftp 127.0.0.1 PORT   (exit status is then always 0).
 *   - NO RFC 2347 options at all: never sends blksize/tsize/timeout/windowsize (always 512-byte blocks).
 *   - ERROR 1: prints `Error code 1: File not found` on STDOUT (the server's message verbatim, e.g.
 *     dnsmasq's `Error code 1: file /root/x not found for 127.0.0.1`) and EXITS 0 (!), leaving an
 *     empty (0-byte) OUT file. Detect failure by stdout matching /^Error code \d+:/m.
 *   - No/silent server: `Transfer timed out.` on stdout, exit 69, after 25 s (default total timeout).
 *
 * atftp 0.8.0 client (package atftp)
 *   get:       atftp --get -r FILE -l OUT 127.0.0.1 PORT         (sends NO options by default)
 *   options:   atftp --option "blksize 1428" --option "tsize" --option "windowsize 16" \
 *                    --get -r FILE -l OUT 127.0.0.1 PORT
 *              (RRQ: `tsize=0 blksize=1428 windowsize=16`; `--option "timeout 3"` sends timeout=3;
 *              per the man page "tsize enable", "blksize disable", "windowsize disable" also work.
 *              Each --option prints `Option blksize = 1428` on stdout. Against a server that leaves
 *              windowsize out of the OACK (tftpd-hpa, dnsmasq) it falls back and still succeeds.)
 *   netascii:  atftp --option "mode netascii" --get -r FILE -l OUT 127.0.0.1 PORT
 *              (converts back to LF on receipt)
 *   put:       atftp --put -l LOCAL -r REMOTE 127.0.0.1 PORT
 *   --tftp-timeout N: seconds per retry (default 5); --trace prints every packet; --verbose.
 *   - ERROR 1: stderr `tftp: error received from server <File not found>` + `tftp: aborting`,
 *     EXIT 255, leaves an empty (0-byte) OUT file.
 *   - No/silent server: 6 x `timeout: retrying ...` then `tftp: aborting` on stderr, exit 255, after
 *     6 x --tftp-timeout (30 s by default, 6 s with --tftp-timeout 1).
 *
 * busybox 1.35.0 tftp (package busybox)
 *   get:       busybox tftp -g -r FILE -l OUT 127.0.0.1 PORT
 *   blksize:   busybox tftp -g -r FILE -l OUT -b 1428 127.0.0.1 PORT   (blksize IS compiled in;
 *              accepted range 8..65464, else `tftp: bad blocksize 'N'`, exit 1, nothing sent)
 *   put:       busybox tftp -p -l LOCAL -r REMOTE 127.0.0.1 PORT
 *   - octet only (no mode option). ALWAYS sends `tsize=0` (plus `blksize=N` with -b, none without).
 *     No windowsize. Prints a progress bar on stderr.
 *   - ERROR 1: stderr `tftp: server error: (1) File not found`, EXIT 1, OUT file removed.
 *   - No/silent server: stderr `tftp: timeout`, exit 1, after ~13 s.
 *
 * Uploads: the four `put` lines above were verified byte-exact against `in.tftpd -c` (extraArgs);
 * without -c tftpd-hpa only overwrites existing files (ERROR 1 otherwise, curl exit 68).
 *
 * Servers (started by the helpers below):
 *   tftpd-hpa 5.2: options blksize (<= 65464, -B to cap), blksize2, tsize (octet only; tsize in
 *     netascii -> ERROR 8), timeout, utimeout, rollover; NO windowsize (left out of the OACK).
 *     Not found: ERROR 1 "File not found"; EACCES is sent as ERROR 0 "Permission denied".
 *   atftpd 0.8.0: blksize, tsize, timeout, windowsize (RFC 7440, echoed in the OACK), multicast;
 *     --no-<option> to disable each. Not found: ERROR 1 "File not found".
 *   dnsmasq 2.90: OACKs blksize (unless --tftp-no-blocksize) and tsize (octet only: silently
 *     dropped in netascii); does NOT ack timeout or windowsize. Not found: ERROR 1
 *     `file <abs path> not found for <client ip>`. Its netascii is lossy: LF -> CR LF, but a bare
 *     CR is sent as-is (not CR NUL), so "a\r\nb" arrives on the wire as "a\r\r\nb".
 *
 * ===================================================================================================
 * SKIP / FAIL POLICY
 * ===================================================================================================
 * A test needing a peer program must FAIL under CI (env CI set) when the program is missing, and be
 * SKIPPED elsewhere with a note naming the Debian package. Either:
 *
 *   it('fetches with curl', async (ctx) => {
 *     const curl = PEERS.curl.use(ctx);          // path; or ctx.skip(note) / throw under CI
 *     useAll(ctx, PEERS.tftpdHpa, PEERS.curl);   // several at once, one combined note
 *     requireRoot(ctx);                          // same policy for "must run as root"
 *     ...
 *   });
 *
 * or, when you cannot get at the test context:
 *
 *   it.skipIf(PEERS.curl.skip)('...', () => { const curl = PEERS.curl.use(); ... });
 *
 * (`skip` is false under CI, so the test runs and `use()` throws: the test fails with the message.)
 * Peer servers: startTftpdHpa / startAtftpd / startDnsmasqTftp. They wait until the server answers,
 * and are killed on stop(), on process exit, and (through setpriv --pdeathsig KILL) by the kernel if
 * the test process dies. Use `ctx.onTestFinished(() => peer.stop())` or afterAll.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { accessSync, constants as fsConstants, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNetns, type Netns } from './netns.js';
import { bindUdp, freeUdpPort } from '../../packages/core/src/udp.js';

// ---------------------------------------------------------------------------------------------
// environment
// ---------------------------------------------------------------------------------------------

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where .ci/run unpacks atftpd (it conflicts with tftpd-hpa, so it is not installed). */
export const ATFTPD_SBIN = path.join(REPO_ROOT, '.ci', 'peers', 'atftpd', 'usr', 'sbin');

const ciVar = process.env.CI;
/** True when running under CI (env CI set to anything but '', '0' or 'false'). */
export const IN_CI = ciVar !== undefined && ciVar !== '' && ciVar !== '0' && ciVar.toLowerCase() !== 'false';
export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Absolute path of an executable `name`, searched in `extraPaths`, PATH, then the usual
 * (s)bin directories; `atftpd` is also looked for in `<repo>/.ci/peers/atftpd/usr/sbin`.
 * `debianPackage` is not used for the lookup; it documents what provides the program.
 */
export function findBinary(name: string, debianPackage: string, extraPaths: string[] = []): string | undefined {
  void debianPackage;
  if (name.includes('/')) return isExecutableFile(name) ? path.resolve(name) : undefined;
  const dirs = [...extraPaths, ...(process.env.PATH ?? '').split(path.delimiter), ...SYSTEM_DIRS];
  if (name === 'atftpd') dirs.push(ATFTPD_SBIN);
  for (const dir of dirs) {
    if (dir === '') continue;
    const p = path.join(dir, name);
    if (isExecutableFile(p)) return p;
  }
  return undefined;
}

/** The part of vitest's TestContext we need (`ctx.skip(note)` throws to skip the test). */
export interface SkipContext {
  skip(note?: string): never;
}

function missingPolicy(ctx: SkipContext | undefined, message: string): never {
  if (!IN_CI && ctx) ctx.skip(message);
  throw new Error(IN_CI ? `[CI] ${message}` : message);
}

export class NeededBinary {
  constructor(
    readonly name: string,
    readonly debianPackage: string,
    /** Absolute path, or undefined when the program is not installed. */
    readonly path: string | undefined,
  ) {}

  get missing(): boolean {
    return this.path === undefined;
  }

  /** True when the binary is missing and we are NOT under CI: use with `it.skipIf(bin.skip)`. */
  get skip(): boolean {
    return this.missing && !IN_CI;
  }

  get message(): string {
    const where = this.name === 'atftpd' ? ` (or unpack it into ${ATFTPD_SBIN}, as .ci/run does)` : '';
    return (
      `peer program '${this.name}' not found: install the Debian package '${this.debianPackage}' ` +
      `(apt-get install ${this.debianPackage})${where}, or run .ci/run as root`
    );
  }

  /**
   * The binary's path. If it is missing: under CI throws (the test fails with `message`);
   * elsewhere calls `ctx.skip(message)` (the test is skipped with the package name), or throws
   * when no ctx is given.
   */
  use(ctx?: SkipContext): string {
    if (this.path !== undefined) return this.path;
    return missingPolicy(ctx, this.message);
  }
}

export function needBinary(name: string, debianPackage: string, extraPaths: string[] = []): NeededBinary {
  return new NeededBinary(name, debianPackage, findBinary(name, debianPackage, extraPaths));
}

/** `use()` for several binaries at once: one combined skip note / CI failure listing all missing. */
export function useAll(ctx: SkipContext | undefined, ...bins: NeededBinary[]): string[] {
  const missing = bins.filter((b) => b.missing);
  if (missing.length === 1) missing[0]!.use(ctx);
  if (missing.length > 1) {
    const pkgs = [...new Set(missing.map((b) => b.debianPackage))];
    missingPolicy(
      ctx,
      `peer programs ${missing.map((b) => `'${b.name}'`).join(', ')} not found: ` +
        `apt-get install ${pkgs.join(' ')} (or run .ci/run as root)`,
    );
  }
  return bins.map((b) => b.path!);
}

/** Same policy for tests that must run as root (network namespaces, port 69). */
export function requireRoot(ctx?: SkipContext): void {
  if (!IS_ROOT) missingPolicy(ctx, 'this test must run as root (network namespaces / privileged ports)');
}

/** Every peer program the test-suite knows about, with the Debian package providing it. */
export const PEERS = {
  curl: needBinary('curl', 'curl'),
  tftp: needBinary('tftp', 'tftp-hpa'),
  atftp: needBinary('atftp', 'atftp'),
  busybox: needBinary('busybox', 'busybox'),
  tftpdHpa: needBinary('in.tftpd', 'tftpd-hpa'),
  atftpd: needBinary('atftpd', 'atftpd'),
  dnsmasq: needBinary('dnsmasq', 'dnsmasq'),
  ip: needBinary('ip', 'iproute2'),
  ss: needBinary('ss', 'iproute2'),
  tcpdump: needBinary('tcpdump', 'tcpdump'),
  tshark: needBinary('tshark', 'tshark'),
  dhclient: needBinary('dhclient', 'isc-dhcp-client'),
  dhcrelay: needBinary('dhcrelay', 'isc-dhcp-relay'),
  kea: needBinary('kea-dhcp4', 'kea-dhcp4-server'),
} as const;

// ---------------------------------------------------------------------------------------------
// process tracking: nothing we start may outlive the test process
// ---------------------------------------------------------------------------------------------

/** pids of process-group leaders we started and that have not exited yet. */
const liveGroups = new Set<number>();

/** Signal the process group led by `pid` (every child we spawn leads its own group). */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* group already gone */
  }
}

/** Scratch directories to remove at exit if their owner did not. */
const scratchDirs = new Set<string>();

process.on('exit', () => {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  liveGroups.clear();
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

const SETPRIV = findBinary('setpriv', 'util-linux');

/**
 * Spawn `cmd args` as the leader of a new process group (so the whole group can be killed),
 * under `setpriv --pdeathsig KILL` when available (the kernel kills it if we die, even by SIGKILL).
 */
function spawnTracked(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdin: 'pipe' | 'ignore' },
): ChildProcess {
  const resolved = cmd.includes('/') ? cmd : findBinary(cmd, '?');
  if (resolved === undefined) throw new Error(`${cmd}: command not found`);
  const [file, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', resolved, ...args]] : [resolved, args];
  const child = spawn(file, argv, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: [opts.stdin, 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid !== undefined) {
    liveGroups.add(pid);
    child.once('exit', () => liveGroups.delete(pid));
  }
  return child;
}

// ---------------------------------------------------------------------------------------------
// run
// ---------------------------------------------------------------------------------------------

export interface RunOptions {
  /** Kill the child (and its process group) with SIGKILL after this long. Default 30 s. */
  timeoutMs?: number;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Uint8Array;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** True when we killed it at timeoutMs. */
  timedOut: boolean;
  /** The command line, for assertion messages. */
  command: string;
}

/** Run a program to completion; never rejects for a non-zero exit, always kills it at the timeout. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const command = [cmd, ...args]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawnTracked(cmd, args, {
        ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
        ...(opts.env !== undefined ? { env: opts.env } : {}),
        stdin: opts.input !== undefined ? 'pipe' : 'ignore',
      });
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    const out: Buffer[] = [];
    let err = '';
    let timedOut = false;
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (err += d));
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      // a descendant that left the process group could keep the pipes (and 'close') open
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, 2000).unref();
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // stragglers the command left in its process group (e.g. forked helpers)
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err, timedOut, command });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {}); // EPIPE if the program does not read its stdin
      child.stdin!.end(opts.input);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// small utilities
// ---------------------------------------------------------------------------------------------

/** Hex sha256 of bytes, or of a file's contents when given a path. */
export function sha256(bufOrPath: Uint8Array | string): string {
  const data = typeof bufOrPath === 'string' ? readFileSync(bufOrPath) : bufOrPath;
  return createHash('sha256').update(data).digest('hex');
}

/** A UDP port that was free a moment ago: @bootwire/core's, as the tests have imported it from here. */
export { freeUdpPort };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Does a TFTP server answer on host:port? Sends an RRQ for a random non-existent file and waits
 * `timeoutMs` for any TFTP reply (DATA, ERROR or OACK) from that host.
 */
export async function tftpAnswers(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  sock.on('error', () => {});
  try {
    await bindUdp(sock, 0);
    const name = `bootwire-readiness-probe-${randomBytes(4).toString('hex')}`;
    const rrq = Buffer.concat([Buffer.from([0, 1]), Buffer.from(`${name}\0octet\0`, 'latin1')]);
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      sock.on('message', (msg, rinfo) => {
        const op = msg.length >= 2 ? msg.readUInt16BE(0) : 0;
        if (op === 3 || op === 5 || op === 6) {
          if (op !== 5) {
            // never leave a transfer hanging: abort it
            const abort = Buffer.concat([Buffer.from([0, 5, 0, 0]), Buffer.from('probe done\0')]);
            sock.send(abort, rinfo.port, rinfo.address);
          }
          clearTimeout(timer);
          resolve(true);
        }
      });
      sock.send(rrq, port, host);
    });
  } finally {
    await new Promise<void>((r) => sock.close(() => r()));
  }
}

// ---------------------------------------------------------------------------------------------
// peer servers
// ---------------------------------------------------------------------------------------------

export interface Peer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** The served directory (absolute). */
  readonly root: string;
  readonly pid: number;
  /** Kill it (SIGTERM, then SIGKILL after 3 s) and wait until it has exited. Idempotent. */
  stop(): Promise<void>;
  /** Everything the server logged so far (stdout + stderr, plus syslog for tftpd-hpa). */
  log(): string;
}

export interface NetnsPeer extends Peer {
  readonly netns: string;
  /** Run a command inside the peer's network namespace (where the server is 127.0.0.1:69). */
  exec(cmd: string, args: string[], opts?: RunOptions): Promise<RunResult>;
}

export interface PeerOptions {
  /** Extra server arguments (placed before the directory). */
  extraArgs?: string[];
  /** How long to wait for the server to answer. Default 15 s. */
  readyTimeoutMs?: number;
}

const MAX_LOG = 4 * 1024 * 1024;

class ServerProcess {
  private text = '';
  readonly child: ChildProcess;
  readonly pid: number;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
  private stopping: Promise<void> | undefined;

  constructor(cmd: string, args: string[]) {
    this.child = spawnTracked(cmd, args, { stdin: 'ignore' });
    if (this.child.pid === undefined) {
      this.child.on('error', () => {}); // reported by the throw below
      throw new Error(`could not spawn ${cmd}`);
    }
    this.pid = this.child.pid;
    const append = (d: Buffer): void => {
      if (this.text.length < MAX_LOG) this.text += d.toString('utf8');
    };
    this.child.stdout!.on('data', append);
    this.child.stderr!.on('data', append);
    this.exited = new Promise((resolve) => {
      this.child.once('error', (e) => {
        this.text += `\n[spawn error: ${e.message}]\n`;
        this.exitInfo ??= { code: null, signal: null };
        resolve();
      });
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve();
      });
    });
  }

  log(): string {
    return this.text;
  }

  note(line: string): void {
    this.text += `[bootwire-test] ${line}\n`;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.exitInfo) {
        killGroup(this.pid, 'SIGTERM');
        const done = await Promise.race([this.exited.then(() => true), sleep(3000).then(() => false)]);
        if (!done) killGroup(this.pid, 'SIGKILL');
        await this.exited;
      }
      killGroup(this.pid, 'SIGKILL'); // anything left in its group (per-transfer children, syslogd)
    })();
    return this.stopping;
  }

  /** Poll `answers()` until true; throws (with the log) if the process exits or time runs out. */
  async waitReady(what: string, answers: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exitInfo) {
        throw new Error(`${what} exited before answering (${JSON.stringify(this.exitInfo)}):\n${this.text}`);
      }
      if (await answers()) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`${what} did not answer within ${timeoutMs} ms:\n${this.text}`);
      }
      await sleep(50);
    }
  }
}

function runAsUserGroup(): { user: string; group: string } {
  if (IS_ROOT) return { user: 'root', group: 'root' };
  const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
  return { user: userInfo().username, group };
}

function absRoot(root: string): string {
  const abs = path.resolve(root);
  if (!statSync(abs).isDirectory()) throw new Error(`${abs} is not a directory`);
  return abs;
}

/**
 * Runs `$@` in a private mount namespace whose /dev is an overlay carrying its own /dev/log,
 * served by `busybox syslogd` writing to stdout: tftpd-hpa only logs to syslog, this captures it
 * without touching the machine's /dev/log. Args: $1 = scratch dir, $2 = busybox, $3 = setpriv or ''.
 */
const SYSLOG_WRAPPER = `
set -e
d=$1; bb=$2; sp=$3; shift 3
mkdir -p "$d/upper" "$d/work"
mount -t overlay overlay -o "lowerdir=/dev,upperdir=$d/upper,workdir=$d/work" /dev
if [ -n "$sp" ]; then "$sp" --pdeathsig KILL -- "$bb" syslogd -n -O - -S & else "$bb" syslogd -n -O - -S & fi
i=0
while [ ! -S /dev/log ]; do
  i=$((i+1)); if [ $i -gt 500 ]; then echo "bootwire-test: syslogd did not create /dev/log" >&2; exit 97; fi
  sleep 0.01
done
exec "$@"
`;

let syslogCaptureBroken: string | undefined;

/**
 * tftpd-hpa (`in.tftpd -L`, foreground) on 127.0.0.1:<free port>, serving `root` in secure mode
 * (-s, chroot), verbose (-vvv). Runs with `-u root` as root (no privilege drop that could fail, and
 * it keeps the parent-death signal). Its syslog output is captured into log() when possible.
 */
export async function startTftpdHpa(root: string, opts: PeerOptions = {}): Promise<Peer> {
  const bin = PEERS.tftpdHpa.use();
  const dir = absRoot(root);
  const host = '127.0.0.1';
  const { user } = runAsUserGroup();
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freeUdpPort(host);
    const args = ['-L', '-a', `${host}:${port}`, '-s', '-u', user, '-vvv', ...(opts.extraArgs ?? []), dir];
    const busybox = PEERS.busybox.path;
    const capture = IS_ROOT && busybox !== undefined && syslogCaptureBroken === undefined;
    let scratch: string | undefined;
    let proc: ServerProcess;
    if (capture) {
      scratch = mkdtempSync(path.join(tmpdir(), 'bw-tftpd-hpa-'));
      scratchDirs.add(scratch);
      proc = new ServerProcess('unshare', [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        SYSLOG_WRAPPER,
        'sh',
        scratch,
        busybox,
        SETPRIV ?? '',
        bin,
        ...args,
      ]);
    } else {
      proc = new ServerProcess(bin, args);
      proc.note(
        `syslog capture unavailable${syslogCaptureBroken ? `: ${syslogCaptureBroken}` : ''}; ` +
          'tftpd-hpa logs only to syslog',
      );
    }
    const cleanupScratch = (): void => {
      if (scratch === undefined) return;
      rmSync(scratch, { recursive: true, force: true });
      scratchDirs.delete(scratch);
    };
    try {
      await proc.waitReady(
        `tftpd-hpa on ${host}:${port}`,
        () => tftpAnswers(host, port),
        opts.readyTimeoutMs ?? 15_000,
      );
    } catch (e) {
      await proc.stop();
      cleanupScratch();
      lastError = e;
      const log = proc.log();
      if (capture && !/cannot bind|Address already in use/i.test(log)) {
        syslogCaptureBroken = log.trim().split('\n').slice(-3).join(' | ') || 'wrapper failed';
      }
      continue; // port race, or capture wrapper failed: retry
    }
    return {
      name: 'tftpd-hpa',
      host,
      port,
      root: dir,
      pid: proc.pid,
      stop: async () => {
        await proc.stop();
        cleanupScratch();
      },
      log: () => proc.log(),
    };
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/**
 * atftpd (unpacked by .ci/run under .ci/peers/atftpd) as
 * `atftpd --daemon --no-fork --port P --bind-address 127.0.0.1 --user root --group root
 *  --logfile - --verbose=7 ROOT`. (With `--logfile -` it closes stdout and logs to stderr.)
 */
export async function startAtftpd(root: string, opts: PeerOptions = {}): Promise<Peer> {
  const bin = PEERS.atftpd.use();
  const dir = absRoot(root);
  const host = '127.0.0.1';
  const { user, group } = runAsUserGroup();
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeUdpPort(host);
    const proc = new ServerProcess(bin, [
      '--daemon',
      '--no-fork',
      '--port',
      String(port),
      '--bind-address',
      host,
      '--user',
      user,
      '--group',
      group,
      '--logfile',
      '-',
      '--verbose=7',
      ...(opts.extraArgs ?? []),
      dir,
    ]);
    try {
      await proc.waitReady(`atftpd on ${host}:${port}`, () => tftpAnswers(host, port), opts.readyTimeoutMs ?? 15_000);
    } catch (e) {
      await proc.stop();
      lastError = e;
      continue;
    }
    return { name: 'atftpd', host, port, root: dir, pid: proc.pid, stop: () => proc.stop(), log: () => proc.log() };
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/**
 * dnsmasq's TFTP server (port 69 only) in a fresh network namespace: 127.0.0.1:69 *inside* the
 * namespace; reach it with `peer.exec(client, args)`. DNS is off (--port=0), no config file is read.
 * stop() kills dnsmasq and deletes the namespace.
 */
export async function startDnsmasqTftp(root: string, opts: PeerOptions = {}): Promise<NetnsPeer> {
  const bin = PEERS.dnsmasq.use();
  const dir = absRoot(root);
  const { user, group } = runAsUserGroup();
  const ns: Netns = await createNetns();
  let proc: ServerProcess | undefined;
  try {
    const [cmd, args] = ns.argv(bin, [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--port=0',
      '--no-resolv',
      '--no-hosts',
      '--pid-file=',
      '--enable-tftp',
      `--tftp-root=${dir}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      `--user=${user}`,
      `--group=${group}`,
      '--log-facility=-',
      '--log-debug',
      ...(opts.extraArgs ?? []),
    ]);
    const p = new ServerProcess(cmd, args);
    proc = p;
    await p.waitReady(
      `dnsmasq in netns ${ns.name}`,
      async () => {
        if (!/TFTP root is/.test(p.log())) return false;
        const ss = await ns.exec('ss', ['-Hulnp', 'sport = :69'], { timeoutMs: 5000 });
        return /127\.0\.0\.1:69\b/.test(ss.stdout.toString()) && /dnsmasq/.test(ss.stdout.toString());
      },
      opts.readyTimeoutMs ?? 15_000,
    );
  } catch (e) {
    await proc?.stop();
    await ns.delete().catch(() => {});
    throw e;
  }
  const server = proc;
  let stopping: Promise<void> | undefined;
  return {
    name: 'dnsmasq',
    host: '127.0.0.1',
    port: 69,
    root: dir,
    pid: server.pid,
    netns: ns.name,
    exec: (c, a, o) => ns.exec(c, a, o),
    stop: () =>
      (stopping ??= (async () => {
        await server.stop();
        await ns.delete();
      })()),
    log: () => server.log(),
  };
}
