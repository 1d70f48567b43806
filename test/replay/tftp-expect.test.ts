/** TFTP replay plans (what to send, which files the root holds) and verdicts on what came back. */
import { beforeEach, describe, expect, it } from 'vitest';
import { trackTftp } from '../../packages/capture/src/tftp-conversations.js';
import type { UdpDatagram } from '../../packages/capture/src/types.js';
import { recordedTransfers } from '../../packages/bootwire/src/replay/files-from-capture.js';
import { formatOutcome, formatReport, summarize } from '../../packages/bootwire/src/replay/report.js';
import {
  BUILTIN_POLICY,
  expectedNegotiation,
  judgeTftp,
  placeInRoot,
  planTftp,
  replayRequest,
  sha256,
} from '../../packages/bootwire/src/replay/tftp-expect.js';
import { decodeTftp } from '../../packages/tftp/src/codec.js';
import { ack, blocks, bytes, dg, error, oack, resetFrames, rrq, wrq } from './helpers.js';

const S69 = '10.0.0.1:69';

/** A download of `file` named `name` by client port `port`, with the OACK echoing `opts`. */
function download(
  name: string,
  file: Buffer,
  port: number,
  opts: { name: string; value: string }[] = [],
  blksize = 512,
): UdpDatagram[] {
  const C = `10.0.0.50:${port}`;
  const T = `10.0.0.1:${port + 10000}`;
  const out = [dg(C, S69, rrq(name, opts))];
  if (opts.length) out.push(dg(T, C, oack(opts)), dg(C, T, ack(0)));
  blocks(file, blksize).forEach((d, i) => out.push(dg(T, C, d), dg(C, T, ack(i + 1))));
  return out;
}

const transfersOf = (ds: UdpDatagram[]) => recordedTransfers(trackTftp(ds));
const req = (b: Buffer) => {
  const d = decodeTftp(b);
  if (!d.ok || (d.packet.opcode !== 1 && d.packet.opcode !== 2)) throw new Error('not a request');
  return d.packet;
};

beforeEach(() => resetFrames());

describe('placeInRoot', () => {
  it('places names as the server resolves them and refuses what leaves the root', () => {
    expect(placeInRoot('46xx.scr')).toEqual({ ok: true, segments: ['46xx.scr'] });
    expect(placeInRoot('/tftpboot//cfg/./a.cfg')).toEqual({ ok: true, segments: ['tftpboot', 'cfg', 'a.cfg'] });
    expect(placeInRoot('Z:\\dir\\x.hex')).toEqual({ ok: true, segments: ['Z:\\dir\\x.hex'] });
    expect(placeInRoot('../etc/passwd')).toMatchObject({ ok: false, reason: 'its name leaves the root (..)' });
    expect(placeInRoot('a\\..\\b')).toMatchObject({ ok: false });
    expect(placeInRoot('a\0b')).toMatchObject({ ok: false, reason: 'its name contains NUL' });
    expect(placeInRoot('/./')).toMatchObject({ ok: false, reason: 'its name names no file' });
  });
});

describe('replayRequest and expectedNegotiation', () => {
  it('keeps the options the client can send and lists the others', () => {
    const r = replayRequest(
      req(
        rrq('f', [
          { name: 'BlkSize', value: '1468' },
          { name: 'rollover', value: '0' },
          { name: 'tsize', value: '0' },
          { name: 'timeout', value: '3' },
        ]),
      ),
    );
    expect(r).toEqual({
      filename: 'f',
      mode: 'octet',
      blksize: 1468,
      timeout: 3,
      tsize: true,
      notReplayed: ['rollover=0'],
    });
    expect(replayRequest({ ...req(rrq('f')), mode: 'mail' })).toHaveProperty('unsupported');
  });

  it(
    "grants what bootwire's policy grants: blksize and windowsize capped, tsize the file's size " +
      '(netascii-encoded in netascii)',
    () => {
      const file = Buffer.from('a\nb\n');
      const r = replayRequest(
        req(
          rrq('f', [
            { name: 'blksize', value: '65464' },
            { name: 'windowsize', value: '100' },
            { name: 'tsize', value: '0' },
          ]),
        ),
      );
      if ('unsupported' in r) throw new Error('unexpected');
      expect(expectedNegotiation('read', r, file, { maxBlksize: 1468, maxWindowsize: 64 })).toEqual({
        blksize: 1468,
        windowsize: 64,
        tsize: 4,
      });
      expect(expectedNegotiation('read', { ...r, mode: 'netascii' }, file, BUILTIN_POLICY)).toEqual({
        blksize: 65464,
        windowsize: 64,
        tsize: 6,
      });
      expect(
        expectedNegotiation(
          'read',
          { ...r, blksize: undefined, windowsize: undefined, tsize: false },
          file,
          BUILTIN_POLICY,
        ),
      ).toEqual({ blksize: 512, windowsize: 1 });
    },
  );
});

