/**
 * The running DHCP server's lease control channel: HTTP over a Unix socket beside the leases file
 * (`leases.db.sock`, mode 0600), through which `bootwire leases` lists and releases leases while the
 * server runs. The server holds its SQLite file exclusively (locking_mode=EXCLUSIVE, see store.ts), so
 * a second process cannot open it; going through the server also means one writer, the engine's view
 * and the file never disagree, and a release is answered only once it is on disk, like an ACK.
 *
 * Who may use it is who may open the socket: its owner (the server's user) and root. Requests carry
 * their parameters in the query string; nothing is read from a body, answers are JSON.
 *
 *   GET  /leases?mac=&ip=&subnet=&expired=1   → 200 {"now": ms, "leases": [Lease…]}
 *   POST /release?ip=A  or  ?mac=M            → 200 {"released": [Lease…], "refused": [reason…]}
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { LeaseQueryError, type LeaseQuery, normalizeMac, selectLeases } from './query.js';
import type { Lease } from './store.js';

/** Longest Unix socket path Linux takes (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/** Where the control socket of the server using `leasesFile` listens; undefined when that path is too long. */
export function controlSocketPath(leasesFile: string): string | undefined {
  const p = `${leasesFile}.sock`;
  return Buffer.byteLength(p) <= MAX_SOCKET_PATH ? p : undefined;
}

export interface LeaseControlHandler {
  now(): number;
  leases(): Lease[];
  release(address: string): Promise<{ ok: true; lease: Lease } | { ok: false; reason: string }>;
}

export interface ReleaseAnswer {
  released: Lease[];
  refused: string[];
}

function queryOf(u: URL): LeaseQuery {
  const q: LeaseQuery = {};
  const mac = u.searchParams.get('mac');
  const ip = u.searchParams.get('ip');
  const subnet = u.searchParams.get('subnet');
  if (mac !== null) q.mac = mac;
  if (ip !== null) q.ip = ip;
  if (subnet !== null) q.subnet = subnet;
  if (u.searchParams.get('expired') === '1') q.expired = true;
  return q;
}

/** Releases what `q` names (`ip`, or every lease in force of `mac`) through `handler`, one at a time. */
export async function releaseMatching(
  handler: LeaseControlHandler,
  q: { ip?: string; mac?: string },
): Promise<ReleaseAnswer> {
  if (q.ip === undefined && q.mac === undefined) throw new LeaseQueryError('release needs an address (ip) or a MAC');
  const targets = selectLeases(handler.leases(), q, handler.now()).map((l) => l.address);
  const answer: ReleaseAnswer = { released: [], refused: [] };
  if (targets.length === 0) {
    const which = [q.ip !== undefined ? `for ${q.ip}` : '', q.mac !== undefined ? `of ${normalizeMac(q.mac)}` : '']
      .filter(Boolean)
      .join(' and ');
    answer.refused.push(`no lease in force ${which}`);
  }
  for (const address of targets) {
    const r = await handler.release(address);
    if (r.ok) answer.released.push(r.lease);
    else answer.refused.push(r.reason);
  }
  return answer;
}

export class LeaseControlServer {
  private constructor(
    readonly path: string,
    private readonly server: http.Server,
  ) {}

  /**
   * Listens on `socketPath` (0600). A socket file left by a server that died is replaced; one that
   * answers belongs to a running server, and is refused.
   */
  static async listen(socketPath: string, handler: LeaseControlHandler): Promise<LeaseControlServer> {
    const server = http.createServer(
      { requestTimeout: 10_000, headersTimeout: 5_000 },
      (req, res) => void serveRequest(handler, req, res),
    );
    server.maxConnections = 16;
    const st = await fs.lstat(socketPath).catch(() => undefined);
    if (st && !st.isSocket()) throw new Error(`${socketPath} exists and is not a socket`);
    if (st && (await answers(socketPath)))
      throw new Error(`control socket ${socketPath} is in use (another bootwire serve on the same leases file?)`);
    if (st) await fs.rm(socketPath, { force: true }); // left by a server that died
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The socket is made with mode 0600 from the start (bind() applies the umask), not chmod-ed after.
      const old = process.umask(0o177);
      try {
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(old);
      }
    });
    return new LeaseControlServer(socketPath, server);
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections();
    await fs.rm(this.path, { force: true }).catch(() => {});
  }
}

async function serveRequest(
  handler: LeaseControlHandler,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const send = (status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  try {
    const u = new URL(req.url ?? '/', 'http://control');
    const q = queryOf(u);
    if (req.method === 'GET' && u.pathname === '/leases') {
      const now = handler.now();
      return send(200, { now, leases: selectLeases(handler.leases(), q, now) });
    }
    if (req.method === 'POST' && u.pathname === '/release') {
      const target: { ip?: string; mac?: string } = {};
      if (q.ip !== undefined) target.ip = q.ip;
      if (q.mac !== undefined) target.mac = q.mac;
      return send(200, await releaseMatching(handler, target));
    }
    send(404, { error: `no ${req.method} ${u.pathname} here (GET /leases, POST /release)` });
  } catch (e) {
    if (e instanceof LeaseQueryError) send(400, { error: e.message });
    else send(500, { error: (e as Error).message });
  }
}

/** Does something accept connections on `socketPath`? */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export type ControlReply = { status: number; body: unknown };

/**
 * One request to a server's control socket; undefined when no server listens there (no socket file,
 * or a stale one). Other failures (permission denied, a timeout) throw with the reason.
 */
export function controlRequest(
  socketPath: string,
  method: 'GET' | 'POST',
  pathAndQuery: string,
  timeoutMs = 15_000,
): Promise<ControlReply | undefined> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: pathAndQuery, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch (e) {
          reject(new Error(`control socket ${socketPath}: not a JSON answer (${(e as Error).message})`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () =>
      req.destroy(new Error(`control socket ${socketPath}: no answer within ${timeoutMs / 1000} s`)),
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') resolve(undefined);
      else if (e.code === 'EACCES')
        reject(new Error(`control socket ${socketPath}: permission denied (run as the server's user or root)`));
      else reject(e);
    });
    req.end();
  });
}
