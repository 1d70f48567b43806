#!/usr/bin/env node
// The boot-storm comparison behind the README's tables: `bootwire storm --compare` on the default fleet
// (TFTP only, so that peers serving only TFTP do the same work), with RFC 7440 windows, and the growth
// from 100 to 1,000 phones. Every server runs alone in a network namespace; the fleet is the same.
// Needs root and the peers .ci/run installs, and `npm run build`. Writes bench/results/storm.md.
//
//   node bench/storm.mjs [--rounds 3] [--only default,window,window-blksize,growth] [--growth-image-size 1M]
// The growth table runs one round per size.
//
// The same over a site (`storm --site`: voice subnets behind ISC dhcrelay, the server behind an uplink
// shaped with tbf, 1 Gbit/s and a 5 ms queue), written to bench/results/site.md:
//   node bench/storm.mjs --only site-window,site-lockstep,site-dhcp [--rounds 3]
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(HERE, '../packages/bootwire/dist/cli/main.js');
const argv = process.argv.slice(2);
const opt = (name, def) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : def);
const ROUNDS = opt('--rounds', '3');
const ONLY = opt('--only', 'default,window,window-blksize,growth').split(',');
const SITE = ONLY.every((s) => s.startsWith('site-'));
const GROWTH_IMAGE = opt('--growth-image-size', '1M');
const PEERS = 'tftpd-hpa,atftpd,dnsmasq';

