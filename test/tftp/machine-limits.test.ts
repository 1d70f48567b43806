/**
 * The machines' promises and bounds (issues 13 and 14), on the simulated network and by hand:
 * an upload's ACK follows the write of what it acknowledges, a slow disk slows the ACKs and queues at
 * most a window; a silent or hostile peer costs a bounded number of packets and bytes.
 */
import { describe, expect, it } from 'vitest';
import { OctetSource } from '../../packages/tftp/src/block-source.js';
import { ErrorCode, Opcode } from '../../packages/tftp/src/packet.js';
import { TftpReceiver } from '../../packages/tftp/src/receiver.js';
import { TftpSender } from '../../packages/tftp/src/sender.js';
import { bytes, rng, sha256, simulate, type Policy, type SimOptions, type SimResult } from './sim.js';

function expectWhole(o: SimOptions): SimResult {
  const r = simulate(o);
  expect(r.client.result, JSON.stringify(r.client.result)).toEqual({ ok: true });
  expect(r.server?.result, JSON.stringify(r.server?.result)).toEqual({ ok: true });
  expect(sha256(r.delivered)).toBe(sha256(o.data));
  return r;
}

/** Every ACK the server sent for a block went out at or after that block's write completed. */
function expectAcksFollowWrites(r: SimResult): void {
  const acks = r.log.filter((p) => p.from === 'server' && p.packet.opcode === Opcode.ACK);
  let abs = 0;
  let checked = 0;
  for (const a of acks) {
    const wire = (a.packet as { block: number }).block;
    // ACK numbers only grow (modulo 65536) in these transfers.
    abs += (wire - abs) & 0xffff;
    if (abs === 0) continue;
    const written = r.writtenAt[abs - 1];
    expect(written, `ACK ${abs} sent at ${a.time} before block ${abs} was written`).toBeDefined();
    expect(a.time).toBeGreaterThanOrEqual(written!);
    checked++;
  }
  expect(checked).toBeGreaterThan(0);
}

type Sent = { opcode: number; block: number; bytes: number };
const recorder = () => {
  const sent: Sent[] = [];
  return {
    sent,
    send: (h: Buffer, b?: Buffer) =>
      sent.push({ opcode: h.readUInt16BE(0), block: h.readUInt16BE(2), bytes: h.length + (b?.length ?? 0) }),
  };
};

