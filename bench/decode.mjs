#!/usr/bin/env node
// Capture decoding speed, messages per second: `bootwire decode` next to `tshark -r FILE -Y tftp`, on
// the same file, in one run.
//
// The capture is synthesized in a temporary directory with the project's own TFTP encoders: a boot
// storm of phones on one Ethernet segment, each fetching its upgrade script (RRQ with blksize 1468 and
// tsize, OACK, lock-step DATA/ACK), a settings file and a firmware image; --phones transfers overlap
// (round-robin, as a server interleaves them), each server reply from its own TID. Every packet is
// TFTP, so messages = packets for both tools (the run checks that both count the same number).
//
// Timed, each a separate process reading the file from the page cache, output into a pipe whose lines
// are counted (what a user piping the output pays):
//   bootwire decode --json FILE          one JSON object per message
//   bootwire decode FILE                 one human line per message
//   tshark -r FILE -Y tftp               tshark's one-line summaries
//   tshark -r FILE -Y tftp -T fields -e frame.number -e tftp.opcode -e tftp.block
// and each of them once more per round on a one-packet capture, to separate process start-up.
// plus, for reference, bootwire's library in this process (read + UDP + messages + JSON.stringify, no
// output). Rounds alternate the order; medians are reported. Writes bench/results/decode.md.
//
//   node bench/decode.mjs [--phones 50] [--rounds 3] [--out bench/results/decode.md]
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const CLI = path.join(REPO, 'packages/bootwire/dist/cli/main.js');
const argv = process.argv.slice(2);
const opt = (name, def) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : def);
const PHONES = Number(opt('--phones', 50));
const ROUNDS = Math.max(1, Number(opt('--rounds', 3)) || 3);
const OUT = path.resolve(opt('--out', path.join(HERE, 'results', 'decode.md')));

