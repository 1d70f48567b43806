/** The TFTP conversation tracker: conversations found by request, not by port. */
import { describe, expect, it } from 'vitest';
import { trackTftp, type TftpItem, type UdpDatagram } from '../../packages/capture/src/index.js';
import { dg, resetFrames } from '../helpers/datagrams.js';
import { encodeAck, encodeError, encodeOack, encodeRequest, encodeTftp } from '../../packages/tftp/src/codec.js';
import { Opcode } from '../../packages/tftp/src/packet.js';

const rrq = (file: string, opts: { name: string; value: string }[] = []) =>
  encodeRequest(Opcode.RRQ, file, 'octet', opts);
const wrq = (file: string) => encodeRequest(Opcode.WRQ, file, 'octet');
const data = (block: number, length: number) =>
  encodeTftp({ opcode: Opcode.DATA, block, payload: Buffer.alloc(length, 0x41) });
const ack = (block: number) => Buffer.from(encodeAck(block));

/** Item summaries: frame, conversation id (0: none), opcode name or error kind. */
function summary(items: TftpItem[]): string[] {
  const names = ['', 'RRQ', 'WRQ', 'DATA', 'ACK', 'ERROR', 'OACK'];
  return items.map((i) => {
    const what = i.packet.ok ? names[i.packet.packet.opcode] : i.packet.error.kind;
    return `${i.datagram.frame}:${i.conversation?.id ?? 0}:${what}`;
  });
}
function run(datagrams: UdpDatagram[]): TftpItem[] {
  return [...trackTftp(datagrams)];
}

