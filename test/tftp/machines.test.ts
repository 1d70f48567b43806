import { describe, expect, it } from 'vitest';
import { encodeError, encodeOack } from '../../packages/tftp/src/codec.js';
import { OctetSource } from '../../packages/tftp/src/block-source.js';
import { toNetascii } from '../../packages/tftp/src/netascii.js';
import { ErrorCode, Opcode } from '../../packages/tftp/src/packet.js';
import { TftpReceiver } from '../../packages/tftp/src/receiver.js';
import { TftpSender } from '../../packages/tftp/src/sender.js';
import { bytes, rng, sha256, simulate, type Policy, type SimOptions } from './sim.js';

function expectWhole(o: SimOptions) {
  const r = simulate(o);
  expect(r.client.result, JSON.stringify(r.client.result)).toEqual({ ok: true });
  expect(r.server?.result, JSON.stringify(r.server?.result)).toEqual({ ok: true });
  expect(sha256(r.delivered)).toBe(sha256(o.data));
  expect(r.client.state).toBe('done');
  expect(r.server?.state).toBe('done');
  return r;
}

const KINDS_DOWN = ['client RRQ', 'server OACK', 'client ACK', 'server DATA', 'server final DATA'];
const KINDS_UP = ['client WRQ', 'server OACK', 'server ACK', 'client DATA', 'client final DATA'];

