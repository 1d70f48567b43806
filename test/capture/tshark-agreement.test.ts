/**
 * `bootwire decode --json` agrees with tshark on every DHCP and TFTP message of every capture in
 * ../shared/captures/public/ and captures/. tshark is not needed: its decode is committed in
 * test/expectations/ (regenerate with `node scripts/tshark-expectations.mjs`, which says how tshark was
 * run). Reading, link layers and UDP framing are public.test.ts's subject; this file is about messages.
 *
 * Compared, message by message in capture order (frame and protocol must line up):
 * - DHCP: op, xid, message type (53), ciaddr, yiaddr, siaddr, giaddr, chaddr, and every option's code
 *   and raw value in order. tshark lists each instance of an option where it stands; bootwire gives one
 *   entry per code with the RFC 3396 concatenation (options field, then file, then sname). So tshark's
 *   instances are combined by that same rule before comparing, nothing else. An option tshark calls
 *   malformed (its length runs past the area) is not an option for bootwire: it must be reported as an
 *   'option-overrun' warning instead.
 * - TFTP: opcode, file name, mode, options (names and values in order), block, error code and message,
 *   DATA length.
 * Where the two legitimately differ, EXCEPTIONS names the capture, the frames, the fields and why; an
 * exception that no longer matches a difference fails the test, so the list stays true.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readCapture, udpDatagrams } from '../../packages/capture/src/index.js';
import { type CaptureMessage, captureMessages } from '../../packages/capture/src/messages.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXPECTATIONS = path.join(REPO, 'test/expectations');
const DIRS = [path.resolve(REPO, '../shared/captures/public'), path.join(REPO, 'captures')];
const CAPTURE = /\.(pcap|pcapng|cap)(\.gz)?$/;
const files = DIRS.filter(existsSync).flatMap((d) =>
  readdirSync(d)
    .filter((f) => CAPTURE.test(f))
    .sort()
    .map((f) => path.join(d, f)),
);

interface Exception {
  frames: number[];
  /** Fields not compared on these frames; our message must then carry an error matching `error`. */
  fields?: string[];
  error?: RegExp;
  /** The frames are TFTP/DHCP messages for tshark only. */
  tsharkOnly?: true;
  reason: string;
}

const EXCEPTIONS: Record<string, Exception[]> = {
  'the-tcpdump-group__tcpdump__tftp-heapoverflow.pcap': [
    {
      frames: [1],
      tsharkOnly: true,
      reason:
        'a fuzzed UDP length (12336 in a 12316-byte IP payload): bootwire skips the datagram with a ' +
        'warning (public.test.ts), tshark shows a malformed TFTP packet',
    },
  ],
  'iagox86__dissector__tftp.pcap': [
    {
      frames: [9],
      fields: ['op'],
      error: /^unknown-opcode: unknown opcode 48879$/,
      reason:
        'opcode 48879 is no TFTP opcode: tshark shows the number, bootwire reports the packet malformed ' +
        'and names no opcode',
    },
  ],
  'ntop__nDPI__tftp.pcap': [
    {
      frames: [1, 2],
      fields: ['file', 'mode', 'opts'],
      error: /^empty-filename/,
      reason:
        'requests with an empty file name: tshark shows empty strings as file, mode and options, ' +
        'bootwire reports the request malformed and opens no conversation',
    },
  ],
  'realjimmy__sample-captures__uaudp_ipv6.pcap': [
    {
      frames: [358, 1318, 2445],
      fields: ['opts'],
      error: /^empty-option-name/,
      reason:
        'Alcatel phones send six empty option names after "ethernetaddress"; `options` is an object ' +
        'keyed by name, so they collapse into one "" entry (the conversation is followed all the same)',
    },
  ],
};

type Key = Record<string, unknown> & { f: number; p: string };

const OPCODES: Record<string, number> = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 };

/** Our message reduced to the expectation's keys. */
function ours(m: CaptureMessage): Key {
  if (m.proto === 'dhcp') {
    const d = m.dhcp;
    if (!d) return { f: m.frame, p: 'dhcp' };
    const t = d.options.find((o) => o.code === 53);
    const k: Key = {
      f: m.frame,
      p: 'dhcp',
      op: d.op,
      xid: d.xid,
      ci: d.ciaddr,
      yi: d.yiaddr,
      si: d.siaddr,
      gi: d.giaddr,
      ch: d.chaddr.replaceAll(':', '').toLowerCase(),
    };
    if (t && t.raw.length >= 2) k.type = parseInt(t.raw.slice(0, 2), 16);
    if (d.options.length) k.o = d.options.map((o) => [o.code, o.raw]);
    return k;
  }
  const t = m.tftp;
  const k: Key = { f: m.frame, p: 'tftp' };
  if (t.opcode) k.op = OPCODES[t.opcode];
  if (t.filename !== undefined) k.file = t.filename;
  if (t.mode !== undefined) k.mode = t.mode;
  if (t.options && Object.keys(t.options).length) k.opts = Object.entries(t.options);
  for (const [from, to] of [
    ['block', 'block'],
    ['code', 'code'],
    ['message', 'msg'],
    ['length', 'len'],
  ] as const)
    if (t[from] !== undefined) k[to] = t[from];
  return k;
}

/**
 * tshark's option instances as RFC 3396 reads them: options field, then file, then sname; instances of
 * one code concatenated, codes in order of first appearance. Malformed instances (null) are taken out
 * and returned apart.
 */
