#!/usr/bin/env node
// The cost of metrics (issue 17): the same storm against `bootwire serve` with `--metrics` and without,
// rounds alternating, /metrics scraped every `--scrape-ms` (default 1000, five times Prometheus's usual
// rate) while metrics are on. The fleet is `bootwire storm` against the running server: DHCP relay-style
// and TFTP on 127.0.0.1:69 (root; the DHCP answers name that address), else TFTP alone. Reports the median wall time
// and server CPU of each, and their ratios.
// Needs `npm run build`. Writes bench/results/metrics.md.
//
//   node bench/metrics.mjs [--phones 200] [--rounds 3] [--scrape-ms 1000] [--client-windowsize 16]
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { promises as fs, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bindUdp, listenTcp } from '../packages/core/dist/index.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(HERE, '../packages/bootwire/dist/cli/main.js');
const argv = process.argv.slice(2);
const opt = (name, def) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : def);
const PHONES = opt('--phones', '200');
const ROUNDS = Number(opt('--rounds', '3'));
const SCRAPE_MS = Number(opt('--scrape-ms', '1000'));
const WINDOW = opt('--client-windowsize', undefined);
const TICK = 100; // USER_HZ: the unit of utime and stime in /proc/PID/stat

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-bench-metrics-'));
const root = path.join(dir, 'root');
const init = spawnSync(process.execPath, [CLI, 'init', root], { encoding: 'utf8' });
if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
const base = JSON.parse(readFileSync(path.join(root, 'bootwire.json'), 'utf8'));

/** utime+stime of a process, in seconds (/proc/PID/stat). */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

async function freePort() {
  const s = http.createServer();
  await listenTcp(s, { port: 0, host: '127.0.0.1' });
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Port 69 on loopback, free and ours to bind (root): the phones' DHCP answers can then name 127.0.0.1. */
async function port69() {
  const s = dgram.createSocket('udp4');
  const bound = await bindUdp(s, 69, '127.0.0.1').then(
    () => true,
    () => false,
  );
  if (bound) await new Promise((resolve) => s.close(resolve));
  return bound;
}
const WITH_DHCP = await port69();

async function startServer(metrics, round) {
  const relayPort = 20000 + Math.floor(Math.random() * 20000);
  // The classes name the file server 10.77.0.1 (port 69): here it is bootwire on 127.0.0.1:69.
  const classes = JSON.parse(JSON.stringify(base.dhcp.classes).replaceAll('10.77.0.1', '127.0.0.1'));
  const subnets = base.dhcp.subnets.map((s, i) =>
    i === 0 ? { ...s, subnet: '10.77.0.0/16', pool: '10.77.1.0-10.77.255.254', reservations: undefined } : s,
  );
  const config = {
    root,
    tftp: { listen: WITH_DHCP ? '127.0.0.1:69' : '127.0.0.1:0' },
    ...(WITH_DHCP
      ? {
          dhcp: {
            ...base.dhcp,
            classes,
            listen: '127.0.0.1:0',
            relayPort,
            leases: path.join(dir, `leases-${round}-${metrics}.db`),
            subnets,
          },
        }
      : {}),
    ...(metrics ? { metrics: { listen: `127.0.0.1:${await freePort()}` } } : {}),
  };
  const file = path.join(dir, `bootwire-${round}-${metrics}.json`);
  await fs.writeFile(file, JSON.stringify(config));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file, '--log-level', 'warn', '--grace', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ports = {};
  let out = '';
  await new Promise((resolve, reject) => {
    child.once('exit', (c) => reject(new Error(`serve exited ${c}`)));
    child.stdout.on('data', (d) => {
      out += d;
      for (const m of out.matchAll(/bootwire: (tftp|dhcp|metrics) listening on [0-9.]+:(\d+)/g))
        ports[m[1]] = Number(m[2]);
      if (ports.tftp && (ports.dhcp || !WITH_DHCP) && (!metrics || ports.metrics)) resolve();
    });
  });
  return { child, ports, relayPort };
}

function scrape(port) {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
        let n = 0;
        res.on('data', (d) => (n += d.length));
        res.on('end', () => resolve(n));
      })
      .on('error', () => resolve(0));
  });
}