describe('planTftp', () => {
  it('puts each downloaded file in the root once, and skips what cannot be replayed, saying why', () => {
    const a = bytes(700, 1);
    const ds = [
      ...download('a.bin', a, 1001),
      ...download('a.bin', a, 1002), // the same file again: replayed too
      ...download('a.bin', bytes(700, 2), 1003), // changed during the capture
      ...download('../x', a, 1004),
      dg('10.0.0.50:1005', S69, rrq('gone')),
      dg('10.0.0.1:11005', '10.0.0.50:1005', error(1, 'File not found')),
      dg('10.0.0.50:1006', S69, rrq('big', [{ name: 'blksize', value: '9000' }])),
      dg('10.0.0.1:11006', '10.0.0.50:1006', error(8, 'blksize too big')),
      dg('10.0.0.50:1007', S69, rrq('nobody')),
    ];
    const set = planTftp(transfersOf(ds), BUILTIN_POLICY);
    expect(set.files.map((f) => f.segments)).toEqual([['a.bin']]);
    expect(set.planned.map((p) => p.plan.kind)).toEqual(['read', 'read', 'skip', 'skip', 'error', 'skip', 'skip']);
    const reasons = set.planned.filter((p) => p.plan.kind === 'skip').map((p) => (p.plan as { reason: string }).reason);
    expect(reasons).toEqual([
      'the file changed during the capture (conversation #1 got other bytes)',
      'the file cannot be served from a root: its name leaves the root (..)',
      'the recorded server refused the options (ERROR 8 "blksize too big"); bootwire\'s policy accepts them',
      'no answer in the capture',
    ]);
    expect(set.planned[4]!.plan).toMatchObject({ kind: 'error', code: 1, direction: 'read' });
    expect(set.planned[0]!.what).toBe('#1 RRQ "a.bin" from 10.0.0.50:1001');

    // Against another server the same capture expects every file to be there already, and ERROR 8 as recorded.
    const other = planTftp(transfersOf(ds));
    expect(other.files).toEqual([]);
    expect(other.planned.map((p) => p.plan.kind)).toEqual(['read', 'read', 'read', 'read', 'error', 'error', 'skip']);
  });

  it('refuses to serve a file and a directory of one name', () => {
    const set = planTftp(
      transfersOf([...download('cfg', bytes(10), 2001), ...download('cfg/a', bytes(10), 2002)]),
      BUILTIN_POLICY,
    );
    expect(set.planned[1]!.plan).toMatchObject({
      kind: 'skip',
      reason: 'the file cannot be served next to "cfg" (a file and a directory of one name)',
    });
  });
});

