#!/usr/bin/env node
// Issue 14's benchmark: a storm's wall time with each kind of hostile traffic running beside it, against
// the same storm alone (target: at most 1.5x). Root. For every run a site is built anew
// (src/storm/site.ts): bootwire serving DHCP, TFTP and HTTP in the server's namespace, the default fleet
// in two voice subnets with its leases through ISC dhcrelay, and the flood (bench/flood-client.mjs) from
// the router's namespace, an address no phone has. The flood starts 3 s before the phones and runs
// until the last one is done. Writes bench/results/floods.md.
//
//   sudo node bench/floods.mjs [--phones 200] [--image-size 1M] [--rounds 3] [--only dhcp-regex,...]
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const dist = (m) => import(path.resolve(HERE, '../dist', m));
const { Site, SERVER_ADDRESS } = await dist('storm/site.js');
const { bootSitePhones } = await dist('storm/site-storm.js');
const { startBootwire } = await dist('storm/servers.js');
const { bootwireDhcpConfig, siteDhcp } = await dist('storm/site-dhcp.js');
const { buildFleet, DEFAULT_MIX, parseMix } = await dist('storm/fleet.js');
const { summarize } = await dist('storm/result.js');
const { writeExampleRoot } = await dist('phones/init-root.js');
const { findModel } = await dist('phones/models.js');

const argv = process.argv.slice(2);
const opt = (name, def) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : def);
const PHONES = Number(opt('--phones', '200'));
const IMAGE = opt('--image-size', '1M');
const ROUNDS = Number(opt('--rounds', '3'));
const KINDS = opt(
  '--only',
  [
    'dhcp-regex',
    'dhcp-pool',
    'tftp-timeout',
    'tftp-ports',
    'tftp-amplify',
    'tftp-spoof',
    'tftp-netascii',
    'tftp-longname',
    'http-idle',
    'http-junk',
  ].join(','),
).split(',');
const WARMUP_MS = 3000;
const CLIENT = path.join(HERE, 'flood-client.mjs');

const what = {
  'dhcp-regex': 'DISCOVERs whose option 60 is `"a"*254+"!"` against a class `{ "regex": "(a+)+$" }`, 1,000/s',
  'dhcp-pool': 'DISCOVERs from new MACs, 5,000/s, until a /18 pool is all offered, and on',
  'tftp-timeout': 'RRQs asking `timeout=255` from new ports, never acknowledged, 1,000/s',
  'tftp-ports': 'RRQs for a 40 MB image from new ports, never acknowledged, 1,000/s',
  'tftp-amplify': 'RRQs asking blksize 65464 and windowsize 64, ACK 0, then silence, 20/s',
  'tftp-spoof': 'plain 16-byte RRQs (forgeable), never answered, 1,000/s',
  'tftp-netascii': 'netascii RRQs with tsize for a 10 MB text file, 300/s',
  'tftp-longname': 'RRQs with a 65,000-character file name, 500/s',
  'http-idle': '4,500 connections that never send a request, each reopened 1 s after the server closes it',
  'http-junk': 'HTTP/0.9 request lines and files named as directories, 500 connections/s',
};

const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-floods-'));
await writeExampleRoot(path.join(root, 'root'), { imageSize: parseSize(IMAGE) });
// A 10 MB text file with LF line ends: its netascii form is longer, so tsize needs a scan.
await fs.writeFile(path.join(root, 'root', 'big.txt'), 'bootwire netascii line\n'.repeat(Math.ceil(10e6 / 23)));
const classes = JSON.parse(await fs.readFile(path.join(root, 'root', 'bootwire.json'), 'utf8')).dhcp.classes;
const fleet = buildFleet(PHONES, parseMix(DEFAULT_MIX), 1);
const models = [...new Set(fleet.map((p) => p.model))].map(findModel);

function parseSize(s) {
  const m = /^([0-9]+)([kKmM]?)$/.exec(s);
  return Number(m[1]) * (m[2].toLowerCase() === 'm' ? 1 << 20 : m[2].toLowerCase() === 'k' ? 1024 : 1);
}