const { encodeRequest, encodeTftp, Opcode } = await import(path.join(REPO, 'packages/tftp/dist/index.js'));
const { readCapture, udpDatagrams } = await import(path.join(REPO, 'packages/capture/dist/index.js'));
const { captureMessages } = await import(path.join(REPO, 'packages/capture/dist/messages.js'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ------------------------------------------------------------------------------------ the capture

const BLKSIZE = 1468;
const FILES = [
  { name: '46xxupgrade.scr', size: 9_870 },
  { name: '46xxsettings.txt', size: 41_250 },
  { name: 'S96x1_SALBR6_6_4_01V4R.bin', size: 1_480_000 }, // about 1000 DATA blocks
];
const SERVER = [10, 77, 0, 1];
const MAC_SERVER = Buffer.from('00005e0053fe', 'hex');

function ipChecksum(h) {
  let s = 0;
  for (let i = 0; i < h.length; i += 2) s += (h[i] << 8) | h[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Ethernet + IPv4 + UDP around a payload (UDP checksum 0: not computed, as IPv4 allows). */
function frame(srcMac, dstMac, src, dst, sport, dport, payload) {
  const f = Buffer.alloc(14 + 20 + 8 + payload.length);
  dstMac.copy(f, 0);
  srcMac.copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  const ip = f.subarray(14, 34);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  Buffer.from(src).copy(ip, 12);
  Buffer.from(dst).copy(ip, 16);
  ip.writeUInt16BE(ipChecksum(ip), 10);
  f.writeUInt16BE(sport, 34);
  f.writeUInt16BE(dport, 36);
  f.writeUInt16BE(8 + payload.length, 38);
  payload.copy(f, 42);
  return f;
}

/** The packets of one phone's three transfers, lock-step, as generators so phones can interleave. */
function* phone(i) {
  const mac = Buffer.from([0x00, 0x04, 0x0d, 0xaa, i >> 8, i & 0xff]);
  const ip = [10, 77, 1 + (i >> 8), i & 0xff];
  const content = Buffer.alloc(BLKSIZE, 0x5a);
  for (const [n, file] of FILES.entries()) {
    const cport = 49152 + ((i * 7 + n) % 16000);
    const tid = 32768 + ((i * 3 + n * 5000) % 30000);
    const up = (p, dport = tid) => frame(mac, MAC_SERVER, ip, SERVER, cport, dport, p);
    const down = (p) => frame(MAC_SERVER, mac, SERVER, ip, tid, cport, p);
    yield up(
      encodeRequest(Opcode.RRQ, file.name, 'octet', [
        { name: 'blksize', value: String(BLKSIZE) },
        { name: 'tsize', value: '0' },
      ]),
      69,
    );
    yield down(
      encodeTftp({
        opcode: Opcode.OACK,
        options: [
          { name: 'blksize', key: 'blksize', value: String(BLKSIZE) },
          { name: 'tsize', key: 'tsize', value: String(file.size) },
        ],
        known: {},
      }),
    );
    yield up(encodeTftp({ opcode: Opcode.ACK, block: 0 }));
    const blocks = Math.floor(file.size / BLKSIZE) + 1;
    for (let b = 1; b <= blocks; b++) {
      const len = b < blocks ? BLKSIZE : file.size % BLKSIZE;
      yield down(encodeTftp({ opcode: Opcode.DATA, block: b & 0xffff, payload: content.subarray(0, len) }));
      yield up(encodeTftp({ opcode: Opcode.ACK, block: b & 0xffff }));
    }
  }
}

/** A pcap file (microseconds, little-endian) of every phone's packets, round-robin, 100 µs apart. */
function synthesize(phones, limit = Infinity) {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(1, 20);
  const parts = [header];
  const live = Array.from({ length: phones }, (_, i) => phone(i + 1));
  let t = 1_732_161_600_000_000; // µs
  let packets = 0;
  while (live.length && packets < limit) {
    for (let k = 0; k < live.length && packets < limit;) {
      const r = live[k].next();
      if (r.done) {
        live.splice(k, 1);
        continue;
      }
      const rec = Buffer.alloc(16);
      rec.writeUInt32LE(Math.floor(t / 1e6), 0);
      rec.writeUInt32LE(t % 1e6, 4);
      rec.writeUInt32LE(r.value.length, 8);
      rec.writeUInt32LE(r.value.length, 12);
      parts.push(rec, r.value);
      t += 100;
      packets++;
      k++;
    }
  }
  return { bytes: Buffer.concat(parts), packets };
}

// ------------------------------------------------------------------------------------ the runs

/** Runs a command, counting the newlines of its stdout; wall time in seconds. */
function timed(cmd, args) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0;
    let stderr = '';
    p.stdout.on('data', (d) => {
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
    });
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.slice(0, 500)}`));
      else resolve({ seconds, lines });
    });
  });
}

function inProcess(file) {
  const start = process.hrtime.bigint();
  const bytes = readFileSync(file);
  let lines = 0;
  let chars = 0;
  for (const m of captureMessages(udpDatagrams(readCapture(bytes).records).datagrams)) {
    chars += JSON.stringify(m).length;
    lines++;
  }
  if (chars === 0) throw new Error('no output');
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, lines };
}

const tsharkBin = spawnSync('sh', ['-c', 'command -v tshark'], { encoding: 'utf8' }).stdout.trim();

async function main() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-decode-bench-'));
  try {
    const file = path.join(dir, 'boot-storm-tftp.pcap');
    const { bytes, packets } = synthesize(PHONES);
    await fs.writeFile(file, bytes);
    if (packets < 100_000) throw new Error(`only ${packets} packets: raise --phones`);
    process.stderr.write(`${file}: ${packets} TFTP packets, ${(bytes.length / 2 ** 20).toFixed(1)} MiB\n`);

    // The same tools on a one-packet capture: what starting the process costs, apart from decoding.
    const tiny = path.join(dir, 'one-packet.pcap');
    await fs.writeFile(tiny, synthesize(1, 1).bytes);

    const fieldsArgs = ['-Y', 'tftp', '-T', 'fields', '-e', 'frame.number', '-e', 'tftp.opcode', '-e', 'tftp.block'];
    const runs = [
      { name: 'bootwire decode --json', run: (f) => timed(process.execPath, [CLI, 'decode', '--json', f]) },
      { name: 'bootwire decode (human)', run: (f) => timed(process.execPath, [CLI, 'decode', f]) },
      ...(tsharkBin
        ? [
            { name: 'tshark -Y tftp', run: (f) => timed(tsharkBin, ['-r', f, '-Y', 'tftp']) },
            { name: 'tshark -Y tftp -T fields', run: (f) => timed(tsharkBin, ['-r', f, ...fieldsArgs]) },
          ]
        : []),
      { name: 'bootwire library, in process (no output)', inProcess: true, run: async (f) => inProcess(f) },
    ];
    const results = Object.fromEntries(runs.map((r) => [r.name, []]));
    const startup = Object.fromEntries(runs.map((r) => [r.name, []]));
    // One untimed pass each: page cache, JIT of the in-process run.
    for (const r of runs) await r.run(file);
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? runs : [...runs].reverse();
      for (const r of order) {
        const res = await r.run(file);
        if (res.lines !== packets) throw new Error(`${r.name} printed ${res.lines} lines for ${packets} TFTP packets`);
        results[r.name].push(res.seconds);
        if (!r.inProcess) startup[r.name].push((await r.run(tiny)).seconds);
        process.stderr.write(`round ${round + 1}: ${r.name}: ${res.seconds.toFixed(2)} s\n`);
      }
    }
    const base = median(results['bootwire decode --json']);
    const tsharkBase = tsharkBin ? median(results['tshark -Y tftp']) : undefined;
    const rate = (n, s) => Math.round(n / s).toLocaleString('en-US');
    const rows = runs.map((r) => {
      const s = median(results[r.name]);
      const st = r.inProcess ? undefined : median(startup[r.name]);
      const net = st === undefined ? 'n/a' : rate(packets, s - st);
      return (
        `| ${r.name} | ${s.toFixed(2)} | ${rate(packets, s)} | ${(s / base).toFixed(2)} | ` +
        `${st === undefined ? 'n/a' : st.toFixed(2)} | ${net} | ` +
        `${results[r.name].map((x) => x.toFixed(2)).join(', ')} |`
      );
    });
    const tsharkVersion = tsharkBin
      ? spawnSync(tsharkBin, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].replace(/\.$/, '')
      : 'tshark not installed';
    const ratio = tsharkBase ? tsharkBase / base : undefined;
    const md = [
      '# Capture decoding: bootwire decode vs tshark',
      '',
      `${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (` +
        `${os.cpus()[0]?.model ?? 'unknown CPU'}), Linux ${os.release()}, Node ${process.version}; ` +
        `${tsharkVersion}. ` +
        `Shared, noisy machine: compare within this run only.`,
      '',
      `Capture: ${packets.toLocaleString('en-US')} TFTP packets (${(bytes.length / 2 ** 20).toFixed(1)}` +
        ` MiB pcap), synthesized by bench/decode.mjs with bootwire's encoders: ` +
        (`${PHONES} phones at once, each fetching ${FILES.map((f) => f.name).join(', ')} (blksize ` +
          `${BLKSIZE}, tsize, lock-step), transfers interleaved, each reply from its own TID. `) +
        (`Each tool is a separate process printing one line per message into a pipe (lines counted; both ` +
          `print ${packets.toLocaleString('en-US')}). Median of ${ROUNDS} rounds, order alternated, after ` +
          `one untimed pass. `) +
        (`"startup" is the same command on a one-packet capture (process start, module loading, dissector ` +
          `registration), measured each round.`),
      '',
      '| decoder | median s | messages/s | time vs bootwire --json | startup s | messages/s after ' +
        'startup | rounds (s) |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      ratio !== undefined
        ? `Ratio: bootwire decode --json decodes ${ratio.toFixed(2)}x as many messages per second as ` +
          `\`tshark -r FILE -Y tftp\` on this capture (${rate(packets, base)} vs ` +
          `${rate(packets, tsharkBase)} messages/s, process start included). ` +
          ('tshark dissects every layer and field (Ethernet, IP checksums, conversations, TFTP reassembly ' +
            'state); bootwire reads the whole file, finds UDP, follows the TFTP conversations and decodes ' +
            'only the DHCP/TFTP message. ') +
          ("bootwire loads only the decoder's modules (each subcommand loads its own when it runs), which " +
            'the startup column shows.')
        : 'tshark is not installed: no comparison.',
      '',
    ].join('\n');
    await fs.mkdir(path.dirname(OUT), { recursive: true });
    await fs.writeFile(OUT, md);
    process.stdout.write(md);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

await main();
