import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTftp, encodeAck, encodeRequest } from '../../packages/tftp/src/codec.js';
import { tftpGetBuffer } from '../../packages/tftp/src/client.js';
import { Opcode, type TftpPacket } from '../../packages/tftp/src/packet.js';
import { TftpServer } from '../../packages/tftp/src/server.js';
import { RawUdp } from '../helpers/raw-udp.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let root: string;
const image = randomBytes(1_000_000);

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-pool-'));
  await fs.writeFile(path.join(root, 'image.bin'), image);
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function decode(msg: Buffer): TftpPacket {
  const r = decodeTftp(msg);
  if (!r.ok) throw new Error(r.error.message);
  return r.packet;
}

describe('transfers in the worker pool', () => {
  it('runs on the requested number of workers, and 0 runs them inline, with the same results', async () => {
    for (const workers of [0, 1, 2]) {
      const server = await TftpServer.start({ root, host: '127.0.0.1', port: 0, workers });
      try {
        expect(server.runner.workers).toBe(workers);
        const port = server.address().port;
        const got = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            tftpGetBuffer({
              host: '127.0.0.1',
              port,
              filename: 'image.bin',
              blksize: 1468,
              windowsize: i % 3 === 0 ? 8 : 1,
            }),
          ),
        );
        for (const g of got) expect(sha(g.data)).toBe(sha(image));
        await server.idle();
        const s = server.stats();
        expect(s).toMatchObject({
          transfersStarted: 20,
          transfersCompleted: 20,
          transfersFailed: 0,
          bytesSent: 20 * image.length,
          activeTransfers: 0,
        });
        expect(server.cache.stats().loads).toBe(1);
      } finally {
        await server.close(0);
      }
    }
  });

  it(
    'a worker that dies loses only its transfers, which get an ERROR; the pool replaces it and ' + 'serving goes on',
    async () => {
      const server = await TftpServer.start({ root, host: '127.0.0.1', port: 0, workers: 2, timeoutMs: 3000 });
      const port = server.address().port;
      try {
        // Six transfers, stalled after their first block (the clients do not ACK yet).
        const clients = await Promise.all(Array.from({ length: 6 }, () => RawUdp.open()));
        const tids: number[] = [];
        for (const c of clients) {
          c.send(encodeRequest(Opcode.RRQ, 'image.bin', 'octet', [{ name: 'blksize', value: '1000' }]), port);
          const first = await c.next();
          expect(decode(first!.msg)).toMatchObject({ opcode: Opcode.OACK });
          tids.push(first!.port);
        }
        const threads = (server.runner as unknown as { threads: Worker[] }).threads;
        expect(threads.length).toBe(2);
        await threads[0]!.terminate();

        // Each client either got an ERROR from its own TID (its worker died) or finishes its transfer.
        let failed = 0;
        let finished = 0;
        await Promise.all(
          clients.map(async (c, i) => {
            const chunks: Buffer[] = [];
            for (let block = 0; ; block++) {
              c.send(encodeAck(block), tids[i]!);
              const d = await c.next(5000);
              expect(d, `client ${i} got no answer`).toBeDefined();
              expect(d!.port).toBe(tids[i]);
              const p = decode(d!.msg);
              if (p.opcode === Opcode.ERROR) {
                expect(p.code).toBe(0);
                expect(p.message).toMatch(/worker/);
                failed++;
                return;
              }
              expect(p).toMatchObject({ opcode: Opcode.DATA, block: (block + 1) & 0xffff });
              const payload = (p as { payload: Buffer }).payload;
              chunks.push(payload);
              if (payload.length < 1000) {
                c.send(encodeAck(block + 1), tids[i]!);
                expect(sha(Buffer.concat(chunks))).toBe(sha(image));
                finished++;
                return;
              }
            }
          }),
        );
        expect(failed).toBeGreaterThan(0);
        expect(failed + finished).toBe(6);
        for (const c of clients) c.close();

        // The pool is whole again and new transfers are served by both workers.
        const got = await Promise.all(
          Array.from({ length: 10 }, () =>
            tftpGetBuffer({ host: '127.0.0.1', port, filename: 'image.bin', blksize: 1468 }),
          ),
        );
        for (const g of got) expect(sha(g.data)).toBe(sha(image));
        await server.idle();
        expect(server.stats()).toMatchObject({ transfersFailed: failed, activeTransfers: 0 });
        expect(server.stats().errorsSent[0]).toBe(failed);
      } finally {
        await server.close(0);
      }
    },
  );

  it('shutdown ends transfers running in workers with ERROR 0', async () => {
    const server = await TftpServer.start({ root, host: '127.0.0.1', port: 0, workers: 2, timeoutMs: 3000 });
    const c = await RawUdp.open();
    c.send(encodeRequest(Opcode.RRQ, 'image.bin', 'octet'), server.address().port);
    const first = await c.next();
    expect(decode(first!.msg)).toMatchObject({ opcode: Opcode.DATA, block: 1 });
    await server.close(100);
    const last = await c.next(2000);
    expect(last!.port).toBe(first!.port);
    expect(decode(last!.msg)).toEqual({ opcode: Opcode.ERROR, code: 0, message: 'server shutting down' });
    c.close();
  });
});