describe('judgeTftp', () => {
  const file = bytes(2000);
  const plan = () => {
    const ds = download(
      'f.bin',
      file,
      3001,
      [
        { name: 'blksize', value: '1468' },
        { name: 'tsize', value: '2000' },
      ],
      1468,
    );
    return planTftp(transfersOf(ds), BUILTIN_POLICY).planned[0]!;
  };

  it('is ok with the same bytes and the negotiation our policy grants', () => {
    const o = judgeTftp(plan(), { ok: true, bytes: Buffer.from(file), blksize: 1468, windowsize: 1, tsize: 2000 });
    expect(o.verdict).toBe('ok');
    expect(o.detail).toBe(`2000 bytes, sha256 ${sha256(file).slice(0, 16)}; blksize 1468, tsize 2000`);
    expect(formatOutcome(o)).toMatch(/^ok {8}tftp #1 RRQ "f.bin" from 10\.0\.0\.50:3001: 2000 bytes/);
  });

  it('names the first differing byte, a wrong negotiation, and an ERROR instead of data', () => {
    const wrong = Buffer.from(file);
    wrong[1500] = wrong[1500]! ^ 1;
    const bytesDiffer = judgeTftp(plan(), { ok: true, bytes: wrong, blksize: 1468, windowsize: 1, tsize: 2000 });
    expect(bytesDiffer.verdict).toBe('different');
    expect(bytesDiffer.detail).toMatch(
      /^bytes differ from byte 1500: received 2000 bytes sha256 [0-9a-f]{16}, recorded 2000 bytes sha256 [0-9a-f]{16}$/,
    );
    expect(judgeTftp(plan(), { ok: true, bytes: file, blksize: 512, windowsize: 1, tsize: 2000 }).detail).toBe(
      "negotiated blksize 512, bootwire's policy grants 1468",
    );
    expect(judgeTftp(plan(), { ok: false, code: 1, message: 'File not found', by: 'peer' }).detail).toBe(
      'got ERROR 1 "File not found", recorded a download of 2000 bytes',
    );
    expect(judgeTftp(plan(), { ok: false, code: 0, message: 'timed out after 5 retries', by: 'local' }).detail).toBe(
      'got no transfer (timed out after 5 retries), recorded a download of 2000 bytes',
    );
  });

  it('expects a recorded ERROR to come back with the same code', () => {
    const ds = [
      dg('10.0.0.50:4001', S69, rrq('gone')),
      dg('10.0.0.1:14001', '10.0.0.50:4001', error(1, 'File not found')),
    ];
    const p = planTftp(transfersOf(ds), BUILTIN_POLICY).planned[0]!;
    expect(judgeTftp(p, { ok: false, code: 1, message: '"gone" not found', by: 'peer' })).toMatchObject({
      verdict: 'ok',
      detail: 'ERROR 1 as recorded',
      notes: ['message "\\"gone\\" not found"'],
    });
    expect(judgeTftp(p, { ok: false, code: 2, message: 'no', by: 'peer' }).detail).toBe(
      'got ERROR 2 "no", recorded ERROR 1 "File not found"',
    );
    expect(judgeTftp(p, { ok: true, bytes: Buffer.alloc(3), blksize: 512, windowsize: 1 }).detail).toBe(
      'the download was accepted, recorded ERROR 1 "File not found"',
    );
  });

  it('notes how the recorded server negotiated differently, without calling it a difference', () => {
    const C = '10.0.0.50:5001';
    const ds = [
      dg(
        C,
        S69,
        rrq('w', [
          { name: 'blksize', value: '8192' },
          { name: 'windowsize', value: '16' },
        ]),
      ),
      dg('10.0.0.1:15001', C, oack([{ name: 'blksize', value: '8192' }])),
      dg(C, '10.0.0.1:15001', ack(0)),
    ];
    blocks(bytes(9000), 8192).forEach((d) => ds.push(dg('10.0.0.1:15001', C, d)));
    const p = planTftp(transfersOf(ds), BUILTIN_POLICY).planned[0]!;
    const o = judgeTftp(p, { ok: true, bytes: bytes(9000), blksize: 8192, windowsize: 16 });
    expect(o).toMatchObject({ verdict: 'ok', notes: ['windowsize 16, the recorded server gave none (1)'] });
  });

  it('checks an upload by the bytes the server stored', () => {
    const C = '10.0.0.50:6001';
    const up = bytes(600);
    const ds = [dg(C, S69, wrq('up.bin')), dg('10.0.0.1:16001', C, ack(0))];
    blocks(up, 512).forEach((d, i) => ds.push(dg(C, '10.0.0.1:16001', d), dg('10.0.0.1:16001', C, ack(i + 1))));
    const p = planTftp(transfersOf(ds), BUILTIN_POLICY).planned[0]!;
    expect(p.plan.kind).toBe('write');
    expect(judgeTftp(p, { ok: true, bytes: up, blksize: 512, windowsize: 1 }).verdict).toBe('ok');
    expect(judgeTftp(p, { ok: true, bytes: up.subarray(0, 512), blksize: 512, windowsize: 1 }).detail).toMatch(
      /^bytes differ from byte 512: stored 512 bytes/,
    );
    expect(judgeTftp(p, { ok: true, blksize: 512, windowsize: 1 }).detail).toBe(
      '600 bytes uploaded (stored bytes not checked); blksize 512',
    );
  });
});

describe('report', () => {
  it('prints warnings, notes, one line per conversation and a summary; exits 1 on a difference', () => {
    const r = {
      capture: 'x.pcap',
      warnings: ['frame 3: IPv4 header cut by the capture'],
      notes: ['DHCP configuration: a reply without option 1: its subnet taken as /24'],
      outcomes: [
        { proto: 'tftp' as const, what: '#1 RRQ "a"', verdict: 'ok' as const, detail: '3 bytes' },
        { proto: 'tftp' as const, what: '#2 RRQ "b"', verdict: 'skipped' as const, detail: 'no answer in the capture' },
        { proto: 'dhcp' as const, what: '#1 DISCOVER', verdict: 'different' as const, detail: 'no reply' },
      ],
    };
    expect(formatReport(r)).toEqual([
      'warning: frame 3: IPv4 header cut by the capture',
      'note: DHCP configuration: a reply without option 1: its subnet taken as /24',
      'ok        tftp #1 RRQ "a": 3 bytes',
      'skipped   tftp #2 RRQ "b": skipped: no answer in the capture',
      'DIFFERENT dhcp #1 DISCOVER: no reply',
      'replay x.pcap: 3 conversations: 1 ok, 1 skipped, 1 different; 1 capture warning',
    ]);
    expect(summarize(r).exitCode).toBe(1);
    expect(summarize({ ...r, outcomes: r.outcomes.slice(0, 2) }).exitCode).toBe(0);
    expect(
      summarize({ capture: 'y', outcomes: [], warnings: [], unreadable: 'unknown magic number 00000000 (byte 0)' }),
    ).toMatchObject({ exitCode: 1, line: 'replay y: cannot read the capture: unknown magic number 00000000 (byte 0)' });
  });
});
