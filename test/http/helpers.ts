/** Helpers for the HTTP tests: curl with parsed headers, raw socket requests, a scratch root. */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { run } from '../helpers/peers.js';

export interface CurlResponse {
  code: number | null;
  /** The last response's status (after 100 Continue etc.). */
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Buffer;
  stderr: string;
}

/** Runs curl with `args` and a URL, headers to a file, body to stdout. */
export async function curl(bin: string, args: string[], dir: string): Promise<CurlResponse> {
  const hdr = path.join(dir, `hdr-${randomBytes(6).toString('hex')}`);
  const r = await run(bin, ['-sS', '-m', '30', '-D', hdr, ...args], { timeoutMs: 40_000 });
  let text = '';
  try {
    text = await fs.readFile(hdr, 'latin1');
  } catch {
    /* no response */
  }
  await fs.rm(hdr, { force: true });
  const blocks = text.split(/\r\n\r\n/).filter((b) => b.startsWith('HTTP/'));
  const last = blocks[blocks.length - 1] ?? '';
  const [statusLine, ...lines] = last.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return {
    code: r.code,
    status: Number(/^HTTP\/\S+ (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0),
    headers,
    body: r.stdout,
    stderr: r.stderr,
  };
}

export interface RawResponse {
  status: number;
  head: string;
  body: Buffer;
  /** The whole byte stream the server sent. */
  raw: Buffer;
  /** True when the server closed the connection. */
  closedByServer: boolean;
}

/**
 * Sends `request` bytes as they are on a fresh connection and reads until the server closes or
 * `waitMs` passes. `halfClose` shuts the sending side after the request (as some HTTP/1.0 clients do).
 */
export function rawRequest(
  port: number,
  request: string | Buffer,
  opts: { halfClose?: boolean; waitMs?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let closedByServer = false;
    const c = net.connect(port, '127.0.0.1', () => (opts.halfClose ? c.end(request) : c.write(request)));
    const timer = setTimeout(() => c.destroy(), opts.waitMs ?? 2000);
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('end', () => (closedByServer = true));
    c.on('error', reject);
    c.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks);
      const sep = raw.indexOf('\r\n\r\n');
      const head = sep < 0 ? raw.toString('latin1') : raw.subarray(0, sep).toString('latin1');
      resolve({
        status: Number(/^HTTP\/\S+ (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        body: sep < 0 ? Buffer.alloc(0) : raw.subarray(sep + 4),
        raw,
        closedByServer,
      });
    });
  });
}

export async function scratchDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A P-256 self-signed certificate for 127.0.0.1 and localhost, valid for two days, made by openssl. */
export async function selfSigned(openssl: string, dir: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const r = await run(openssl, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=bootwire test',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  if (r.code !== 0) throw new Error(`${r.command} failed: ${r.stderr}`);
  return { cert, key };
}