async function run(kind) {
  const site = Site.create({ voiceSubnets: 2, phonesPerSubnet: Math.ceil(PHONES / 2) });
  const dir = await fs.mkdtemp(path.join(root, `${kind ?? 'alone'}-`));
  let server;
  let relay;
  let flood;
  try {
    const d = siteDhcp(site, SERVER_ADDRESS, classes, models);
    const dhcp = bootwireDhcpConfig(d, path.join(dir, 'leases.db'));
    // The hostile class is first: every phone's DISCOVER is matched against it too.
    dhcp.classes = [
      { name: 'hostile', match: { vendorClass: { regex: '(a+)+$' } }, options: { 66: SERVER_ADDRESS } },
      ...dhcp.classes,
    ];
    // The flood's own relayed subnet, so that filling its pool leaves the phones' pools alone.
    dhcp.subnets.push({
      subnet: '10.90.0.0/16',
      pool: '10.90.0.10-10.90.63.250',
      leaseSeconds: 3600,
      options: { router: '10.90.0.1' },
    });
    const config = {
      root: path.join(root, 'root'),
      tftp: { listen: `${SERVER_ADDRESS}:69` },
      http: { listen: `${SERVER_ADDRESS}:80` },
      dhcp,
    };
    server = await startBootwire({ config, dir, prefix: site.server.prefix });
    relay = await site.startRelay();
    let floodOut = '';
    if (kind) {
      flood = site.spawnIn(site.router, 'prlimit', [
        '--nofile=20000:20000',
        process.execPath,
        CLIENT,
        kind,
        SERVER_ADDRESS,
      ]);
      flood.stdout.on('data', (c) => (floodOut += c));
      flood.stderr.on('data', (c) => process.stderr.write(c));
      await new Promise((r) => setTimeout(r, WARMUP_MS));
    }
    const o = {
      phones: PHONES,
      mix: parseMix(DEFAULT_MIX),
      loss: 0,
      duplicate: 0,
      reorder: 0,
      staggerMs: 0,
      workers: 2,
      seed: 1,
    };
    const results = await bootSitePhones(site, o, fleet, dir, true);
    const outcomes = results.flatMap((r) => r.outcomes);
    const usage = server.usage();
    if (flood) {
      await new Promise((r) => {
        flood.once('exit', r);
        flood.kill('SIGTERM');
      });
    }
    const stormRun = summarize(kind ?? 'alone', outcomes, Math.max(...outcomes.map((x) => x.endSeconds)), {
      simulatorCpuSeconds: results.reduce((t, r) => t + r.cpuSeconds, 0),
      simulatorPeakRssBytes: 0,
      ...(usage ? { serverPeakRssBytes: usage.peakRssBytes } : {}),
    });
    return { run: stormRun, flood: floodOut ? JSON.parse(floodOut.trim().split('\n').pop()) : undefined };
  } finally {
    await relay?.stop();
    await server?.stop();
    site.destroy();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const alone = [];
for (let i = 0; i < ROUNDS; i++) {
  process.stderr.write(`floods: the storm alone, round ${i + 1}/${ROUNDS}\n`);
  alone.push((await run(undefined)).run);
}
const base = median(alone.map((r) => r.wallSeconds));
const rows = [];
for (const kind of KINDS) {
  process.stderr.write(`floods: ${kind}\n`);
  const { run: r, flood } = await run(kind);
  const amp = flood && flood.sentBytes > 0 ? (flood.receivedBytes / flood.sentBytes).toFixed(2) : '–';
  rows.push(
    `| ${kind} | ${what[kind]} | ${r.booted}/${r.phones} | ${r.wallSeconds.toFixed(2)} | **` +
      `${(r.wallSeconds / base).toFixed(2)}** | ${r.retransmits} | ` +
      `${r.serverPeakRssBytes ? (r.serverPeakRssBytes / 2 ** 20).toFixed(0) : '–'} | ` +
      `${flood?.sent ?? '–'} | ${amp} | ${flood ? flood.cpuSeconds.toFixed(1) : '–'} |`,
  );
}
const md = [
  '# A storm beside hostile traffic',
  '',
  `${new Date().toISOString().slice(0, 10)} on ${os.availableParallelism()} cores (` +
    `${os.cpus()[0]?.model.trim()}), Linux ${os.release()}, Node ${process.version}.`,
  '',
  `Reproduce: \`sudo node bench/floods.mjs --phones ${PHONES} --image-size ${IMAGE} --rounds ` +
    `${ROUNDS}\`. ${PHONES} phones of the default fleet (every image ${IMAGE}) boot in a site with ` +
    `their leases through ISC dhcrelay, from bootwire serving DHCP, TFTP and HTTP with its default ` +
    `limits; the flood runs from the router's namespace, started ${WARMUP_MS / 1000} s before the ` +
    `phones. The storm alone: ` +
    `${alone.map((r) => `${r.wallSeconds.toFixed(2)} s (${r.retransmits} retransmissions)`).join(', ')}` +
    `; median ${base.toFixed(2)} s. The flooder shares the machine's 2 cores with the server and the ` +
    `phones: its own CPU is in the last column. Target: at most 1.5x with any flood. "Bytes back per ` +
    `byte sent" is what the server answered the flood with, per byte of it.`,
  '',
  '| flood | what | booted | wall s | ÷ alone | retransmits | server peak RSS MiB | flood packets ' +
    'or connections | bytes back per byte sent | flood CPU s |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
  '',
].join('\n');
await fs.mkdir(path.join(HERE, 'results'), { recursive: true });
await fs.writeFile(path.join(HERE, 'results', 'floods.md'), md);
await fs.rm(root, { recursive: true, force: true });
console.log(md);