async function round(metrics, i) {
  const s = await startServer(metrics, i);
  const cpu0 = cpuSeconds(s.child.pid);
  let scrapes = 0;
  let scraping = metrics;
  const scraper = (async () => {
    while (scraping) {
      if (await scrape(s.ports.metrics)) scrapes++;
      await new Promise((r) => setTimeout(r, SCRAPE_MS));
    }
  })();
  const dhcp = WITH_DHCP
    ? ['--dhcp', `127.0.0.1:${s.ports.dhcp}`, '--relay-port', String(s.relayPort)]
    : ['--dhcp', 'none'];
  const args = [
    'storm',
    '--phones',
    PHONES,
    '--server',
    `tftp://127.0.0.1:${s.ports.tftp}/`,
    ...dhcp,
    '--protocols',
    'tftp',
    '--json',
    '--no-progress',
    ...(WINDOW ? ['--client-windowsize', WINDOW] : []),
  ];
  // Not spawnSync: the scrapes run in this process's event loop while the storm runs.
  const r = await new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.once('exit', (status) => resolve({ status, stdout }));
  });
  scraping = false;
  await scraper;
  const cpu = cpuSeconds(s.child.pid) - cpu0;
  s.child.kill('SIGTERM');
  await new Promise((res) => s.child.once('exit', res));
  const run = JSON.parse(r.stdout.trim().split('\n').pop()).runs?.[0] ?? JSON.parse(r.stdout.trim().split('\n').pop());
  if (run.failed) console.error(`round ${i} (${metrics ? 'on' : 'off'}): ${run.failed} phones failed`);
  console.error(
    `round ${i} metrics ${metrics ? 'on ' : 'off'}: wall ${run.wallSeconds.toFixed(2)} s, server CPU ` +
      `${cpu.toFixed(2)} s${metrics ? `, ${scrapes} scrapes` : ''}`,
  );
  return { wall: run.wallSeconds, cpu, booted: run.booted, scrapes };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const on = [];
const off = [];
for (let i = 0; i < ROUNDS; i++) {
  // Alternate which goes first: a warm cache or a busy neighbour favours neither.
  if (i % 2 === 0) {
    off.push(await round(false, i));
    on.push(await round(true, i));
  } else {
    on.push(await round(true, i));
    off.push(await round(false, i));
  }
}
const row = (name, rs) =>
  `| ${name} | ${rs.map((r) => r.booted).join(', ')} | ${median(rs.map((r) => r.wall)).toFixed(2)}` +
  ` | ${median(rs.map((r) => r.cpu)).toFixed(2)} |`;
const md = [
  `## Metrics on and off (\`node bench/metrics.mjs --phones ${PHONES} --rounds ${ROUNDS}` +
    `${WINDOW ? ` --client-windowsize ${WINDOW}` : ''}\`)`,
  '',
  `${new Date().toISOString().slice(0, 10)} on ${os.availableParallelism()} cores (` +
    `${os.cpus()[0]?.model.trim()}), Node ${process.version}. Default fleet, ` +
    `${WITH_DHCP ? 'DHCP (relay-style) and TFTP' : 'TFTP only (port 69 not available: no DHCP)'}` +
    `; with metrics, /metrics scraped every ${SCRAPE_MS} ms during the storm (` +
    `${median(on.map((r) => r.scrapes))} scrapes in the median round). Medians of ${ROUNDS}` +
    ` rounds, alternating.`,
  '',
  '| server | booted | wall s | server CPU s |',
  '| --- | --- | --- | --- |',
  row('bootwire, no metrics', off),
  row('bootwire --metrics', on),
  '',
  `Ratio on/off: wall ${(median(on.map((r) => r.wall)) / median(off.map((r) => r.wall))).toFixed(3)}` +
    `, server CPU ${(median(on.map((r) => r.cpu)) / median(off.map((r) => r.cpu))).toFixed(3)}.`,
  '',
].join('\n');
await fs.mkdir(path.join(HERE, 'results'), { recursive: true });
await fs.writeFile(path.join(HERE, 'results', 'metrics.md'), md);
process.stdout.write(md);
await fs.rm(dir, { recursive: true, force: true });
