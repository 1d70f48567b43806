#!/usr/bin/env node
/**
 * Regenerates test/expectations/ from tshark: for every capture in ../shared/captures/public/ and
 * captures/, the key fields of every DHCP and TFTP message as tshark decodes them, one JSON line per
 * message, in test/expectations/<capture file name>.jsonl. test/capture/tshark-agreement.test.ts checks
 * `bootwire decode --json` against these files without needing tshark.
 *
 *   node scripts/tshark-expectations.mjs [CAPTURE...]     (default: every capture in both directories)
 *
 * How tshark is run: `tshark -r FILE -Y "dhcp || tftp" -T pdml`, read as it streams. PDML keeps every
 * field in wire order with its bytes, which -T json loses (repeated keys) and -T fields misaligns (Pad
 * and End have no value). One exception, decided per capture and written into the file's header line:
 * when a TFTP request goes to a port other than 69, tshark 4.0's heuristic dissector recognises the
 * request and the server's packets, but not the client's packets to the server's port (e.g. the ACKs to
 * port 9000 in the songokas captures are plain UDP). For those captures the request's port is decoded as
 * TFTP (`-d udp.port==9000,tftp`), which is what tshark would need to follow the conversation.
 *
 * The first line says which capture (name and SHA-256: the test refuses an expectation made from another
 * version of the file), which tshark, and any decode-as used. Then the messages,
 * lines (keys kept short; absent means tshark showed no such field):
 *   {"f":frame,"p":"dhcp","op":1,"xid":"0x..","type":53's value,"ci":..,"yi":..,"si":..,"gi":..,
 *    "ch":"chaddr hex, no colons","o":[[code,"raw hex"(,"sname"|"file")],...]}
 *   options as tshark lists them: each instance, no Pad/End, an overloaded area's inside option 52
 *   {"f":frame,"p":"tftp","op":opcode,"file":..,"mode":..,"opts":[[name,value],...],"block":n,
 *    "code":n,"msg":..,"len":DATA length}
 * DHCP or TFTP quoted inside an ICMP error is not a message and is left out.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIRS = [path.resolve(REPO, '../shared/captures/public'), path.join(REPO, 'captures')];
const OUT = path.join(REPO, 'test/expectations');
const CAPTURE = /\.(pcap|pcapng|cap)(\.gz)?$/;
const TSHARK = process.env.TSHARK ?? 'tshark';

function captures() {
  const files = [];
  for (const d of DIRS) {
    if (!existsSync(d)) {
      process.stderr.write(`${d}: not found, skipped\n`);
      continue;
    }
    for (const f of readdirSync(d).sort()) if (CAPTURE.test(f)) files.push(path.join(d, f));
  }
  return files;
}

/** Ports other than 69 that tshark saw TFTP requests go to. */
function requestPorts(file) {
  const out = execFileSync(
    TSHARK,
    ['-r', file, '-Y', 'tftp.opcode == 1 || tftp.opcode == 2', '-T', 'fields', '-e', 'udp.dstport'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const ports = new Set();
  for (const l of out.split('\n')) {
    const p = Number(l.split(',').pop());
    if (l && p !== 69) ports.add(p);
  }
  return [...ports].sort((a, b) => a - b);
}

const ENTITIES = { quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" };
const unescape = (s) =>
  s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e) =>
    e[0] === '#'
      ? String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1)))
      : (ENTITIES[e] ?? m),
  );

function attrs(line) {
  const a = {};
  for (const m of line.matchAll(/ ([a-z_]+)="([^"]*)"/g)) a[m[1]] = unescape(m[2]);
  return a;
}