describe('uploads: an ACK is sent only once what it acknowledges is written', () => {
  for (const windowsize of [1, 4, 16]) {
    for (const size of [0, 511, 512, 512 * windowsize, 512 * windowsize * 3 + 7, 20_000]) {
      it(`windowsize ${windowsize}, ${size} bytes, 5 ms per write`, () => {
        const r = expectWhole({
          direction: 'upload',
          data: bytes(size, size + windowsize),
          request: { blksize: 512, windowsize },
          writeMs: 5,
        });
        expectAcksFollowWrites(r);
        // The final ACK follows the final write (the commit).
        const finalAck = r.log.filter((p) => p.from === 'server' && p.packet.opcode === Opcode.ACK).at(-1)!;
        expect(finalAck.time).toBeGreaterThanOrEqual(r.writtenAt.at(-1)!);
        expect(r.maxQueuedWrites).toBeLessThanOrEqual(windowsize);
      });
    }
  }

  it('a disk slower than the timeout slows the ACKs: the upload completes, at most a window waits for it', () => {
    // A window takes 150 or 320 ms to write against a 100 ms retransmission timeout: the client resends
    // while the server writes (within its patience: 3 retries, 1.5 s), the server spends no retry of its
    // own waiting for its disk.
    for (const [windowsize, writeMs] of [
      [1, 150],
      [8, 40],
    ] as const) {
      const r = expectWhole({
        direction: 'upload',
        data: bytes(512 * 20 + 3),
        request: { blksize: 512, windowsize },
        writeMs,
        maxRetries: 3,
      });
      expectAcksFollowWrites(r);
      expect(r.maxQueuedWrites).toBeLessThanOrEqual(windowsize);
      expect(r.server!.stats.retransmits).toBe(0);
    }
  });

  // (Seed 4 loses the final ACK and every resent final DATA until the server's dally is over: the
  // client fails while the server stored the file, TFTP's known last-ACK ambiguity, not a false ACK.)
  for (const seed of [1, 2, 3, 5]) {
    it(`with 15% loss, duplication and reordering, and uneven writes (seed ${seed})`, () => {
      const r0 = rng(seed);
      const policy: Policy = () => ({ drop: r0() < 0.15, copies: r0() < 0.1 ? 2 : 1, delay: r0() < 0.1 ? 3 : 0 });
      const w = rng(seed + 100);
      const r = expectWhole({
        direction: 'upload',
        data: bytes(30_000, seed),
        request: { blksize: 512, windowsize: 8 },
        policy,
        maxRetries: 20,
        writeMs: () => Math.floor(w() * 150),
      });
      expectAcksFollowWrites(r);
      expect(r.maxQueuedWrites).toBeLessThanOrEqual(8);
    });
  }

  it('by hand: no ACK before the write, then one for the window; blocks past the window are dropped', () => {
    const out = recorder();
    const delivered: { length: number; final: boolean }[] = [];
    const rcv = new TftpReceiver(
      { send: out.send, deliver: (p, final) => delivered.push({ length: p.length, final }) },
      { role: 'server', blksize: 512, windowsize: 4, timeoutMs: 100, maxRetries: 3, awaitWrites: true },
    );
    rcv.start(0);
    expect(out.sent).toEqual([{ opcode: Opcode.ACK, block: 0, bytes: 4 }]);
    out.sent.length = 0;
    // A sender that ignores the window sends 10 blocks at once: only the window's 4 are taken.
    for (let b = 1; b <= 10; b++) rcv.receive({ opcode: Opcode.DATA, block: b, payload: Buffer.alloc(512) }, b);
    expect(delivered.length).toBe(4);
    expect(out.sent).toEqual([]); // nothing written yet: nothing acknowledged
    rcv.written(20);
    rcv.written(21);
    rcv.written(22);
    expect(out.sent).toEqual([]);
    rcv.written(23);
    expect(out.sent).toEqual([{ opcode: Opcode.ACK, block: 4, bytes: 4 }]);
    // The final block: its ACK waits for the edge's commit.
    out.sent.length = 0;
    rcv.receive({ opcode: Opcode.DATA, block: 5, payload: Buffer.alloc(10) }, 30);
    expect(delivered.at(-1)).toEqual({ length: 10, final: true });
    expect(rcv.result).toBeUndefined();
    rcv.receive({ opcode: Opcode.DATA, block: 5, payload: Buffer.alloc(10) }, 31); // resent: still not stored
    expect(out.sent).toEqual([]);
    rcv.written(40);
    expect(out.sent).toEqual([{ opcode: Opcode.ACK, block: 5, bytes: 4 }]);
    expect(rcv.result).toEqual({ ok: true });
    expect(rcv.state).toBe('dallying');
  });

  it("by hand: waiting for the disk spends no retries; a failed write ends with the edge's ERROR and no ACK", () => {
    const out = recorder();
    const rcv = new TftpReceiver(
      { send: out.send, deliver: () => {} },
      { role: 'server', blksize: 512, windowsize: 1, timeoutMs: 100, maxRetries: 2, awaitWrites: true },
    );
    rcv.start(0);
    rcv.receive({ opcode: Opcode.DATA, block: 1, payload: Buffer.alloc(512) }, 1);
    out.sent.length = 0;
    for (let i = 0; i < 20; i++) rcv.tick(rcv.deadline);
    expect(rcv.state).toBe('transferring');
    expect(out.sent).toEqual([]);
    rcv.writeFailed(ErrorCode.DISK_FULL, 'disk full or allocation exceeded');
    expect(out.sent.map((p) => [p.opcode, p.block])).toEqual([[Opcode.ERROR, ErrorCode.DISK_FULL]]);
    expect(rcv.result).toEqual({
      ok: false,
      error: { code: 3, message: 'disk full or allocation exceeded', by: 'local' },
    });
    expect(rcv.deadline).toBe(Infinity);
  });
});