function rfc3396(instances: [number, string | null, string?][]): { options: [number, string][]; malformed: number[] } {
  const malformed = instances.filter((i) => i[1] === null).map((i) => i[0]);
  const ordered = ['options', 'file', 'sname'].flatMap((area) =>
    instances.filter((i) => i[1] !== null && (i[2] ?? 'options') === area),
  );
  const joined = new Map<number, string>();
  for (const [code, raw] of ordered) joined.set(code, (joined.get(code) ?? '') + raw);
  return { options: [...joined], malformed };
}

function compare(name: string, mine: CaptureMessage[], theirs: Key[]): string[] {
  const problems: string[] = [];
  const exceptions = EXCEPTIONS[name] ?? [];
  const used = new Set<Exception>();
  const exceptionFor = (frame: number) => exceptions.find((e) => e.frames.includes(frame));
  const tsharkOnly = new Set(exceptions.filter((e) => e.tsharkOnly).flatMap((e) => e.frames));
  const theirsKept = theirs.filter((t) => {
    if (!tsharkOnly.has(t.f)) return true;
    used.add(exceptionFor(t.f)!);
    return false;
  });
  const seq = (xs: { f: number; p: string }[]) => xs.map((x) => `${x.f}/${x.p}`);
  const a = seq(mine.map((m) => ({ f: m.frame, p: m.proto })));
  const b = seq(theirsKept);
  if (a.join() !== b.join()) {
    const i = a.findIndex((x, j) => x !== b[j]);
    const at = i < 0 ? Math.min(a.length, b.length) : i;
    return [
      `${name}: messages differ at index ${at}: bootwire ${a[at] ?? '(end)'} (${a.length} messages), ` +
        `tshark ${b[at] ?? '(end)'} (${b.length})`,
    ];
  }
  mine.forEach((m, i) => {
    const t = { ...theirsKept[i]! };
    const k = ours(m);
    if (t.p === 'dhcp' && Array.isArray(t.o)) {
      const { options, malformed } = rfc3396(t.o as [number, string | null, string?][]);
      if (options.length) t.o = options;
      else delete t.o;
      for (const code of malformed) {
        const warned = m.proto === 'dhcp' && m.dhcp?.warnings?.some((w) => w.startsWith(`option ${code} at `));
        if (!warned)
          problems.push(
            `${name} frame ${m.frame}: tshark shows option ${code} malformed, bootwire gives no overrun warning for it`,
          );
      }
    }
    const ex = exceptionFor(m.frame);
    const skip = new Set(ex?.fields ?? []);
    if (ex?.fields) {
      if (!ex.error?.test(m.error ?? ''))
        problems.push(
          `${name} frame ${m.frame}: expected an error matching ${String(ex.error)}, got ${m.error ?? 'none'}`,
        );
    }
    for (const field of new Set([...Object.keys(t), ...Object.keys(k)])) {
      const [x, y] = [JSON.stringify(t[field]), JSON.stringify(k[field])];
      if (x === y) continue;
      if (skip.has(field)) {
        used.add(ex!);
        continue;
      }
      problems.push(
        `${name} frame ${m.frame} ${field}: tshark ${x?.slice(0, 160)}, bootwire ${y?.slice(0, 160)}` +
          `${m.error ? ` (error: ${m.error})` : ''}`,
      );
    }
  });
  for (const e of exceptions)
    if (!used.has(e))
      problems.push(`${name}: exception for frames ${e.frames.join(',')} no longer needed (${e.reason})`);
  return problems;
}

function expectation(file: string): { header: Record<string, unknown>; messages: Key[] } | undefined {
  const p = path.join(EXPECTATIONS, `${path.basename(file)}.jsonl`);
  if (!existsSync(p)) return undefined;
  const [header, ...messages] = readFileSync(p, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Key);
  return { header: header!, messages };
}

function decodeFile(file: string): { bytes: Buffer; messages: CaptureMessage[] } {
  const bytes = readFileSync(file);
  return { bytes, messages: [...captureMessages(udpDatagrams(readCapture(bytes).records).datagrams)] };
}

describe('decode agrees with tshark', () => {
  if (files.length === 0) it('captures are present', (ctx) => ctx.skip(`no captures in ${DIRS.join(' or ')}: skipped`));

  let total = 0;
  for (const file of files) {
    const name = path.basename(file);
    it(name, () => {
      const exp = expectation(file);
      expect(exp, `no test/expectations/${name}.jsonl: run node scripts/tshark-expectations.mjs`).toBeDefined();
      const { bytes, messages } = decodeFile(file);
      const sha = createHash('sha256').update(bytes).digest('hex');
      expect(
        exp!.header.sha256,
        `${name} changed since its expectation was made: run node scripts/tshark-expectations.mjs ${file}`,
      ).toBe(sha);
      expect(compare(name, messages, exp!.messages)).toEqual([]);
      total += messages.length;
    });
  }

  // These totals are the public captures' (beside the repository when present); captures/ alone holds fewer.
  it.skipIf(!existsSync(DIRS[0]!))('compared thousands of messages', () => {
    expect(total).toBeGreaterThan(10_000);
  });

  const cliFile = files.find((f) => path.basename(f) === 'realjimmy__sample-captures__uaudp_ipv6.pcap');
  it.skipIf(!cliFile)('the CLI prints the same messages (one spawn of bootwire decode --json)', () => {
    const cli = path.join(REPO, 'packages/bootwire/dist/cli/main.js');
    const r = spawnSync(process.execPath, [cli, 'decode', '--json', cliFile!], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const printed = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as CaptureMessage);
    expect(printed).toEqual(decodeFile(cliFile!).messages);
    expect(compare(path.basename(cliFile!), printed, expectation(cliFile!)!.messages)).toEqual([]);
  });
});