/** Runs tshark once and turns its PDML into expectation lines. */
function decode(file, decodeAs) {
  const args = [
    '-r',
    file,
    ...decodeAs.flatMap((p) => ['-d', `udp.port==${p},tftp`]),
    '-Y',
    'dhcp || tftp',
    '-T',
    'pdml',
  ];
  const p = spawn(TSHARK, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  const rl = readline.createInterface({ input: p.stdout, crlfDelay: Infinity });
  const lines = [];
  // Per packet: the frame number, the protocols seen so far, and the message being built.
  let frame = 0;
  let protos = [];
  let udpLength;
  let msg; // the dhcp or tftp message of the current proto, or undefined
  let stack = []; // the open <field> elements inside the current proto, outermost first
  const finish = () => {
    if (msg) lines.push(msg);
    msg = undefined;
  };
  rl.on('line', (raw) => {
    const line = raw.trim();
    if (line === '<packet>') {
      frame = 0;
      protos = [];
      udpLength = undefined;
      return;
    }
    if (line === '</packet>') return finish();
    if (line.startsWith('<proto ')) {
      const a = attrs(line);
      finish();
      protos.push(a.name);
      stack = [];
      const quoted = protos.includes('icmp') || protos.includes('icmpv6');
      if ((a.name === 'dhcp' || a.name === 'tftp') && !quoted) msg = { f: frame, p: a.name };
      if (line.endsWith('/>')) finish();
      return;
    }
    if (line === '</proto>') return finish();
    if (line === '</field>') {
      stack.pop();
      return;
    }
    if (!line.startsWith('<field ')) return;
    const a = attrs(line);
    const proto = protos[protos.length - 1];
    if (proto === 'geninfo' && a.name === 'num') frame = Number(a.show);
    if (proto === 'frame' && a.name === 'frame.number') frame = Number(a.show);
    if (proto === 'udp' && a.name === 'udp.length') udpLength = Number(a.show);
    if (msg?.p === 'dhcp') dhcpField(msg, a, stack);
    else if (msg?.p === 'tftp') tftpField(msg, a, udpLength);
    if (!line.endsWith('/>')) stack.push(a);
  });
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`tshark ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
      else resolve(lines);
    });
  });
}

const hex = (v) => (v ?? '').toLowerCase();

/**
 * One DHCP field. `stack` holds its ancestors inside the dhcp proto. Header fields count only at the top
 * (option 61 repeats dhcp.hw.mac_addr inside it). Options count at the top and inside option 52, where
 * tshark nests the options of an overloaded sname or file field; those get their area as a third element
 * ("sname"/"file"). An option tshark calls malformed (its length runs past the area) has null as its value.
 */
function dhcpField(m, a, stack) {
  const top = stack.length === 0;
  switch (a.name) {
    case 'dhcp.type':
      if (top) m.op = Number(a.show);
      return;
    case 'dhcp.id':
      if (top) m.xid = a.show;
      return;
    case 'dhcp.ip.client':
      if (top) m.ci = a.show;
      return;
    case 'dhcp.ip.your':
      if (top) m.yi = a.show;
      return;
    case 'dhcp.ip.server':
      if (top) m.si = a.show;
      return;
    case 'dhcp.ip.relay':
      if (top) m.gi = a.show;
      return;
    case 'dhcp.hw.mac_addr':
    case 'dhcp.hw.addr':
      if (top) m.ch = hex(a.value);
      return;
    case 'dhcp.option.dhcp':
      if (stack.length === 1) m.type = Number(a.show);
      return;
    case 'dhcp.option.type': {
      let area;
      if (!top) {
        // Inside option 52: <option 52> <"Server host name option overload"> <option>.
        const holder = stack[stack.length - 1];
        const inOverload =
          stack.length === 2 &&
          stack[0].name === 'dhcp.option.type' &&
          stack[0].value?.startsWith('34') &&
          /option overload$/.test(holder.show ?? '');
        if (!inOverload) return; // a sub-option that reuses the name
        area = holder.show.startsWith('Server') ? 'sname' : 'file';
      }
      const v = hex(a.value);
      const valid = /^([0-9a-f]{2})*$/.test(v);
      const code = valid ? parseInt(v.slice(0, 2), 16) : Number(a.show);
      if (code === 0 || code === 255 || Number.isNaN(code)) return;
      if (!valid && a.showname?.includes('(255) End')) return;
      const o = [code, valid ? v.slice(4) : null];
      if (area) o.push(area);
      (m.o ??= []).push(o);
      return;
    }
  }
}

function tftpField(m, a, udpLength) {
  switch (a.name) {
    case 'tftp.opcode':
      m.op = Number(a.show);
      if (m.op === 3 && udpLength !== undefined) m.len = udpLength - 12;
      return;
    case 'tftp.source_file':
    case 'tftp.destination_file':
      // On packets after the request tshark repeats the request's file name as a generated field.
      if (m.op === 1 || m.op === 2) m.file ??= a.show;
      return;
    case 'tftp.type':
      m.mode = a.show;
      return;
    case 'tftp.option.name':
      (m.opts ??= []).push([a.show]);
      return;
    case 'tftp.option.value':
      if (m.opts?.length && m.opts[m.opts.length - 1].length === 1) m.opts[m.opts.length - 1].push(a.show);
      return;
    case 'tftp.block':
      m.block = Number(a.show);
      return;
    case 'tftp.error.code':
      m.code = Number(a.show);
      return;
    case 'tftp.error.message':
      m.msg = a.show;
      return;
  }
}

async function main() {
  const only = process.argv.slice(2);
  const files = only.length ? only.map((f) => path.resolve(f)) : captures();
  const version = execFileSync(TSHARK, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(
    '\n',
  )[0];
  mkdirSync(OUT, { recursive: true });
  const seen = new Set();
  for (const file of files) {
    const name = path.basename(file);
    if (seen.has(name)) throw new Error(`two captures named ${name}: expectation files are named after the capture`);
    seen.add(name);
    const decodeAs = requestPorts(file);
    const lines = await decode(file, decodeAs);
    const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    const header = {
      capture: name,
      sha256,
      tshark: version,
      filter: 'dhcp || tftp',
      decodeAs: decodeAs.map((p) => `udp.port==${p},tftp`),
      messages: lines.length,
    };
    const text = [header, ...lines].map((l) => JSON.stringify(l)).join('\n') + '\n';
    const target = path.join(OUT, `${name}.jsonl`);
    writeFileSync(`${target}.tmp`, text);
    renameSync(`${target}.tmp`, target);
    process.stdout.write(
      `${name}: ${lines.length} messages${decodeAs.length ? ` (decode-as ${decodeAs.join(',')})` : ''}\n`,
    );
  }
}

await main();