describe('a silent or hostile peer costs bounded packets and bytes', () => {
  const BIG = 65464;

  /** Starts a server sender with an OACK, acknowledges it with ACK 0, then stays silent to the end. */
  function silentAfterAck0(limits: { maxUnackedBytes?: number }) {
    const out = recorder();
    const s = new TftpSender(
      { send: out.send },
      {
        role: 'server',
        source: new OctetSource(Buffer.alloc(64 * 1024 * 1024)),
        blksize: BIG,
        windowsize: 64,
        oack: [
          { name: 'blksize', value: String(BIG) },
          { name: 'windowsize', value: '64' },
        ],
        timeoutMs: 1000,
        maxRetries: 5,
        ...limits,
      },
    );
    s.start(0);
    s.receive({ opcode: Opcode.ACK, block: 0 }, 1);
    while (s.state !== 'done') s.tick(s.deadline);
    const dataBytes = out.sent.filter((p) => p.opcode === Opcode.DATA).reduce((n, p) => n + p.bytes, 0);
    return { out, s, dataBytes };
  }

  it(
    'blksize 65464, windowsize 64, one ACK 0, then silence: two windows of the byte cap, then one ' + 'block per retry',
    () => {
      const cap = 512 * 1024;
      const { dataBytes, s } = silentAfterAck0({ maxUnackedBytes: cap });
      // 8 blocks of 65464 fit in 512 KiB: sent, resent once, then one block on each of the 4 other retries.
      expect(dataBytes).toBe((8 + 8 + 4) * (BIG + 4));
      expect(dataBytes).toBeLessThan(1.5 * 1024 * 1024);
      expect(s.result).toMatchObject({ ok: false, error: { code: 0 } });
      // Without the cap a window is 4 MiB: sent twice, still not six times (the 25 MB a request).
      const uncapped = silentAfterAck0({});
      expect(uncapped.dataBytes).toBe((64 + 64 + 4) * (BIG + 4));
    },
  );

  it('a request nobody answers gets 1 + retriesBeforeAnswer packets and no ERROR', () => {
    for (const oack of [undefined, [{ name: 'tsize', value: '5000' }]]) {
      const out = recorder();
      const s = new TftpSender(
        { send: out.send },
        {
          role: 'server',
          source: new OctetSource(bytes(5000)),
          ...(oack ? { oack } : {}),
          timeoutMs: 100,
          maxRetries: 5,
          retriesBeforeAnswer: 1,
        },
      );
      s.start(0);
      while (s.state !== 'done') s.tick(s.deadline);
      expect(out.sent.map((p) => p.opcode)).toEqual(oack ? [Opcode.OACK, Opcode.OACK] : [Opcode.DATA, Opcode.DATA]);
      expect(s.result).toEqual({ ok: false, error: { code: 0, message: 'timed out after 5 retries', by: 'local' } });
    }
    // An upload's ACK 0 likewise.
    const out = recorder();
    const rcv = new TftpReceiver(
      { send: out.send },
      { role: 'server', timeoutMs: 100, maxRetries: 5, retriesBeforeAnswer: 1 },
    );
    rcv.start(0);
    while (rcv.state !== 'done') rcv.tick(rcv.deadline);
    expect(out.sent.map((p) => p.opcode)).toEqual([Opcode.ACK, Opcode.ACK]);
  });

  it('past retriesBeforeAnswer it waits silently: a late answer or a repeated request still gets through', () => {
    // The client's ACK 1 was lost twice; its own retransmission arrives after the server stopped sending.
    const out = recorder();
    const s = new TftpSender(
      { send: out.send },
      { role: 'server', source: new OctetSource(bytes(1500)), timeoutMs: 100, maxRetries: 5, retriesBeforeAnswer: 1 },
    );
    s.start(0);
    s.tick(s.deadline);
    s.tick(s.deadline);
    s.tick(s.deadline);
    expect(out.sent.map((p) => p.block)).toEqual([1, 1]);
    s.receive({ opcode: Opcode.ACK, block: 1 }, s.deadline - 1);
    expect(out.sent.map((p) => p.block)).toEqual([1, 1, 2]);
    expect(s.state).toBe('transferring');
    // A client that lost every DATA 1 repeats its RRQ: each repetition gets DATA 1 once more.
    const out2 = recorder();
    const s2 = new TftpSender(
      { send: out2.send },
      { role: 'server', source: new OctetSource(bytes(1500)), timeoutMs: 100, maxRetries: 5, retriesBeforeAnswer: 0 },
    );
    s2.start(0);
    s2.tick(s2.deadline);
    expect(out2.sent.map((p) => p.block)).toEqual([1]);
    s2.nudge(150);
    s2.nudge(160);
    expect(out2.sent.map((p) => p.block)).toEqual([1, 1, 1]);
    s2.receive({ opcode: Opcode.ACK, block: 1 }, 170);
    s2.nudge(180); // answered: a late repetition of the request changes nothing
    expect(out2.sent.map((p) => p.block)).toEqual([1, 1, 1, 2]);
  });

  it('once the client has answered, the full retries apply, and an ERROR ends it', () => {
    const out = recorder();
    const s = new TftpSender(
      { send: out.send },
      { role: 'server', source: new OctetSource(bytes(5000)), timeoutMs: 100, maxRetries: 4, retriesBeforeAnswer: 1 },
    );
    s.start(0);
    s.receive({ opcode: Opcode.ACK, block: 1 }, 5);
    out.sent.length = 0;
    while (s.state !== 'done') s.tick(s.deadline);
    expect(out.sent.map((p) => [p.opcode, p.block])).toEqual([
      [3, 2],
      [3, 2],
      [3, 2],
      [3, 2],
      [Opcode.ERROR, 0],
    ]);
  });

  it('the answer to a resent block reopens the window once', () => {
    const out = recorder();
    const s = new TftpSender(
      { send: out.send },
      {
        role: 'server',
        source: new OctetSource(bytes(512 * 20)),
        blksize: 512,
        windowsize: 4,
        timeoutMs: 100,
        maxRetries: 5,
      },
    );
    s.start(0);
    s.receive({ opcode: Opcode.ACK, block: 2 }, 5); // window 3..6 out
    out.sent.length = 0;
    s.tick(s.deadline);
    expect(out.sent.map((p) => p.block)).toEqual([3, 4, 5, 6]);
    out.sent.length = 0;
    s.tick(s.deadline);
    expect(out.sent.map((p) => p.block)).toEqual([6]);
    out.sent.length = 0;
    // The receiver still lacks 3: it says so with ACK 2. The window goes again, once.
    s.receive({ opcode: Opcode.ACK, block: 2 }, 200);
    expect(out.sent.map((p) => p.block)).toEqual([3, 4, 5, 6]);
    s.receive({ opcode: Opcode.ACK, block: 2 }, 201);
    expect(out.sent.map((p) => p.block)).toEqual([3, 4, 5, 6]);
  });

  it('a client that ACKs just before each timeout is ended at maxLifeMs', () => {
    const out = recorder();
    const s = new TftpSender(
      { send: out.send },
      {
        role: 'server',
        source: new OctetSource(bytes(512 * 1000)),
        blksize: 512,
        timeoutMs: 100,
        maxRetries: 5,
        maxLifeMs: 1000,
      },
    );
    s.start(0);
    let now = 0;
    for (let block = 1; s.state !== 'done'; block++) {
      now += 99;
      if (s.deadline <= now) s.tick(s.deadline);
      else s.receive({ opcode: Opcode.ACK, block }, now);
    }
    expect(s.result).toEqual({ ok: false, error: { code: 0, message: 'transfer took too long', by: 'local' } });
    expect(now).toBeLessThanOrEqual(1100);
    expect(out.sent.at(-1)!.opcode).toBe(Opcode.ERROR);
  });

  for (const seed of [1, 2, 3]) {
    it(`downloads stay whole under loss with a byte cap below the window (seed ${seed})`, () => {
      const r0 = rng(seed);
      const policy: Policy = () => ({ drop: r0() < 0.15, copies: r0() < 0.1 ? 2 : 1, delay: r0() < 0.1 ? 3 : 0 });
      const r = expectWhole({
        direction: 'download',
        data: bytes(100_000, seed),
        request: { blksize: 1024, windowsize: 16 },
        policy,
        maxRetries: 20,
        serverLimits: { maxUnackedBytes: 4096 },
      });
      // Never more than 4 KiB (4 blocks) past the last ACK the server had received.
      let acked = 0;
      let worst = 0;
      for (const p of r.log) {
        const block = (p.packet as { block?: number }).block;
        if (block === undefined) continue;
        if (p.from === 'client' && p.packet.opcode === Opcode.ACK) acked = Math.max(acked, block);
        if (p.from === 'server' && p.packet.opcode === Opcode.DATA) worst = Math.max(worst, block - acked);
      }
      expect(worst).toBe(4);
    });
  }
});