describe('transfer machines on a simulated network', () => {
  describe('clean transfers', () => {
    for (const direction of ['download', 'upload'] as const) {
      for (const windowsize of [1, 2, 4, 16]) {
        for (const size of [
          0,
          1,
          511,
          512,
          513,
          1024,
          512 * windowsize,
          512 * windowsize + 1,
          512 * windowsize * 3 - 1,
          10_000,
        ]) {
          it(`${direction} ${size} bytes, windowsize ${windowsize}`, () => {
            const data = bytes(size, size + windowsize);
            const r = expectWhole({ direction, data, request: { blksize: 512, windowsize } });
            const dataSide = direction === 'download' ? 'server' : 'client';
            const blocks = Math.floor(size / 512) + 1;
            // Every block sent exactly once, none resent on a clean network.
            expect((r.sent[`${dataSide} DATA`] ?? 0) + (r.sent[`${dataSide} final DATA`] ?? 0)).toBe(blocks);
            expect(r.sent[`${dataSide} final DATA`]).toBe(1);
          });
        }
      }
    }

    it('a file that is an exact multiple of blksize ends with an empty DATA', () => {
      const r = expectWhole({ direction: 'download', data: bytes(2048), request: { blksize: 512 } });
      const last = r.log.filter((p) => p.packet.opcode === Opcode.DATA).at(-1)!;
      expect(last.packet).toMatchObject({ block: 5 });
      expect((last.packet as { payload: Buffer }).payload.length).toBe(0);
    });

    it('tsize in the OACK is the file size, and the client learns it', () => {
      const r = expectWhole({ direction: 'download', data: bytes(12345), request: { blksize: 1000, tsize: true } });
      const oack = r.log.find((p) => p.packet.opcode === Opcode.OACK)!;
      expect(oack.packet).toMatchObject({ known: { tsize: 12345, blksize: 1000 } });
      expect((r.client as TftpReceiver).peerTsize).toBe(12345);
    });

    it('without options the server sends DATA 1 at once, 512-byte lock-step', () => {
      const r = expectWhole({ direction: 'download', data: bytes(1500) });
      expect(r.log[1]!.packet).toMatchObject({ opcode: Opcode.DATA, block: 1 });
      expect(r.client.blksize).toBe(512);
    });

    it('the server caps blksize and windowsize at its policy, and the client follows', () => {
      const r = expectWhole({
        direction: 'download',
        data: bytes(50_000),
        request: { blksize: 9000, windowsize: 100 },
        maxBlksize: 1468,
        maxWindowsize: 8,
      });
      expect(r.client.blksize).toBe(1468);
      expect(r.client.windowsize).toBe(8);
    });

    it('netascii is converted on the fly both ways', () => {
      const text = Buffer.from('line one\nline two\r\nbare CR\rend\n'.repeat(200));
      for (const direction of ['download', 'upload'] as const) {
        for (const blksize of [8, 9, 512]) {
          const r = simulate({ direction, data: text, mode: 'netascii', request: { blksize, windowsize: 3 } });
          expect(r.client.result).toEqual({ ok: true });
          expect(r.delivered.equals(text)).toBe(true);
        }
      }
      // And what crossed the wire is the netascii form.
      const r = simulate({ direction: 'download', data: text, mode: 'netascii', request: { blksize: 512 } });
      const wire = Buffer.concat(
        r.log.filter((p) => p.packet.opcode === Opcode.DATA).map((p) => (p.packet as { payload: Buffer }).payload),
      );
      expect(wire.equals(toNetascii(text))).toBe(true);
    });
  });

  describe('block numbers wrap past 65535 to 0', () => {
    for (const windowsize of [1, 7]) {
      it(`70,000 blocks at blksize 8, windowsize ${windowsize}`, () => {
        const data = bytes(8 * 70_000 + 3);
        const r = expectWhole({ direction: 'download', data, request: { blksize: 8, windowsize } });
        const blocks = r.log
          .filter((p) => p.from === 'server' && p.packet.opcode === Opcode.DATA)
          .map((p) => (p.packet as { block: number }).block);
        const i = blocks.indexOf(65535);
        expect(blocks[i + 1]).toBe(0);
        expect(blocks[i + 2]).toBe(1);
        expect(blocks.length).toBe(70_001);
      });
    }
    it('wraps with loss around the wrap point', () => {
      const data = bytes(8 * 66_000);
      // Drop the first two instances of every DATA and ACK numbered 65535, 0 or 1 (both laps).
      const seen = new Map<string, number>();
      const policy: Policy = (p) => {
        const block = (p.packet as { block?: number }).block;
        if (block === undefined || ![65535, 0, 1].includes(block)) return undefined;
        const key = `${p.from} ${p.kind} ${block}`;
        const n = seen.get(key) ?? 0;
        seen.set(key, n + 1);
        return { drop: n % 8 < 2 };
      };
      expectWhole({ direction: 'download', data, request: { blksize: 8, windowsize: 4 }, policy });
    });
  });

  describe('every packet kind lost, duplicated or reordered', () => {
    for (const direction of ['download', 'upload'] as const) {
      const kinds = direction === 'download' ? KINDS_DOWN : KINDS_UP;
      for (const windowsize of [1, 4]) {
        for (const kind of kinds) {
          for (const nth of [0, 1, 2]) {
            const data = bytes(512 * 4 * windowsize + 100, nth);
            const base = { direction, data, request: { blksize: 512, windowsize, tsize: true } } as const;
            it(`${direction} ws=${windowsize}: ${kind} #${nth} dropped`, () => {
              expectWhole({ ...base, policy: (p) => ({ drop: `${p.from} ${p.kind}` === kind && p.nth === nth }) });
            });
            it(`${direction} ws=${windowsize}: ${kind} #${nth} duplicated`, () => {
              expectWhole({
                ...base,
                policy: (p) => ({ copies: `${p.from} ${p.kind}` === kind && p.nth === nth ? 3 : 1 }),
              });
            });
            it(`${direction} ws=${windowsize}: ${kind} #${nth} delayed past later packets`, () => {
              expectWhole({
                ...base,
                policy: (p) => ({ delay: `${p.from} ${p.kind}` === kind && p.nth === nth ? 5 : 0 }),
              });
            });
          }
        }
      }
    }

    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      for (const windowsize of [1, 8]) {
        it(`random 20% loss, 10% duplication, 10% reordering (seed ${seed}, ws=${windowsize})`, () => {
          const r = rng(seed);
          const policy: Policy = () => ({ drop: r() < 0.2, copies: r() < 0.1 ? 2 : 1, delay: r() < 0.1 ? 3 : 0 });
          expectWhole({
            direction: seed % 2 ? 'download' : 'upload',
            data: bytes(40_000, seed),
            request: { blksize: 512, windowsize },
            policy,
            maxRetries: 20,
          });
        });
      }
    }
  });

  describe("Sorcerer's Apprentice", () => {
    it('duplicated ACKs never cause a resend', () => {
      for (const windowsize of [1, 4]) {
        const data = bytes(512 * 40);
        const r = expectWhole({
          direction: 'download',
          data,
          request: { blksize: 512, windowsize },
          policy: (p) => ({ copies: p.packet.opcode === Opcode.ACK ? 2 : 1 }),
        });
        expect(r.server!.stats.retransmits).toBe(0);
        expect(r.sent['server DATA']! + r.sent['server final DATA']!).toBe(41);
        expect(r.server!.stats.duplicates).toBeGreaterThan(0);
      }
    });

    it('a delayed ACK (late, then duplicated) does not double the data stream', () => {
      // The classic trigger: ACK n arrives late, the sender times out and resends DATA n, the receiver
      // ACKs it again. A naive sender answers both ACKs with DATA n+1, and every block after goes twice.
      const data = bytes(512 * 30);
      const r = expectWhole({
        direction: 'download',
        data,
        timeoutMs: 100,
        request: { blksize: 512 },
        policy: (p) => ({
          delay:
            p.kind === 'ACK' && p.from === 'client' && (p.packet as { block: number }).block === 3 && p.nth === 3
              ? 150
              : 0,
        }),
      });
      expect(r.server!.stats.retransmits).toBe(1); // DATA 4... only the one timed-out block
    });
  });

  describe('windows', () => {
    it('an ACK in the middle of the window slides it to that block and resends the rest', () => {
      const sent: Buffer[] = [];
      const s = new TftpSender(
        { send: (h, b) => sent.push(Buffer.concat([h, b ?? Buffer.alloc(0)])) },
        {
          role: 'server',
          source: new OctetSource(bytes(512 * 10)),
          blksize: 512,
          windowsize: 4,
          timeoutMs: 100,
          maxRetries: 3,
        },
      );
      s.start(0);
      expect(sent.map((b) => b.readUInt16BE(2))).toEqual([1, 2, 3, 4]);
      sent.length = 0;
      s.receive({ opcode: Opcode.ACK, block: 2 }, 5);
      expect(sent.map((b) => b.readUInt16BE(2))).toEqual([3, 4, 5, 6]);
      expect(s.stats.retransmits).toBe(2);
      sent.length = 0;
      s.receive({ opcode: Opcode.ACK, block: 2 }, 6); // duplicate: nothing
      s.receive({ opcode: Opcode.ACK, block: 9 }, 6); // never sent: nothing
      s.receive({ opcode: Opcode.ACK, block: 1 }, 6); // stale: nothing
      expect(sent).toEqual([]);
      expect(s.acknowledged).toBe(2);
    });

    it('a timeout resends the window, later ones one block, the highest sent, with back-off', () => {
      const sent: { t: number; block: number }[] = [];
      let now = 0;
      const s = new TftpSender(
        { send: (h) => sent.push({ t: now, block: h.readUInt16BE(2) }) },
        {
          role: 'server',
          source: new OctetSource(bytes(512 * 10)),
          blksize: 512,
          windowsize: 3,
          timeoutMs: 100,
          maxRetries: 3,
        },
      );
      s.start(0);
      s.receive({ opcode: Opcode.ACK, block: 2 }, 10);
      sent.length = 0;
      const times: number[] = [];
      while (s.state !== 'done') {
        now = s.deadline;
        times.push(now);
        s.tick(now);
      }
      // The window 3..5 once, then block 5 alone, at 100, 200, 400 ms intervals, then ERROR 0.
      expect(times.map((t, i) => t - (times[i - 1] ?? 10))).toEqual([100, 200, 400, 800]);
      expect(sent.filter((p) => p.block !== 0).map((p) => p.block)).toEqual([3, 4, 5, 5, 5]);
      expect(s.result).toEqual({ ok: false, error: { code: 0, message: 'timed out after 3 retries', by: 'local' } });
    });
  });

  describe('errors and limits', () => {
    it('retry exhaustion ends both kinds of machine with ERROR 0 and frees them', () => {
      const r = simulate({
        direction: 'download',
        data: bytes(5000),
        request: { blksize: 512 },
        maxRetries: 4,
        policy: (p) => ({
          drop: p.from === 'client' && p.packet.opcode === Opcode.ACK && (p.packet as { block: number }).block >= 2,
        }),
      });
      expect(r.server!.result).toMatchObject({ ok: false, error: { code: 0, by: 'local' } });
      expect(r.server!.state).toBe('done');
      expect(r.server!.deadline).toBe(Infinity);
      // The server's ERROR reached the client, which stopped at once.
      expect(r.client.result).toMatchObject({ ok: false, error: { code: 0, by: 'peer' } });
      const lastServer = r.log.filter((p) => p.from === 'server').at(-1)!;
      expect(lastServer.packet).toMatchObject({ opcode: Opcode.ERROR, code: 0 });
    });

    it('a client gets nothing back: it resends its request, then gives up', () => {
      const r = simulate({
        direction: 'download',
        data: bytes(10),
        maxRetries: 3,
        policy: (p) => ({ drop: p.from === 'client' }),
      });
      expect(r.sent['client RRQ']).toBe(4);
      expect(r.client.result).toMatchObject({ ok: false, error: { code: 0, by: 'local' } });
    });

    it('ERROR 8 from the client after the OACK (a tsize probe) ends the sender at once', () => {
      const sent: Buffer[] = [];
      const s = new TftpSender(
        { send: (h) => sent.push(h) },
        {
          role: 'server',
          source: new OctetSource(bytes(100_000)),
          blksize: 512,
          windowsize: 1,
          oack: [{ name: 'tsize', value: '100000' }],
          timeoutMs: 100,
          maxRetries: 3,
        },
      );
      s.start(0);
      expect(sent[0]![1]).toBe(Opcode.OACK);
      s.receive({ opcode: Opcode.ERROR, code: ErrorCode.OPTION_NEGOTIATION, message: 'just the size, thanks' }, 1);
      expect(s.state).toBe('done');
      expect(s.result).toEqual({ ok: false, error: { code: 8, message: 'just the size, thanks', by: 'peer' } });
      expect(s.deadline).toBe(Infinity);
      expect(sent.length).toBe(1);
    });

    it('ERROR from the server mid-download ends the client at once', () => {
      const r = simulate({
        direction: 'download',
        data: bytes(5000),
        serverOverride: (_req, send) => {
          send(encodeError(ErrorCode.FILE_NOT_FOUND, 'no such file'));
          return true;
        },
      });
      expect(r.client.result).toEqual({ ok: false, error: { code: 1, message: 'no such file', by: 'peer' } });
      expect(r.sent['client RRQ']).toBe(1);
    });

    it('an OACK the client did not ask for is refused with ERROR 8', () => {
      for (const oack of [
        [{ name: 'blksize', value: '4096' }],
        [{ name: 'windowsize', value: '4' }],
        [{ name: 'weird', value: '1' }],
      ]) {
        const r = simulate({
          direction: 'download',
          data: bytes(100),
          request: { blksize: 1024 },
          serverOverride: (_req, send) => {
            send(encodeOack(oack));
            return true;
          },
        });
        expect(r.client.result).toMatchObject({ ok: false, error: { code: 8, by: 'local' } });
        expect(r.log.at(-1)!.packet).toMatchObject({ opcode: Opcode.ERROR, code: 8 });
      }
    });

    it('a receiver refuses more than maxBytes with ERROR 3', () => {
      const sent: Buffer[] = [];
      const rcv = new TftpReceiver(
        { send: (h) => sent.push(h), deliver: () => {} },
        { role: 'server', blksize: 512, timeoutMs: 100, maxRetries: 3, maxBytes: 1000 },
      );
      rcv.start(0);
      rcv.receive({ opcode: Opcode.DATA, block: 1, payload: Buffer.alloc(512) }, 1);
      rcv.receive({ opcode: Opcode.DATA, block: 2, payload: Buffer.alloc(512) }, 2);
      expect(rcv.result).toMatchObject({ ok: false, error: { code: 3 } });
      expect(sent.at(-1)!.readUInt16BE(2)).toBe(3);
    });

    it('DATA larger than the negotiated blksize is an illegal operation', () => {
      const sent: Buffer[] = [];
      const rcv = new TftpReceiver(
        { send: (h) => sent.push(h) },
        { role: 'server', blksize: 512, timeoutMs: 100, maxRetries: 3 },
      );
      rcv.start(0);
      rcv.receive({ opcode: Opcode.DATA, block: 1, payload: Buffer.alloc(513) }, 1);
      expect(rcv.result).toMatchObject({ ok: false, error: { code: 4 } });
    });

    it('abort ends a running transfer with the given ERROR; a dallying receiver just closes', () => {
      const sent: Buffer[] = [];
      const s = new TftpSender(
        { send: (h) => sent.push(h) },
        { role: 'server', source: new OctetSource(bytes(5000)), timeoutMs: 100, maxRetries: 3 },
      );
      s.start(0);
      s.abort(0, 'server shutting down');
      expect(s.result).toMatchObject({ ok: false, error: { code: 0, message: 'server shutting down' } });
      expect(sent.at(-1)!.readUInt16BE(0)).toBe(Opcode.ERROR);

      const rsent: Buffer[] = [];
      const rcv = new TftpReceiver({ send: (h) => rsent.push(h) }, { role: 'server', timeoutMs: 100, maxRetries: 3 });
      rcv.start(0);
      rcv.receive({ opcode: Opcode.DATA, block: 1, payload: Buffer.alloc(10) }, 1);
      expect(rcv.state).toBe('dallying');
      const n = rsent.length;
      rcv.abort(0, 'bye');
      expect(rcv.state).toBe('done');
      expect(rcv.result).toEqual({ ok: true });
      expect(rsent.length).toBe(n);
    });
  });

  describe('dally', () => {
    it('the receiver answers a resent final DATA while it dallies', () => {
      // Drop the first ACK of the final block: the sender resends the final DATA.
      const r = expectWhole({
        direction: 'download',
        data: bytes(1300),
        request: { blksize: 512 },
        policy: (p) => ({ drop: p.from === 'client' && (p.packet as { block?: number }).block === 3 && p.nth === 3 }),
      });
      expect(r.sent['server final DATA']).toBe(2);
      expect(r.server!.result).toEqual({ ok: true });
    });

    it('the receiver reports success at the final block, and closes when the dally ends', () => {
      const rcv = new TftpReceiver({ send: () => {} }, { role: 'server', timeoutMs: 100, maxRetries: 3, dallyMs: 250 });
      rcv.start(0);
      rcv.receive({ opcode: Opcode.DATA, block: 1, payload: Buffer.alloc(3) }, 10);
      expect(rcv.result).toEqual({ ok: true });
      expect(rcv.state).toBe('dallying');
      expect(rcv.deadline).toBe(260);
      rcv.tick(259);
      expect(rcv.state).toBe('dallying');
      rcv.tick(260);
      expect(rcv.state).toBe('done');
    });
  });
});
