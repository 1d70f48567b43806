/** Rebuilding each recorded TFTP transfer's file from its DATA, and telling complete from incomplete. */
import { beforeEach, describe, expect, it } from 'vitest';
import { trackTftp } from '../../packages/capture/src/tftp-conversations.js';
import type { UdpDatagram } from '../../packages/capture/src/types.js';
import { recordedTransfers } from '../../packages/bootwire/src/replay/files-from-capture.js';
import { ack, blocks, bytes, data, dg, error, oack, resetFrames, rrq, wrq } from './helpers.js';

const C = '10.0.0.50:40000';
const S69 = '10.0.0.1:69';
const T = '10.0.0.1:50000';

const rebuild = (ds: UdpDatagram[]) => recordedTransfers(trackTftp(ds));

/** A lock-step download of `file`: request, optional OACK, then DATA/ACK pairs. */
function lockstep(file: Buffer, blksize = 512, opts: { name: string; value: string }[] = []): UdpDatagram[] {
  const out = [dg(C, S69, rrq('f.bin', opts))];
  if (opts.length) {
    out.push(dg(T, C, oack(opts)));
    out.push(dg(C, T, ack(0)));
  }
  blocks(file, blksize).forEach((d, i) => {
    out.push(dg(T, C, d));
    out.push(dg(C, T, ack(i + 1)));
  });
  return out;
}

beforeEach(() => resetFrames());