function storm(args, rounds = ROUNDS, peers = PEERS) {
  const full = ['storm', ...args, '--compare', peers, '--rounds', rounds, '--json', '--no-progress'];
  console.error(`bootwire ${full.join(' ')}`);
  const r = spawnSync(process.execPath, [CLI, ...full], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout.trim().split('\n').pop();
  try {
    return JSON.parse(line).runs;
  } catch {
    throw new Error(`storm failed (${r.status}): ${r.stderr}`);
  }
}

const mib = (b) => (b / 1024 ** 2).toFixed(0);
function table(title, runs, note) {
  const fastestPeer = Math.min(...runs.filter((r) => r.server !== 'bootwire').map((r) => r.wallSeconds));
  const rows = runs.map(
    (r) =>
      `| ${r.server} | ${r.booted}/${r.phones} | ${r.wallSeconds.toFixed(2)} | ` +
      `${(r.wallSeconds / fastestPeer).toFixed(2)} | ${r.bootSeconds.p50.toFixed(2)} | ` +
      `${r.bootSeconds.p95.toFixed(2)} | ${r.bootSeconds.max.toFixed(2)} | ${r.retransmits} | ` +
      `${r.serverCpuSeconds?.toFixed(2) ?? '–'} | ${r.simulatorCpuSeconds.toFixed(2)} | ` +
      `${r.serverPeakRssBytes ? mib(r.serverPeakRssBytes) : '–'} |`,
  );
  const bw = runs.find((r) => r.server === 'bootwire');
  return [
    `### ${title}`,
    '',
    '| server | booted | wall s | ÷ fastest peer | boot p50 s | p95 s | max s | retransmits | server ' +
      'CPU s | simulator CPU s | server peak RSS MiB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `bootwire ${bw.wallSeconds.toFixed(2)} s, fastest peer ${fastestPeer.toFixed(2)} s: ` +
      `${(bw.wallSeconds / fastestPeer).toFixed(2)}x. ${note}`,
    '',
  ].join('\n');
}

const sections = [];
const machine =
  `${new Date().toISOString().slice(0, 10)} on ${os.availableParallelism()} cores (` +
  `${os.cpus()[0]?.model.trim()}), ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, Linux ` +
  `${os.release()}, Node ${process.version}.`;
if (ONLY.includes('default')) {
  sections.push(
    table(
      'Default fleet, 200 phones, TFTP as the phones ask (lock-step, 512-byte blocks)',
      storm(['--protocols', 'tftp']),
      "Target: at most the fastest peer's wall time.",
    ),
  );
}
if (ONLY.includes('window')) {
  sections.push(
    table(
      'Default fleet, 200 phones, every phone asking windowsize 16',
      storm(['--protocols', 'tftp', '--client-windowsize', '16']),
      "Target: at most half the fastest peer's wall time (tftpd-hpa and dnsmasq do not implement RFC " +
        '7440 and answer lock-step).',
    ),
  );
}
if (ONLY.includes('window-blksize')) {
  sections.push(
    table(
      'Default fleet, 200 phones, every phone asking windowsize 16 and blksize 1428',
      storm(['--protocols', 'tftp', '--client-windowsize', '16', '--client-blksize', '1428']),
      'No target: RFC 2348 blocks three times larger leave less per-datagram work to save.',
    ),
  );
}
if (ONLY.includes('growth')) {
  const lines = [
    '### Growth: 100 to 1,000 phones (default mix, TFTP lock-step, every image ' + GROWTH_IMAGE + ')',
    '',
    '| phones | ' + ['bootwire', ...PEERS.split(',')].map((s) => `${s} wall s | ${s} RSS MiB`).join(' | ') + ' |',
    '| --- |' + ' --- | --- |'.repeat(4),
  ];
  const chart = {};
  for (const n of [100, 200, 500, 1000]) {
    const runs = storm(['--phones', String(n), '--protocols', 'tftp', '--image-size', GROWTH_IMAGE], '1');
    lines.push(
      `| ${n} | ` +
        runs
          .map(
            (r) =>
              `${r.wallSeconds.toFixed(2)}${r.failed ? ` (${r.failed} failed)` : ''} | ` +
              `${r.serverPeakRssBytes ? mib(r.serverPeakRssBytes) : '–'}`,
          )
          .join(' | ') +
        ' |',
    );
    for (const r of runs) (chart[r.server] ??= []).push(r.wallSeconds);
  }
  lines.push(
    '',
    '```mermaid',
    'xychart-beta',
    `  title "Wall time of a storm (s)"`,
    '  x-axis "phones" [100, 200, 500, 1000]',
    `  y-axis "seconds"`,
  );
  for (const [name, v] of Object.entries(chart))
    lines.push(`  line "${name}" [${v.map((x) => x.toFixed(2)).join(', ')}]`);
  lines.push('```', '', `Lines in order: ${Object.keys(chart).join(', ')}.`, '');
  sections.push(lines.join('\n'));
}
/** A site's table: the wall time against a named peer's, retransmissions, and what the uplink queue refused. */
function siteTable(title, runs, against, note) {
  const ref = runs.find((r) => r.server.startsWith(against));
  const rows = runs.map(
    (r) =>
      `| ${r.server} | ${r.booted}/${r.phones} | ${r.wallSeconds.toFixed(2)} | ` +
      `${(r.wallSeconds / ref.wallSeconds).toFixed(2)} | ${r.bootSeconds.p50.toFixed(2)} | ` +
      `${r.bootSeconds.max.toFixed(2)} | ${r.retransmits} | ${r.uplink ? r.uplink.dropped : '–'} | ` +
      `${r.serverCpuSeconds?.toFixed(2) ?? '–'} | ${r.simulatorCpuSeconds.toFixed(2)} |`,
  );
  return [
    `### ${title}`,
    '',
    `| server | booted | wall s | ÷ ${against} | boot p50 s | max s | retransmits | uplink queue ` +
      `refusals | server CPU s | simulator CPU s |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    note,
    '',
  ].join('\n');
}
const SITE_TFTP = ['--site', '--dhcp', 'none', '--protocols', 'tftp', '--phones', '200', '--image-size', '1M'];
if (ONLY.includes('site-window')) {
  const runs = storm(
    [...SITE_TFTP, '--client-windowsize', '16', '--client-blksize', '1428'],
    ROUNDS,
    'atftpd,tftpd-hpa',
  );
  sections.push(
    siteTable(
      'Site, 1 Gbit/s uplink with a 5 ms queue: 200 phones, 1 MiB images, windowsize 16 and blksize 1428',
      runs,
      'atftpd',
      "Target: at most atftpd's wall time, with at most twice its retransmissions (10 allowed). " +
        'tftpd-hpa ignores windowsize (lock-step).',
    ),
  );
}
if (ONLY.includes('site-lockstep')) {
  const runs = storm(SITE_TFTP, ROUNDS, 'atftpd,tftpd-hpa');
  const fastest = runs.filter((r) => r.server !== 'bootwire').sort((a, b) => a.wallSeconds - b.wallSeconds)[0].server;
  sections.push(
    siteTable(
      'Site, 1 Gbit/s uplink with a 5 ms queue: 200 phones, 1 MiB images, lock-step',
      runs,
      fastest,
      'Target: at most 0.8x the faster of atftpd and tftpd-hpa.',
    ),
  );
}
if (ONLY.includes('site-dhcp')) {
  const runs = storm(['--site', '--protocols', 'tftp'], ROUNDS, 'tftpd-hpa,atftpd,dnsmasq');
  sections.push(
    siteTable(
      'Site, default fleet of 200 phones (typical image sizes), real DHCP through dhcrelay from two ' +
        'voice subnets, TFTP as the phones ask',
      runs,
      'atftpd',
      'bootwire serves DHCP and TFTP; tftpd-hpa and atftpd get their leases from ISC Kea (memfile), ' +
        'dnsmasq serves both.',
    ),
  );
}
const md = SITE
  ? [
      '# Boot storms over a site',
      '',
      machine,
      '',
      `Reproduce: \`sudo node bench/storm.mjs --only ${ONLY.join(',')} --rounds ${ROUNDS}` +
        `\` (each table is \`bootwire storm --site … --compare … --rounds ${ROUNDS}\`, the median ` +
        `round). A site is built anew for every run: the server alone in its namespace behind a veth ` +
        `shaped with \`tbf rate 1gbit burst 64kb latency 5ms\`, a router namespace running ISC dhcrelay, ` +
        `and the phones in two voice subnets, one process per subnet, all on the same 2 cores.`,
      '',
      ...sections,
    ].join('\n')
  : [
      '# Boot-storm comparison',
      '',
      machine,
      '',
      `Reproduce: \`sudo node bench/storm.mjs\` (each table is \`bootwire storm --compare ${PEERS}` +
        ` --rounds ${ROUNDS} …\`, the median round; growth: one round). Each server alone in a network ` +
        `namespace on 127.0.0.1:69; the simulator runs in the same namespace on the same 2 cores, so its ` +
        `CPU is shown next to the server's. tftpd-hpa forks a process per transfer: its CPU counts only ` +
        `children it has reaped.`,
      '',
      ...sections,
    ].join('\n');
await fs.mkdir(path.join(HERE, 'results'), { recursive: true });
await fs.writeFile(path.join(HERE, 'results', SITE ? 'site.md' : 'storm.md'), md);
console.log(md);
