/**
 * `bootwire decode`: the JSON shape of the example (exact lines), human output, IPv6 endpoints,
 * malformed messages, and the exit codes for damaged, missing and foreign files.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDhcp } from '../../packages/dhcp/src/codec/index.js';
import { encodeRequest, encodeTftp } from '../../packages/tftp/src/codec.js';
import { Opcode } from '../../packages/tftp/src/packet.js';
import { ethernet, ipv4Udp, ipv6, pcapFile, udpHeader } from './build.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(REPO, 'packages/bootwire/dist/cli/main.js');
const PUBLIC = path.resolve(REPO, '../shared/captures/public');
const dir = mkdtempSync(path.join(os.tmpdir(), 'bw-decode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One line of `decode --json`: the fields these tests compare. */
function jsonLine(line: string): Record<string, unknown> {
  return JSON.parse(line) as Record<string, unknown>;
}

function run(...args: string[]) {
  return spawnSync(process.execPath, [CLI, 'decode', ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

const T0 = 1732161600;
const eth4 = (src: string, dst: string, sp: number, dp: number, payload: Buffer) =>
  ethernet(0x0800, ipv4Udp(src, dst, sp, dp, payload));
const eth6 = (src: string, dst: string, sp: number, dp: number, payload: Buffer) =>
  ethernet(0x86dd, ipv6(src, dst, 17, udpHeader(sp, dp, payload)));

/** The example: a phone's DISCOVER, then its TFTP fetch on port 69, one IPv6 request, junk on 67. */
function exampleCapture(): Buffer {
  const discover = buildDhcp({
    op: 1,
    xid: 0x47581b1e,
    chaddr: '00:04:0d:aa:bb:01',
    options: [
      [53, Buffer.from([1])],
      [55, Buffer.from([1, 3, 6, 66, 242])],
      [60, Buffer.from('ccp.avaya.com')],
    ],
  }).bytes;
  const frames = [
    eth4('10.77.0.50', '255.255.255.255', 68, 67, discover),
    eth4(
      '10.77.0.50',
      '10.77.0.1',
      50000,
      69,
      encodeRequest(Opcode.RRQ, '46xxupgrade.scr', 'octet', [
        { name: 'blksize', value: '1468' },
        { name: 'tsize', value: '0' },
      ]),
    ),
    eth4(
      '10.77.0.1',
      '10.77.0.50',
      40000,
      50000,
      encodeTftp({
        opcode: Opcode.OACK,
        options: [
          { name: 'blksize', key: 'blksize', value: '1468' },
          { name: 'tsize', key: 'tsize', value: '2000' },
        ],
        known: {},
      }),
    ),
    eth4('10.77.0.50', '10.77.0.1', 50000, 40000, encodeTftp({ opcode: Opcode.ACK, block: 0 })),
    eth4(
      '10.77.0.1',
      '10.77.0.50',
      40000,
      50000,
      encodeTftp({ opcode: Opcode.DATA, block: 1, payload: Buffer.alloc(1468, 0x23) }),
    ),
    eth4('10.77.0.50', '10.77.0.1', 50000, 40000, encodeTftp({ opcode: Opcode.ERROR, code: 0, message: 'cancelled' })),
    eth6('fd00::50', 'fd00::1', 50001, 69, encodeRequest(Opcode.WRQ, 'log.txt', 'netascii')),
    eth4('10.77.0.50', '10.77.0.1', 68, 67, Buffer.from('too short for BOOTP')),
  ];
  return pcapFile(
    { linktype: 1 },
    frames.map((data, i) => ({ sec: T0, frac: 123456 + i, data })),
  );
}

const exampleFile = path.join(dir, 'example.pcap');
writeFileSync(exampleFile, exampleCapture());

describe('bootwire decode --json', () => {
  it("prints the issue's shape, one message per line, in capture order", () => {
    const r = run('--json', exampleFile);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(8);
    expect(lines[0]).toBe(
      '{"frame":1,"time":1732161600.123456,"src":"10.77.0.50:68","dst":"255.255.255.255:67","proto":"dhcp",' +
        '"dhcp":{"op":1,"xid":"0x47581b1e","secs":0,"flags":0,"hops":0,"ciaddr":"0.0.0.0","yiaddr":"0.0.0.0",' +
        '"siaddr":"0.0.0.0","giaddr":"0.0.0.0","chaddr":"00:04:0d:aa:bb:01","sname":"","file":"",' +
        '"options":[{"code":53,"name":"dhcp-message-type","value":"DISCOVER","raw":"01"},' +
        '{"code":55,"name":"parameter-request-list","value":[1,3,6,66,242],"raw":"01030642f2"},' +
        '{"code":60,"name":"vendor-class-identifier","value":"ccp.avaya.com","raw":"6363702e61766179612e636f6d"}]}}',
    );
    expect(lines[1]).toBe(
      '{"frame":2,"time":1732161600.123457,"src":"10.77.0.50:50000","dst":"10.77.0.1:69","proto":"tftp",' +
        '"tftp":{"opcode":"RRQ","filename":"46xxupgrade.scr","mode":"octet",' +
        '"options":{"blksize":"1468","tsize":"0"}},"conversation":1}',
    );
    const rest = lines.slice(2).map(jsonLine);
    expect(rest.map((m) => [m.frame, m.src, m.dst, m.proto, m.tftp ?? m.error, m.conversation])).toEqual([
      [
        3,
        '10.77.0.1:40000',
        '10.77.0.50:50000',
        'tftp',
        { opcode: 'OACK', options: { blksize: '1468', tsize: '2000' } },
        1,
      ],
      [4, '10.77.0.50:50000', '10.77.0.1:40000', 'tftp', { opcode: 'ACK', block: 0 }, 1],
      [5, '10.77.0.1:40000', '10.77.0.50:50000', 'tftp', { opcode: 'DATA', block: 1, length: 1468 }, 1],
      [6, '10.77.0.50:50000', '10.77.0.1:40000', 'tftp', { opcode: 'ERROR', code: 0, message: 'cancelled' }, 1],
      [
        7,
        '[fd00::50]:50001',
        '[fd00::1]:69',
        'tftp',
        { opcode: 'WRQ', filename: 'log.txt', mode: 'netascii', options: {} },
        2,
      ],
      [
        8,
        '10.77.0.50:68',
        '10.77.0.1:67',
        'dhcp',
        'truncated: 19 bytes is shorter than the 236-byte BOOTP header',
        undefined,
      ],
    ]);
  });

  it('human output: one readable line per message', () => {
    const r = run(exampleFile);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(8);
    expect(lines[0]).toBe(
      '     1  2024-11-21T04:00:00.123456Z  10.77.0.50:68 → 255.255.255.255:67  DHCP DISCOVER ' +
        'xid=0x47581b1e chaddr=00:04:0d:aa:bb:01 options=53,55,60 vendor-class-identifier="ccp.avaya.com"',
    );
    expect(lines[1]).toBe(
      '     2  2024-11-21T04:00:00.123457Z  10.77.0.50:50000 → 10.77.0.1:69  TFTP RRQ ' +
        '"46xxupgrade.scr" octet blksize=1468 tsize=0 (#1)',
    );
    expect(lines[4]).toContain('TFTP DATA block=1 length=1468 (#1)');
    expect(lines[6]).toContain('[fd00::50]:50001 → [fd00::1]:69  TFTP WRQ "log.txt" netascii (#2)');
    expect(lines[7]).toContain('DHCP [malformed: truncated: 19 bytes is shorter than the 236-byte BOOTP header]');
  });

  it.skipIf(!existsSync(PUBLIC))('a public capture: TFTP on port 9000, human and JSON agree line for line', () => {
    const f = path.join(PUBLIC, 'songokas__tftp__receive_capture_no_encryption_stack.pcap');
    const [human, json] = [run(f), run('--json', f)];
    expect([human.status, json.status]).toEqual([0, 0]);
    const h = human.stdout.trimEnd().split('\n');
    const j = json.stdout.trimEnd().split('\n').map(jsonLine);
    expect(h).toHaveLength(924);
    expect(j).toHaveLength(924);
    expect(h[0]).toMatch(
      /^ {5}1 {2}\S+Z {2}127\.0\.0\.1:48452 → 127\.0\.0\.1:9000 {2}TFTP RRQ "server_file" octet windowsize=4 tsize=0 blksize=1425 \(#1\)$/,
    );
    expect(j.every((m) => m.proto === 'tftp' && m.conversation === 1)).toBe(true);
    expect(h.map((l) => Number(l.slice(0, 6)))).toEqual(j.map((m) => m.frame));
  });

  it('a truncated capture: every message before the damage, then the offset on stderr, exit 1', () => {
    const whole = exampleCapture();
    // Cut inside the 6th record: its header starts after the file header and five records.
    let at = 24;
    for (let i = 0; i < 5; i++) at += 16 + whole.readUInt32LE(at + 8);
    const cut = path.join(dir, 'cut.pcap');
    writeFileSync(cut, whole.subarray(0, at + 20));
    const r = run('--json', cut);
    expect(r.status).toBe(1);
    expect(
      r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => jsonLine(l).frame),
    ).toEqual([1, 2, 3, 4, 5]);
    expect(r.stderr).toMatch(
      new RegExp(
        `^bootwire: ${cut.replaceAll('.', '\\.')}: capture truncated at byte offset ${at}` +
          `: .*\\(5 records read before it\\)\\n$`,
      ),
    );
  });

  it('a missing file, a directory and a file that is no capture: one line, exit 1; no argument: exit 2', () => {
    const missing = run(path.join(dir, 'nope.pcap'));
    expect([missing.status, missing.stdout, missing.stderr]).toEqual([
      1,
      '',
      `bootwire: ${path.join(dir, 'nope.pcap')}: no such file\n`,
    ]);
    const isDir = run(dir);
    expect(isDir.status).toBe(1);
    expect(isDir.stderr).toMatch(/^bootwire: .*EISDIR.*\n$/);
    const text = path.join(dir, 'notes.txt');
    writeFileSync(text, 'hello, this is not a capture\n');
    const foreign = run(text);
    expect([foreign.status, foreign.stdout, foreign.stderr]).toEqual([
      1,
      '',
      `bootwire: ${text}: not a capture file (unknown magic number 68656c6c)\n`,
    ]);
    expect(run().status).toBe(2);
  });

  it('stops quietly when its reader goes away (| head -1)', async () => {
    // A long capture: many DATA packets, so that the output outlasts the reader.
    const frames = [eth4('10.0.0.2', '10.0.0.1', 3000, 69, encodeRequest(Opcode.RRQ, 'big', 'octet'))];
    for (let b = 1; b <= 20000; b++)
      frames.push(
        eth4(
          '10.0.0.1',
          '10.0.0.2',
          4000,
          3000,
          encodeTftp({ opcode: Opcode.DATA, block: b & 0xffff, payload: Buffer.alloc(512) }),
        ),
      );
    const big = path.join(dir, 'big.pcap');
    writeFileSync(
      big,
      pcapFile(
        { linktype: 1 },
        frames.map((data, i) => ({ sec: T0 + i, frac: 0, data })),
      ),
    );
    const r = await new Promise<{ code: number | null; stderr: string; out: string }>((resolve) => {
      // pipefail: the pipeline fails if bootwire does (an EPIPE crash would exit non-zero).
      const p = spawn(
        'bash',
        ['-c', 'set -o pipefail; "$0" "$1" decode --json "$2" | head -1', process.execPath, CLI, big],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let stderr = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.on('close', (code) => resolve({ code, stderr, out }));
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out.split('\n')[0]!)).toMatchObject({ frame: 1, tftp: { opcode: 'RRQ', filename: 'big' } });
  });
});
