/**
 * TFTP replay, the edge: a temporary root holding the rebuilt files, the built-in server over it on
 * 127.0.0.1 (or the server given), and bootwire's TFTP client sending each recorded request with its
 * options, one conversation at a time in capture order. The root is removed afterwards, whatever happens.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type HostPort, resolveForRead } from '@bootwire/core';
import { TftpError, tftpGetBuffer, tftpPut, type TftpClientOptions } from '@bootwire/tftp';
import { TftpServer } from '@bootwire/tftp';
import type { RecordedTransfer } from './files-from-capture.js';
import type { Outcome } from './report.js';
import {
  BUILTIN_POLICY,
  judgeTftp,
  type PlannedTransfer,
  placeInRoot,
  planTftp,
  type ReplayRequest,
  type TftpActual,
} from './tftp-expect.js';

export interface TftpReplayOptions {
  /** 'builtin', or the server to check. */
  readonly server: 'builtin' | { readonly host: string; readonly port: number };
  /** Retransmissions before the client gives up. Default 5. */
  readonly retries?: number;
  /** The client's retransmission timeout when the request has no timeout option. Default 1000 ms. */
  readonly timeoutMs?: number;
}

/** Largest download accepted, against a server that sends more than the recorded file. */
const slack = (n: number) => n * 2 + 1024 * 1024;

export async function replayTftp(transfers: readonly RecordedTransfer[], o: TftpReplayOptions): Promise<Outcome[]> {
  const builtin = o.server === 'builtin';
  const plans = planTftp(transfers, builtin ? BUILTIN_POLICY : undefined);
  if (!plans.planned.some((p) => p.plan.kind !== 'skip')) return plans.planned.map((p) => judgeTftp(p, undefined));
  let root: string | undefined;
  let server: TftpServer | undefined;
  const unwritable = new Map<string, string>(); // path below the root -> why the file could not be written
  try {
    let target: HostPort;
    if (o.server === 'builtin') {
      root = await mkdtemp(path.join(tmpdir(), 'bootwire-replay-'));
      for (const f of plans.files) {
        const file = path.join(root, ...f.segments);
        try {
          await mkdir(path.dirname(file), { recursive: true });
          await writeFile(file, f.bytes);
        } catch (e) {
          unwritable.set(f.segments.join('/'), (e as NodeJS.ErrnoException).code ?? (e as Error).message);
        }
      }
      server = await TftpServer.start({
        root,
        host: '127.0.0.1',
        port: 0,
        allowWrite: true,
        allowOverwrite: true,
        workers: 0,
        maxBlksize: BUILTIN_POLICY.maxBlksize,
        maxWindowsize: BUILTIN_POLICY.maxWindowsize,
        cacheBytes: 64 * 1024 * 1024,
      });
      target = { host: '127.0.0.1', port: server.address().port };
    } else {
      target = o.server;
    }
    const out: Outcome[] = [];
    for (const p of plans.planned) {
      const place = placeInRoot(p.transfer.conversation.filename);
      const why = p.plan.kind === 'read' && place.ok ? unwritable.get(place.segments.join('/')) : undefined;
      if (why) {
        out.push({
          proto: 'tftp',
          what: p.what,
          verdict: 'skipped',
          detail: `the file cannot be written to a root: ${why}`,
        });
        continue;
      }
      const actual = p.plan.kind === 'skip' ? undefined : await runOne(p, target, o, server);
      out.push(judgeTftp(p, actual));
    }
    return out;
  } finally {
    await server?.close(1000);
    if (root) await rm(root, { recursive: true, force: true });
  }
}

function clientOptions(r: ReplayRequest, target: HostPort, o: TftpReplayOptions): TftpClientOptions {
  return {
    host: target.host,
    port: target.port,
    filename: r.filename,
    mode: r.mode,
    ...(r.blksize !== undefined ? { blksize: r.blksize } : {}),
    ...(r.windowsize !== undefined ? { windowsize: r.windowsize } : {}),
    ...(r.timeout !== undefined ? { timeout: r.timeout } : { timeoutMs: o.timeoutMs ?? 1000 }),
    tsize: r.tsize,
    maxRetries: o.retries ?? 5,
    dallyMs: 0,
  };
}

function failed(e: unknown): TftpActual {
  if (e instanceof TftpError) return { ok: false, code: e.code, message: e.tftpMessage, by: e.by };
  return { ok: false, code: 0, message: (e as Error).message, by: 'local' };
}

async function runOne(
  p: PlannedTransfer,
  target: HostPort,
  o: TftpReplayOptions,
  server: TftpServer | undefined,
): Promise<TftpActual> {
  const plan = p.plan;
  if (plan.kind === 'skip') throw new Error('a skipped conversation is not run');
  const opts = clientOptions(plan.request, target, o);
  const download = plan.kind === 'read' || (plan.kind === 'error' && plan.direction === 'read');
  if (download) {
    try {
      const { data, info } = await tftpGetBuffer({
        ...opts,
        maxBytes: slack(plan.kind === 'read' ? plan.file.length : 0),
      });
      return {
        ok: true,
        bytes: data,
        blksize: info.blksize,
        windowsize: info.windowsize,
        ...(info.tsize !== undefined ? { tsize: info.tsize } : {}),
      };
    } catch (e) {
      return failed(e);
    }
  }
  // An upload; a refused one in the capture carried no data, so an empty file is offered.
  const bytes = plan.kind === 'write' ? plan.file : Buffer.alloc(0);
  try {
    const info = await tftpPut(opts, bytes);
    const stored = server ? await storedBytes(server, plan.request.filename) : undefined;
    return { ok: true, ...(stored ? { bytes: stored } : {}), blksize: info.blksize, windowsize: info.windowsize };
  } catch (e) {
    return failed(e);
  }
}

/** What the built-in server stored for an upload (read back from its root). */
async function storedBytes(server: TftpServer, name: string): Promise<Buffer> {
  // The file is put in place when the upload's last block arrives, after our final ACK left: wait for
  // the server's side of the transfer to end (its dally included).
  await server.idle();
  const r = await resolveForRead(server.rootReal!, name);
  if (!r.ok) return Buffer.alloc(0);
  return readFile(r.path);
}