describe('trackTftp', () => {
  it('follows a transfer whose request went to port 9000 and whose answers come from a fresh port', () => {
    resetFrames();
    const C = '127.0.0.1:48452';
    const items = run([
      dg(C, '127.0.0.1:9000', rrq('server_file', [{ name: 'blksize', value: '1425' }])),
      dg('127.0.0.1:41000', C, encodeOack([{ name: 'blksize', value: '1425' }])),
      dg(C, '127.0.0.1:41000', ack(0)),
      dg('127.0.0.1:41000', C, data(1, 1425)),
      dg(C, '127.0.0.1:41000', ack(1)),
      dg('127.0.0.1:41000', C, data(2, 7)),
      dg(C, '127.0.0.1:41000', ack(2)),
      dg('127.0.0.1:5353', '127.0.0.1:5353', Buffer.from('not tftp')),
    ]);
    expect(summary(items)).toEqual(['1:1:RRQ', '2:1:OACK', '3:1:ACK', '4:1:DATA', '5:1:ACK', '6:1:DATA', '7:1:ACK']);
    const c = items[0]!.conversation!;
    expect(c).toMatchObject({
      kind: 'read',
      client: C,
      server: '127.0.0.1:9000',
      serverTid: 41000,
      filename: 'server_file',
      mode: 'octet',
      blksize: 1425,
      ended: 'complete',
      requests: 1,
      requestFrame: 1,
    });
    expect(c.options).toEqual([{ name: 'blksize', key: 'blksize', value: '1425' }]);
  });

  it('follows a server that keeps port 69 for the whole transfer', () => {
    resetFrames();
    const C = '10.0.0.5:2000';
    const S = '10.0.0.1:69';
    const items = run([
      dg(C, S, rrq('a.cfg')),
      dg(S, C, data(1, 512)),
      dg(C, S, ack(1)),
      dg(S, C, data(2, 0)),
      dg(C, S, ack(2)),
    ]);
    expect(summary(items)).toEqual(['1:1:RRQ', '2:1:DATA', '3:1:ACK', '4:1:DATA', '5:1:ACK']);
    expect(items[0]!.conversation).toMatchObject({ serverTid: 69, ended: 'complete' });
  });

  it('keeps a retransmitted RRQ in the conversation it repeats', () => {
    resetFrames();
    const C = '10.0.0.5:2000';
    const items = run([
      dg(C, '10.0.0.1:69', rrq('f')),
      dg(C, '10.0.0.1:69', rrq('f')),
      dg('10.0.0.1:3000', C, data(1, 100)),
      dg(C, '10.0.0.1:3000', ack(1)),
    ]);
    expect(summary(items)).toEqual(['1:1:RRQ', '2:1:RRQ', '3:1:DATA', '4:1:ACK']);
    expect(items[0]!.conversation).toMatchObject({ requests: 2, requestFrame: 1, serverTid: 3000 });
  });

  it('tells apart two simultaneous transfers from one client on two ports', () => {
    resetFrames();
    const A = '[fc0c::94]:2001';
    const B = '[fc0c::94]:2002';
    const items = run([
      dg(A, '[fc0c::8]:69', rrq('one')),
      dg(B, '[fc0c::8]:69', wrq('two')),
      dg('[fc0c::8]:3001', A, data(1, 512)),
      dg('[fc0c::8]:3002', B, ack(0)),
      dg(A, '[fc0c::8]:3001', ack(1)),
      dg(B, '[fc0c::8]:3002', data(1, 3)),
      dg('[fc0c::8]:3002', B, ack(1)),
      dg('[fc0c::8]:3001', A, data(2, 1)),
    ]);
    expect(summary(items)).toEqual([
      '1:1:RRQ',
      '2:2:WRQ',
      '3:1:DATA',
      '4:2:ACK',
      '5:1:ACK',
      '6:2:DATA',
      '7:2:ACK',
      '8:1:DATA',
    ]);
    const [one, two] = [items[0]!.conversation!, items[1]!.conversation!];
    expect(one).toMatchObject({ kind: 'read', client: A, server: '[fc0c::8]:69', serverTid: 3001, ended: 'complete' });
    expect(two).toMatchObject({ kind: 'write', client: B, serverTid: 3002, ended: 'complete' });
  });

  it('ends a conversation at ERROR: the same request from the same port then opens a new one', () => {
    resetFrames();
    const C = '10.0.0.5:2000';
    const S = '10.0.0.1:69';
    const items = run([
      dg(C, S, rrq('f', [{ name: 'blksize', value: '9000' }])),
      dg('10.0.0.1:3000', C, encodeError(8, 'option refused')),
      dg(C, S, rrq('f')),
      dg('10.0.0.1:3001', C, data(1, 10)),
    ]);
    expect(summary(items)).toEqual(['1:1:RRQ', '2:1:ERROR', '3:2:RRQ', '4:2:DATA']);
    expect(items[0]!.conversation).toMatchObject({ ended: 'error', serverTid: 3000 });
    expect(items[2]!.conversation).toMatchObject({ serverTid: 3001, requests: 1, options: [] });
  });

  it('reports malformed packets inside a conversation, and port-69 strays without one', () => {
    resetFrames();
    const C = '10.0.0.5:2000';
    const items = run([
      dg(C, '10.0.0.1:69', Buffer.from('\x00\x01name\x00bogus\x00', 'latin1')), // bad mode: not a request
      dg(C, '10.0.0.1:9000', rrq('f')),
      dg('10.0.0.1:3000', C, Buffer.from([0, 9, 1, 2])), // unknown opcode, inside the conversation
      dg('10.0.0.7:3000', C, data(1, 1)), // another host: not this conversation
    ]);
    expect(summary(items)).toEqual(['1:0:bad-mode', '2:1:RRQ', '3:1:unknown-opcode']);
  });

  it('keeps TFTP after the end of a conversation, but not other traffic on the same ports', () => {
    resetFrames();
    const C = '10.0.0.5:2000';
    const items = run([
      dg(C, '10.0.0.1:69', rrq('f')),
      dg('10.0.0.1:3000', C, data(1, 10)),
      dg(C, '10.0.0.1:3000', ack(1)),
      dg(C, '10.0.0.1:3000', ack(1)), // a repeated last ACK
      dg(C, '10.0.0.1:53', Buffer.from('a later DNS query from the same port')),
    ]);
    expect(summary(items)).toEqual(['1:1:RRQ', '2:1:DATA', '3:1:ACK', '4:1:ACK']);
  });
});