describe('recordedTransfers', () => {
  it('rebuilds a lock-step download, including one that ends with an empty block', () => {
    for (const size of [1000, 1024, 0]) {
      const file = bytes(size, size + 1);
      const [t] = rebuild(lockstep(file));
      expect(t!.status).toBe('complete');
      expect(t!.file!.equals(file)).toBe(true);
      expect(t!.blocks).toBe(Math.floor(size / 512) + 1);
      expect(t!.damage).toEqual([]);
    }
  });

  it('takes the block size from the OACK and records the OACK and tsize', () => {
    const file = bytes(5000);
    const [t] = rebuild(
      lockstep(file, 1468, [
        { name: 'blksize', value: '1468' },
        { name: 'tsize', value: '5000' },
      ]),
    );
    expect(t!.status).toBe('complete');
    expect(t!.blksize).toBe(1468);
    expect(t!.tsize).toBe(5000);
    expect(t!.oack!.map((o) => o.key)).toEqual(['blksize', 'tsize']);
    expect(t!.file!.equals(file)).toBe(true);
  });

  it('drops retransmitted copies and fills a gap from blocks seen ahead of it (a window resent)', () => {
    const file = bytes(8 * 512 + 100);
    const d = blocks(file, 512);
    const ds = [
      dg(C, S69, rrq('f.bin', [{ name: 'windowsize', value: '4' }])),
      dg(T, C, oack([{ name: 'windowsize', value: '4' }])),
      dg(C, T, ack(0)),
    ];
    // Block 2 lost on the way to the capture point the first time; 3 and 4 seen ahead of it.
    for (const i of [0, 2, 3]) ds.push(dg(T, C, d[i]!));
    ds.push(dg(C, T, ack(1)));
    for (const i of [1, 2, 3, 4, 5, 6, 7, 0, 8]) ds.push(dg(T, C, d[i]!)); // 0: a stray duplicate
    const [t] = rebuild(ds);
    expect(t!.status).toBe('complete');
    expect(t!.windowsize).toBe(4);
    expect(t!.file!.equals(file)).toBe(true);
  });

  it('follows block numbers across the 16-bit rollover', () => {
    const file = bytes(65536 * 8 + 3);
    const [t] = rebuild(lockstep(file, 8, [{ name: 'blksize', value: '8' }]));
    expect(t!.status).toBe('complete');
    expect(t!.blocks).toBe(65537);
    expect(t!.file!.equals(file)).toBe(true);
  });

  it('calls a transfer without its short last block incomplete, and says where it stops', () => {
    const file = bytes(3000);
    const ds = lockstep(file).filter((d) => !(d.payload.readUInt16BE(0) === 3 && d.payload.readUInt16BE(2) === 6));
    const [t] = rebuild(ds);
    expect(t!.status).toBe('incomplete');
    expect(t!.damage).toEqual(['the capture ends after block 5, which is not short']);
    expect(t!.file).toBeUndefined();

    resetFrames();
    const gap = lockstep(file).filter((d) => !(d.payload.readUInt16BE(0) === 3 && d.payload.readUInt16BE(2) === 2));
    expect(rebuild(gap)[0]!.damage).toEqual(['block 2 missing']);
  });

  it(
    'tells a refused request, a server that gave up midway, a client that gave up and an unanswered ' + 'request apart',
    () => {
      const refused = rebuild([dg(C, S69, rrq('missing')), dg(T, C, error(1, 'File not found'))])[0]!;
      expect(refused.status).toBe('refused');
      expect(refused.error).toMatchObject({ code: 1, message: 'File not found', by: 'server', afterBlocks: 0 });

      resetFrames();
      const midway = rebuild([
        dg(C, S69, rrq('f')),
        dg(T, C, data(1, bytes(512))),
        dg(C, T, ack(1)),
        dg(T, C, error(0, 'disk gone')),
      ])[0]!;
      expect(midway.status).toBe('incomplete');
      expect(midway.damage).toEqual(['ended by ERROR 0 from the server after 1 block']);

      resetFrames();
      const client = rebuild([
        dg(C, S69, rrq('f', [{ name: 'blksize', value: '9000' }])),
        dg(T, C, oack([{ name: 'blksize', value: '9000' }])),
        dg(C, T, error(8, 'no')),
      ])[0]!;
      expect(client.status).toBe('refused');
      expect(client.error!.by).toBe('client');

      resetFrames();
      expect(rebuild([dg(C, S69, rrq('f')), dg(C, S69, rrq('f'))])[0]!.status).toBe('unanswered');
    },
  );

  it('rebuilds an upload from the client DATA (a WRQ)', () => {
    const file = bytes(1500);
    const ds = [dg(C, S69, wrq('up.bin')), dg(T, C, ack(0))];
    blocks(file, 512).forEach((d, i) => {
      ds.push(dg(C, T, d));
      ds.push(dg(T, C, ack(i + 1)));
    });
    const [t] = rebuild(ds);
    expect(t!.conversation.kind).toBe('write');
    expect(t!.status).toBe('complete');
    expect(t!.file!.equals(file)).toBe(true);
  });

  it('decodes netascii: the file is what the client stores, the wire bytes are kept too', () => {
    const ds = [dg(C, S69, rrq('t.txt', [], 'netascii')), dg(T, C, data(1, Buffer.from('a\r\nb\r\0c')))];
    const [t] = rebuild(ds);
    expect(t!.wire!.toString('latin1')).toBe('a\r\nb\r\0c');
    expect(t!.file!.toString('latin1')).toBe('a\nb\rc');
  });

  it('gives up on DATA cut by the snaplen, and notes a tsize that does not match', () => {
    const cut = rebuild([dg(C, S69, rrq('f')), dg(T, C, data(1, bytes(100)), { truncated: true })])[0]!;
    expect(cut.status).toBe('incomplete');
    expect(cut.damage[0]).toMatch(/cut by the capture/);

    resetFrames();
    const file = bytes(700);
    const lying = rebuild(lockstep(file, 512, [{ name: 'tsize', value: '999' }]))[0]!;
    expect(lying.status).toBe('complete');
    expect(lying.damage).toEqual(['the OACK announced tsize 999, 700 bytes arrived']);
  });

  it('keeps a request the codec refuses (options only) with the reason', () => {
    // As an Alcatel phone sends it: `ethernetaddress` with an empty value, then empty names and values.
    const alcatel = Buffer.concat([rrq('f.cfg'), Buffer.from('ethernetaddress\0\0\0\0blksize\u00001428\0', 'latin1')]);
    const weird = Buffer.concat([rrq('f.cfg', [{ name: 'blksize', value: '1428' }]), Buffer.from('\0x\0', 'latin1')]);
    for (const req of [alcatel, weird]) {
      resetFrames();
      const [t] = rebuild([dg(C, S69, req), dg(T, C, data(1, bytes(10)))]);
      expect(t!.requestError).toBe('empty option name');
      expect(t!.request.filename).toBe('f.cfg');
      expect(t!.status).toBe('complete');
    }
  });
});
