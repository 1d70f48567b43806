#!/usr/bin/env node
// DHCP exchanges per second, side by side: bootwire, dnsmasq and ISC Kea, in one run.
//
// Every server runs alone in a fresh network namespace holding one veth pair; bwv0 carries 10.99.0.1/16
// (the server, port 67) and 10.99.0.2/16 (the load generator). The load generator (bench/dhcp-load.mjs,
// bootwire's RelayClient) runs inside the namespace and sends relay-style: one socket on 10.99.0.2:67,
// giaddr 10.99.0.2, each phone a distinct MAC, one DISCOVER-OFFER-REQUEST-ACK each, at most
// --concurrency exchanges in flight so that no server is flooded into drops (UDP receive-buffer drops
// in the namespace are counted and reported: with the default 208 KiB socket buffers a burst of about
// 100 queued 576-byte requests already overflows, so 200 in flight made every server drop and wait
// out 1 s retransmissions; 64 in flight keeps all three below that). Each server first serves
// --warmup untimed phones (other MACs), then the timed --count. Rounds alternate the server order;
// medians and ratios are reported. Scenarios (--scenarios MACS/LOGGING,...): MACs `sequential` (a pallet
// of new phones) or `spread` (a mixed fleet); logging `default` (each server logs every exchange to a
// file, as it does out of the box) or `quiet` (warnings only).
//
// If bootwire is slower than the faster peer, one more bootwire run is made under `node --cpu-prof`
// and the top self-time functions are reported (or always, with --profile).
//
// Scenario `relayed/perfdhcp` (issue 12's site): Kea's perfdhcp (kea-admin) acts as the relay of a voice
// subnet where the server has no address, and bootwire has no `serverId` (option 54 comes from the
// route toward the relay). Two namespaces per run: the server's (bwp0 10.79.0.1/24, a route to
// 10.80.0.0/16 via 10.79.0.2) and the router's (bwp1 10.79.0.2/24 and the relay address 10.80.0.1/16,
// on the same interface: perfdhcp sends out of the interface holding its -l address).
// `perfdhcp -4 -l 10.80.0.1 -r RATE -R CLIENTS -p SECONDS 10.79.0.1` against bootwire (0.0.0.0:67, no
// serverId), `bootwire-sid` (the same with serverId set by hand) and Kea (memfile), rounds alternated;
// median 4-way exchanges per second; errors (rejected leases, malformed packets, perfdhcp's ERROR
// lines) and drops counted (--perfdhcp-rate 10000 --perfdhcp-clients 30000 --perfdhcp-seconds 10).
//
// Needs root (namespaces, port 67) and `npm run build`. Writes bench/results/dhcp-peers.md.
//
//   node bench/dhcp-peers.mjs [--rounds 3] [--count 10000] [--concurrency 64] [--warmup 500]
//        [--only bootwire,dnsmasq,kea] [--scenarios sequential/default,sequential/quiet,spread/quiet]
//        [--profile | --no-profile] [--out bench/results/dhcp-peers.md] [--dnsmasq-count 3000]
// [--perfdhcp-rate 10000] [--perfdhcp-clients 30000] [--perfdhcp-seconds 10] [--perfdhcp-only
// bootwire,bootwire-sid,kea]
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, promises as fs, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const CLI = path.join(REPO, 'packages/bootwire/dist/cli/main.js');
const LOAD = path.join(HERE, 'dhcp-load.mjs');
const argv = process.argv.slice(2);
const opt = (name, def) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : def);
const ROUNDS = Math.max(1, Number(opt('--rounds', 3)) || 3);
const COUNT = Number(opt('--count', 10_000));
// dnsmasq rewrites its whole lease file for every lease it grants, so its time per lease grows with the
// leases it holds (10,000 phones take it about ten minutes a round): it serves this many, and its rate
// is per second like the others'.
const DNSMASQ_COUNT = Number(opt('--dnsmasq-count', Math.min(COUNT, 3000)));
const countOf = (name) => (name === 'dnsmasq' ? DNSMASQ_COUNT : COUNT);
const CONCURRENCY = Number(opt('--concurrency', 64));
const WARMUP = Number(opt('--warmup', 500));
const ONLY = opt('--only', 'bootwire,dnsmasq,kea').split(',');
const SCENARIOS = opt('--scenarios', 'sequential/default,sequential/quiet,spread/quiet,relayed/perfdhcp')
  .split(',')
  .map((s) => {
    if (s === 'relayed/perfdhcp') return { kind: 'perfdhcp', key: 'relayed-perfdhcp' };
    const [macs, logging] = s.split('/');
    if (!['sequential', 'spread'].includes(macs) || !['default', 'quiet'].includes(logging))
      throw new Error(`bad scenario ${s}: MACS/LOGGING, MACS sequential|spread, LOGGING default|quiet`);
    return { macs, logging, key: `${macs}-${logging}` };
  });
const OUT = path.resolve(opt('--out', path.join(HERE, 'results', 'dhcp-peers.md')));
const PROFILE = argv.includes('--profile') ? 'always' : argv.includes('--no-profile') ? 'never' : 'if-slower';
const PERF_RATE = Number(opt('--perfdhcp-rate', 10_000));
const PERF_CLIENTS = Number(opt('--perfdhcp-clients', 30_000));
const PERF_SECONDS = Number(opt('--perfdhcp-seconds', 10));
const PERF_ONLY = opt('--perfdhcp-only', 'bootwire,bootwire-sid,kea').split(',');
const SERVER = '10.99.0.1';
const CLIENT = '10.99.0.2';
const TICKS = 100; // USER_HZ

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const which = (bin) => {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};
const SETPRIV = which('setpriv');

// ------------------------------------------------------------------------- cleanup, whatever happens

const liveProcs = new Set();
const liveNs = new Set();
const liveDirs = new Set();
function cleanupSync() {
  for (const p of liveProcs) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const name of liveNs) spawnSync('ip', ['netns', 'del', name]);
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130));

// ------------------------------------------------------------------------------------- namespaces

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`);
  return r.stdout;
}

let nsSeq = 0;
/** A fresh namespace: lo up, veth bwv0/bwv1 both inside, bwv0 = 10.99.0.1/16 + 10.99.0.2/16. */
function netns() {
  const name = `bwdhcp-${process.pid}-${nsSeq++}`;
  sh('ip', ['netns', 'add', name]);
  liveNs.add(name);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', name, 'link', 'add', 'bwv0', 'type', 'veth', 'peer', 'name', 'bwv1']);
  sh('ip', ['-n', name, 'addr', 'add', `${SERVER}/16`, 'dev', 'bwv0']);
  sh('ip', ['-n', name, 'addr', 'add', `${CLIENT}/16`, 'dev', 'bwv0']);
  sh('ip', ['-n', name, 'link', 'set', 'bwv0', 'up']);
  sh('ip', ['-n', name, 'link', 'set', 'bwv1', 'up']);
  return {
    name,
    argv: (cmd, args) => ['ip', ['netns', 'exec', name, cmd, ...args]],
    drop: () => {
      spawnSync('ip', ['netns', 'del', name]);
      liveNs.delete(name);
    },
  };
}

/** CPU seconds (utime + stime, all threads) and peak RSS (VmHWM, MiB) of a process. */
function procStats(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = (Number(f[11]) + Number(f[12])) / TICKS;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpu, peakMiB: hwm ? Number(hwm[1]) / 1024 : NaN };
  } catch {
    return { cpu: NaN, peakMiB: NaN };
  }
}

// ---------------------------------------------------------------------------------------- servers

/** Each server's command line and files, in `dir`, for one logging set-up. */
const SERVERS = {
  async bootwire(dir, logging, extraNode = []) {
    const config = {
      dhcp: {
        listen: `${SERVER}:67`,
        leases: path.join(dir, 'leases.sqlite'),
        serverId: SERVER,
        subnets: [
          { subnet: '10.99.0.0/16', pool: '10.99.1.1-10.99.200.254', leaseSeconds: 600, options: { 66: SERVER } },
        ],
      },
    };
    await fs.writeFile(path.join(dir, 'bootwire.json'), JSON.stringify(config));
    // info logs one JSON line per reply (pino, synchronous, to stderr = the log file); warn only problems.
    return {
      cmd: process.execPath,
      args: [
        ...extraNode,
        CLI,
        'serve',
        '--config',
        path.join(dir, 'bootwire.json'),
        '--log-level',
        logging === 'quiet' ? 'warn' : 'info',
      ],
    };
  },
  async dnsmasq(dir, logging) {
    // --no-ping: dnsmasq otherwise pings each address before offering it and waits up to 3 s, during
    // which it answers nobody (about one relayed DORA per 3 s). Kea and bootwire do not ping.
    // Log and lease files are real files: a daemon handed /dev/null as a file once replaced the device.
    return {
      cmd: 'dnsmasq',
      args: [
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--port=0',
        '--no-resolv',
        '--no-hosts',
        '--pid-file=',
        '--dhcp-range=10.99.1.1,10.99.200.254,255.255.0.0,600',
        `--listen-address=${SERVER}`,
        '--bind-interfaces',
        `--dhcp-leasefile=${path.join(dir, 'dnsmasq.leases')}`,
        `--dhcp-option=66,${SERVER}`,
        '--dhcp-lease-max=100000',
        '--no-ping',
        `--log-facility=${path.join(dir, 'dnsmasq.log')}`,
        '--user=root',
        '--group=root',
        ...(logging === 'quiet' ? ['--quiet-dhcp'] : []),
      ],
    };
  },
  async kea(dir, logging) {
    const conf = {
      Dhcp4: {
        'interfaces-config': { interfaces: [`bwv0/${SERVER}`], 'dhcp-socket-type': 'udp' },
        'lease-database': {
          type: 'memfile',
          persist: true,
          name: path.join(dir, 'kea-leases4.csv'),
          'lfc-interval': 0,
        },
        'valid-lifetime': 600,
        subnet4: [
          {
            id: 1,
            subnet: '10.99.0.0/16',
            pools: [{ pool: '10.99.1.1-10.99.200.254' }],
            'option-data': [{ name: 'tftp-server-name', data: SERVER }],
          },
        ],
        // INFO (Kea's default severity) logs each lease allocation; the file is rotated by Kea at 10 MB.
        loggers: [
          {
            name: 'kea-dhcp4',
            output_options: [{ output: path.join(dir, 'kea.log') }],
            severity: logging === 'quiet' ? 'WARN' : 'INFO',
          },
        ],
      },
    };
    await fs.writeFile(path.join(dir, 'kea-dhcp4.json'), JSON.stringify(conf));
    // Debian's kea-dhcp4 puts its PID file and logger lock in /run/kea (made by its systemd unit).
    return {
      cmd: 'kea-dhcp4',
      args: ['-c', path.join(dir, 'kea-dhcp4.json')],
      env: { KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir },
    };
  },
};

function available(name) {
  if (name === 'bootwire') return existsSync(CLI);
  return which(name === 'kea' ? 'kea-dhcp4' : name) !== undefined;
}

/** Waits until process `pid` listens on SERVER:67 (or *:67) in the namespace. */
async function waitListening(ns, pid, proc, what, logFile) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`${what} exited: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    const [c, a] = ns.argv('ss', ['-Hulnp', 'sport = :67']);
    const out = spawnSync(c, a, { encoding: 'utf8', timeout: 5000 }).stdout ?? '';
    if (out.split('\n').some((l) => l.includes(`pid=${pid},`))) return;
    if (Date.now() > deadline)
      throw new Error(`${what} did not listen on :67 within 20 s: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    await sleep(50);
  }
}

/** UDP datagrams the kernel dropped in the namespace because a socket's receive buffer was full. */
function udpDrops(ns) {
  const [c, a] = ns.argv('cat', ['/proc/net/snmp']);
  const lines = (spawnSync(c, a, { encoding: 'utf8', timeout: 5000 }).stdout ?? '')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) return NaN;
  const [names, values] = lines.map((l) => l.split(/\s+/).slice(1));
  return Number(values[names.indexOf('RcvbufErrors')]);
}

/** Runs the load generator inside the namespace; resolves with its JSON. */
function load(ns, count, macOffset, macs) {
  const [c, a] = ns.argv(process.execPath, [
    LOAD,
    '--server',
    `${SERVER}:67`,
    '--bind',
    `${CLIENT}:67`,
    '--count',
    String(count),
    '--concurrency',
    String(CONCURRENCY),
    '--mac-offset',
    String(macOffset),
    '--macs',
    macs,
  ]);
  return new Promise((resolve, reject) => {
    const p = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
    liveProcs.add(p);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const kill = setTimeout(() => p.kill('SIGKILL'), 600_000);
    p.on('close', (code) => {
      clearTimeout(kill);
      liveProcs.delete(p);
      if (code !== 0) return reject(new Error(`load generator exited ${code}: ${err.slice(-1000)}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`load generator printed ${out.slice(0, 300)} ${err.slice(-300)}`));
      }
    });
  });
}

/** One server in a fresh namespace: warm-up, then the timed COUNT phones. */
async function runOne(name, sc, { extraNode = [], keep } = {}) {
  const ns = netns();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `bw-dhcp-bench-${name}-`));
  liveDirs.add(dir);
  const logFile = path.join(dir, 'server.out');
  const window = { start: 0, end: 0 };
  let proc;
  try {
    const s = await SERVERS[name](dir, sc.logging, extraNode);
    const bin = s.cmd.includes('/') ? s.cmd : which(s.cmd);
    const full = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', bin, ...s.args]] : [bin, s.args];
    const fd = openSync(logFile, 'w');
    try {
      proc = spawn(...ns.argv(full[0], full[1]), {
        stdio: ['ignore', fd, fd],
        env: { ...process.env, ...(s.env ?? {}) },
        cwd: dir,
      });
    } finally {
      closeSync(fd);
    }
    liveProcs.add(proc);
    const pid = proc.pid; // `ip netns exec` and setpriv exec into the server: same pid
    await waitListening(ns, pid, proc, name, logFile);
    if (WARMUP > 0) {
      const w = await load(ns, WARMUP, 0x800000, sc.macs);
      if (w.failed) console.log(`    (warm-up: ${w.failed} of ${WARMUP} failed)`);
    }
    const before = procStats(pid);
    const dropsBefore = udpDrops(ns);
    window.start = Number(process.hrtime.bigint() / 1000n);
    const r = await load(ns, countOf(name), 0, sc.macs);
    window.end = Number(process.hrtime.bigint() / 1000n);
    const after = procStats(pid);
    const drops = udpDrops(ns) - dropsBefore;
    if (proc.exitCode !== null)
      throw new Error(`${name} died during the run: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    return { ...r, rate: r.ok / r.seconds, cpu: after.cpu - before.cpu, peakMiB: after.peakMiB, drops };
  } finally {
    if (proc) {
      const exited = proc.exitCode !== null ? Promise.resolve() : new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      // bootwire writes its CPU profile on the way out: give it time.
      const done = await Promise.race([exited.then(() => true), sleep(keep ? 30_000 : 5000).then(() => false)]);
      if (!done) proc.kill('SIGKILL');
      await exited;
      liveProcs.delete(proc);
    }
    ns.drop();
    if (keep) await keep(dir, window);
    await fs.rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  }
}

async function rounds(names, sc) {
  const results = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...names].reverse() : names;
    for (const name of order) {
      const r = await runOne(name, sc);
      results[name].push(r);
      console.log(
        `  round ${round + 1} ${name}: ${r.rate.toFixed(0)} DORA/s (${r.ok} ok, ${r.failed} failed, ` +
          `${(r.sent / r.ok).toFixed(2)} requests per lease, ${r.retransmits} retransmits, ${r.drops}` +
          ` UDP drops, ${r.distinct} addresses) in ${r.seconds.toFixed(2)} s, ` +
          (`server CPU ${r.cpu.toFixed(2)} s, peak RSS ${r.peakMiB.toFixed(0)} MiB, p50 ${r.p50ms} ms, p99 ` +
            `${r.p99ms} ms`),
      );
    }
  }
  return results;
}

const MACS_NOTE = {
  sequential: 'MACs 00:04:0d:00:00:00 upwards, in order (a pallet of new phones).',
  spread: 'MACs 00:04:0d + 24 bits scattered by a bijection (a mixed fleet).',
};

const LOGGING_NOTE = {
  default:
    'Each server logs every exchange to a file, as it does out of the box: bootwire `--log-level ' +
    'info` (pino, one JSON line per OFFER and ACK, stderr to a file), dnsmasq `--log-facility=FILE` ' +
    '(one line per DISCOVER, OFFER, REQUEST, ACK), Kea severity INFO to a file (lease allocations).',
  quiet: 'Warnings only: bootwire `--log-level warn`, dnsmasq `--quiet-dhcp`, Kea severity WARN.',
};

function table(sc, results) {
  const base = median(results.bootwire?.map((r) => r.rate) ?? [NaN]);
  const lines = [
    `## ${COUNT.toLocaleString('en-US')} phones, ${sc.macs} MACs, ${CONCURRENCY} DORAs in flight, ` +
      `${sc.logging === 'quiet' ? 'quiet' : 'logging every exchange'}`,
    '',
    ...(results.dnsmasq && DNSMASQ_COUNT !== COUNT
      ? [
          `dnsmasq serves ${DNSMASQ_COUNT.toLocaleString('en-US')} phones (it rewrites its whole lease ` +
            `file for every lease, so 10,000 take it about ten minutes a round); its rate is per second like ` +
            `the others'.`,
          '',
        ]
      : []),
    `${MACS_NOTE[sc.macs]} ${LOGGING_NOTE[sc.logging]}`,
    '',
    '| server | median DORA/s | bootwire ÷ this | failed | requests per lease | retransmits | UDP ' +
      'drops | server CPU s | CPU ms per 1000 DORA | peak RSS MiB | p99 ms | rounds (DORA/s) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [name, rs] of Object.entries(results)) {
    const m = median(rs.map((r) => r.rate));
    const cpu = median(rs.map((r) => r.cpu));
    lines.push(
      `| ${name} | ${m.toFixed(0)} | ${(base / m).toFixed(2)} | ${rs.reduce((n, r) => n + r.failed, 0)}` +
        ` | ${median(rs.map((r) => r.sent / r.ok)).toFixed(2)} | ` +
        `${rs.reduce((n, r) => n + r.retransmits, 0)} | ${rs.reduce((n, r) => n + r.drops, 0)} | ` +
        `${cpu.toFixed(2)} | ${((cpu * 1e6) / countOf(name)).toFixed(0)} | ` +
        `${median(rs.map((r) => r.peakMiB)).toFixed(0)} | ${median(rs.map((r) => r.p99ms))} | ` +
        `${rs.map((r) => r.rate.toFixed(0)).join(', ')} |`,
    );
  }
  const peers = Object.keys(results).filter((n) => n !== 'bootwire');
  let verdict = '';
  if (results.bootwire && peers.length) {
    const fastest = peers.reduce((a, b) =>
      median(results[a].map((r) => r.rate)) >= median(results[b].map((r) => r.rate)) ? a : b,
    );
    const peer = median(results[fastest].map((r) => r.rate));
    verdict =
      `Target: bootwire at least as fast as the faster of the peers (${fastest}, ${peer.toFixed(0)}` +
      ` DORA/s): bootwire ${base.toFixed(0)} DORA/s = ${(base / peer).toFixed(2)}x: ` +
      `${base >= peer ? 'met' : 'NOT met'}.`;
  }
  return {
    md: `${lines.join('\n')}\n\n${verdict}\n`,
    slower: results.bootwire && peers.some((n) => median(results[n].map((r) => r.rate)) > base),
  };
}

// ------------------------------------------------------------------- relayed/perfdhcp (issue 12)

const PERF_SERVER = '10.79.0.1';
const PERF_ROUTER = '10.79.0.2';
const PERF_RELAY = '10.80.0.1';
const PERFDHCP = ['/usr/sbin/perfdhcp', which('perfdhcp')].find((p) => p && existsSync(p));

/** The server's namespace and the router's, joined by a veth; torn down by drop(). */
function relayedSite() {
  const id = `${process.pid}-${nsSeq++}`;
  const srv = `bwpsrv-${id}`;
  const rly = `bwprly-${id}`;
  for (const n of [srv, rly]) {
    sh('ip', ['netns', 'add', n]);
    liveNs.add(n);
    sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
  }
  sh('ip', ['link', 'add', 'bwp0', 'netns', srv, 'type', 'veth', 'peer', 'name', 'bwp1', 'netns', rly]);
  sh('ip', ['-n', srv, 'addr', 'add', `${PERF_SERVER}/24`, 'dev', 'bwp0']);
  sh('ip', ['-n', rly, 'addr', 'add', `${PERF_ROUTER}/24`, 'dev', 'bwp1']);
  sh('ip', ['-n', rly, 'addr', 'add', `${PERF_RELAY}/16`, 'dev', 'bwp1']);
  sh('ip', ['-n', srv, 'link', 'set', 'bwp0', 'up']);
  sh('ip', ['-n', rly, 'link', 'set', 'bwp1', 'up']);
  sh('ip', ['-n', srv, 'route', 'add', '10.80.0.0/16', 'via', PERF_ROUTER]);
  const ns = (name) => ({ name, argv: (cmd, args) => ['ip', ['netns', 'exec', name, cmd, ...args]] });
  return {
    srv: ns(srv),
    rly: ns(rly),
    drop: () => {
      for (const n of [srv, rly]) {
        spawnSync('ip', ['netns', 'del', n]);
        liveNs.delete(n);
      }
    },
  };
}

/** Servers of the relayed site: the voice subnet 10.80.0.0/16 is known only through the relay. */
const PERF_SERVERS = {
  async bootwire(dir, serverId) {
    const config = {
      dhcp: {
        listen: '0.0.0.0:67',
        leases: path.join(dir, 'leases.sqlite'),
        ...(serverId ? { serverId: PERF_SERVER } : {}),
        subnets: [
          { subnet: '10.80.0.0/16', pool: '10.80.1.1-10.80.200.254', leaseSeconds: 600, options: { 66: PERF_SERVER } },
        ],
      },
    };
    await fs.writeFile(path.join(dir, 'bootwire.json'), JSON.stringify(config));
    return {
      cmd: process.execPath,
      args: [CLI, 'serve', '--config', path.join(dir, 'bootwire.json'), '--log-level', 'warn'],
    };
  },
  'bootwire-sid': (dir) => PERF_SERVERS.bootwire(dir, true),
  async kea(dir) {
    const conf = {
      Dhcp4: {
        'interfaces-config': { interfaces: ['bwp0'], 'dhcp-socket-type': 'udp' },
        'lease-database': {
          type: 'memfile',
          persist: true,
          name: path.join(dir, 'kea-leases4.csv'),
          'lfc-interval': 0,
        },
        'valid-lifetime': 600,
        subnet4: [
          {
            id: 1,
            subnet: '10.80.0.0/16',
            pools: [{ pool: '10.80.1.1-10.80.200.254' }],
            'option-data': [{ name: 'tftp-server-name', data: PERF_SERVER }],
          },
        ],
        loggers: [{ name: 'kea-dhcp4', output_options: [{ output: path.join(dir, 'kea.log') }], severity: 'WARN' }],
      },
    };
    await fs.writeFile(path.join(dir, 'kea-dhcp4.json'), JSON.stringify(conf));
    return {
      cmd: 'kea-dhcp4',
      args: ['-c', path.join(dir, 'kea-dhcp4.json')],
      env: { KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir },
    };
  },
};

/** perfdhcp's report: the 4-way rate, and everything that counts as an error. */
function parsePerfdhcp(out, code) {
  const num = (re) => [...out.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    rate: Number(/Rate: ([\d.]+) 4-way exchanges\/second/.exec(out)?.[1] ?? 0),
    sent: Number(/sent packets: (\d+)/.exec(out)?.[1] ?? 0),
    drops: num(/^drops: (\d+)/gm),
    rejected: num(/rejected leases: (\d+)/g),
    nonUnique: num(/non unique addresses: (\d+)/g),
    malformed: num(/Malformed packets: (\d+)/g),
    errors: (out.match(/^ERROR.*$/gm) ?? []).length,
    firstError: (out.match(/^ERROR.*$/m) ?? [''])[0],
    code,
  };
}

/** One server in a fresh relayed site: perfdhcp's run, timed by perfdhcp itself. */
async function runPerf(name) {
  const site = relayedSite();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `bw-dhcp-perf-${name}-`));
  liveDirs.add(dir);
  const logFile = path.join(dir, 'server.out');
  let proc;
  try {
    const s = await PERF_SERVERS[name](dir);
    const bin = s.cmd.includes('/') ? s.cmd : which(s.cmd);
    const full = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', bin, ...s.args]] : [bin, s.args];
    const fd = openSync(logFile, 'w');
    try {
      proc = spawn(...site.srv.argv(full[0], full[1]), {
        stdio: ['ignore', fd, fd],
        env: { ...process.env, ...(s.env ?? {}) },
        cwd: dir,
      });
    } finally {
      closeSync(fd);
    }
    liveProcs.add(proc);
    await waitListening(site.srv, proc.pid, proc, name, logFile);
    const before = procStats(proc.pid);
    const args = [
      '-4',
      '-l',
      PERF_RELAY,
      '-r',
      String(PERF_RATE),
      '-R',
      String(PERF_CLIENTS),
      '-p',
      String(PERF_SECONDS),
      '-W',
      '1000000',
      '-x',
      'e',
      PERF_SERVER,
    ];
    const r = spawnSync(...site.rly.argv(PERFDHCP, args), {
      encoding: 'utf8',
      timeout: (PERF_SECONDS + 60) * 1000,
      maxBuffer: 64 << 20,
    });
    const after = procStats(proc.pid);
    if (proc.exitCode !== null)
      throw new Error(`${name} died during the run: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    return {
      ...parsePerfdhcp(`${r.stdout}${r.stderr}`, r.status),
      cpu: after.cpu - before.cpu,
      peakMiB: after.peakMiB,
    };
  } finally {
    if (proc) {
      const exited = proc.exitCode !== null ? Promise.resolve() : new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
      if (!done) proc.kill('SIGKILL');
      await exited;
      liveProcs.delete(proc);
    }
    site.drop();
    await fs.rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  }
}

async function perfdhcpSection() {
  if (!PERFDHCP) return '## perfdhcp relayed\n\nskipped: perfdhcp missing (apt-get install kea-admin)\n';
  const names = PERF_ONLY.filter((n) => PERF_SERVERS[n] && (n === 'kea' ? available('kea') : existsSync(CLI)));
  console.log(
    `relayed/perfdhcp: -r ${PERF_RATE} -R ${PERF_CLIENTS} -p ${PERF_SECONDS}, ${ROUNDS} rounds: ${names.join(', ')}`,
  );
  const results = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 ? [...names].reverse() : names) {
      const r = await runPerf(name);
      results[name].push(r);
      console.log(
        `  round ${round + 1} ${name}: ${r.rate.toFixed(0)} 4-way/s, ${r.drops} drops, ${r.rejected}` +
          ` rejected, ${r.malformed} malformed, ${r.errors} errors` +
          `${r.firstError ? ` (${r.firstError})` : ''}, exit ${r.code}, server CPU ${r.cpu.toFixed(2)} s`,
      );
    }
  }
  const base = median(results.bootwire?.map((r) => r.rate) ?? [NaN]);
  const kea = median(results.kea?.map((r) => r.rate) ?? [NaN]);
  const lines = [
    `## perfdhcp relayed from a subnet where the server has no address: ` +
      `${PERF_RATE.toLocaleString('en-US')}/s offered to ${PERF_CLIENTS.toLocaleString('en-US')}` +
      ` clients for ${PERF_SECONDS} s`,
    '',
    `\`perfdhcp -4 -l ${PERF_RELAY} -r ${PERF_RATE} -R ${PERF_CLIENTS} -p ${PERF_SECONDS} -W 1000000 ` +
      `${PERF_SERVER}\` in the router's namespace; the server's namespace reaches 10.80.0.0/16 only ` +
      `through it. bootwire listens on 0.0.0.0:67 without serverId (option 54 from the route toward ` +
      `the relay); bootwire-sid is the same with \`serverId\` set by hand; Kea memfile (persist), WARN ` +
      `logging, the same namespaces. Errors = rejected leases + non-unique addresses + malformed ` +
      `packets + perfdhcp ERROR lines (such as a missing SERVER_IDENTIFIER, which stops perfdhcp at ` +
      `once); drops (exchanges without an answer in time: the offered rate beyond what a server keeps ` +
      `up with) are counted apart.`,
    '',
    '| server | median 4-way/s | bootwire ÷ this | errors (all rounds) | drops | exit codes | server ' +
      'CPU s | peak RSS MiB | rounds (4-way/s) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [name, rs] of Object.entries(results)) {
    const m = median(rs.map((r) => r.rate));
    const errors = rs.reduce((n, r) => n + r.rejected + r.nonUnique + r.malformed + r.errors, 0);
    lines.push(
      `| ${name} | ${m.toFixed(0)} | ${(base / m).toFixed(2)} | ${errors} | ` +
        `${rs.reduce((n, r) => n + r.drops, 0)} | ${rs.map((r) => r.code).join(', ')} | ` +
        `${median(rs.map((r) => r.cpu)).toFixed(2)} | ${median(rs.map((r) => r.peakMiB)).toFixed(0)} | ` +
        `${rs.map((r) => r.rate.toFixed(0)).join(', ')} |`,
    );
  }
  const errs = (results.bootwire ?? []).reduce((n, r) => n + r.rejected + r.nonUnique + r.malformed + r.errors, 0);
  const verdict =
    results.bootwire && results.kea
      ? `Target: 0 errors and bootwire's median at least Kea's: ${errs} errors, ` +
        `${(base / kea).toFixed(2)}x: ${errs === 0 && base >= kea ? 'met' : 'NOT met'}.`
      : '';
  return `${lines.join('\n')}\n\n${verdict}\n`;
}

// ----------------------------------------------------------------------------------------- profile

/**
 * Self time by broad category and by function, and inclusive time of bootwire's own functions, from a
 * V8 .cpuprofile, counting only the samples inside `window` (CLOCK_MONOTONIC microseconds, the clock of
 * both V8's profile timestamps and process.hrtime): the timed run, without start-up and warm-up.
 */
function summarizeProfile(profile, window, top = 15) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (cf) => {
    const url = cf.url.replace(`file://${REPO}/`, '');
    return `${cf.functionName || '(anonymous)'}${url ? ` ${url}:${cf.lineNumber + 1}` : ''}`;
  };
  const category = (cf) => {
    const url = cf.url.replace(`file://${REPO}/`, '');
    if (!url) return cf.functionName.startsWith('(') ? cf.functionName : 'V8 builtins / native';
    if (url === 'packages/dhcp/dist/leases/store.js')
      return 'bootwire dhcp/leases (with the better-sqlite3 native calls made from it)';
    const own = /^packages\/([\w-]+)\/dist\/(.*)$/.exec(url);
    if (own) return `bootwire ${own[1]}${own[2].includes('/') ? `/${own[2].slice(0, own[2].lastIndexOf('/'))}` : ''}`;
    if (url.startsWith('node:')) return `Node.js ${url.includes('dgram') ? 'dgram (send/receive)' : 'internals'}`;
    if (url.includes('node_modules/')) return url.split('node_modules/')[1].split('/')[0];
    return url;
  };
  const self = new Map();
  const incl = new Map();
  let total = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    if (t < window.start || t > window.end) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0; // a sample stands for the time until the next one
    const node = byId.get(profile.samples[i]);
    const key = label(node.callFrame);
    self.set(node.id, (self.get(node.id) ?? 0) + dt);
    total += dt;
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const k = label(byId.get(id).callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + dt);
    }
    void key;
  }
  const fns = new Map();
  const cats = new Map();
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    fns.set(label(cf), (fns.get(label(cf)) ?? 0) + us);
    cats.set(category(cf), (cats.get(category(cf)) ?? 0) + us);
  }
  const idle = cats.get('(idle)') ?? 0;
  const busy = total - idle;
  const pct = (us) => `${((100 * us) / busy).toFixed(1)}%`;
  const ms = (us) => (us / 1000).toFixed(0);
  const sorted = (m, keep) => [...m].filter(([k]) => keep(k)).sort((a, b) => b[1] - a[1]);
  return [
    `Samples of the timed run only: ${(total / 1e6).toFixed(2)} s, of which ` +
      `${(busy / 1e6).toFixed(2)} s not idle; shares are of the non-idle time. Native code called from ` +
      `JavaScript (better-sqlite3's statement.run, the sendmsg system call under dgram) is counted in ` +
      `the calling function.`,
    '',
    '| where (self time by category) | ms | share |',
    '| --- | --- | --- |',
    ...sorted(cats, (k) => k !== '(idle)').map(([k, us]) => `| ${k} | ${ms(us)} | ${pct(us)} |`),
    '',
    '| function (self time) | ms | share |',
    '| --- | --- | --- |',
    ...sorted(fns, (k) => !k.startsWith('(idle)'))
      .slice(0, top)
      .map(([k, us]) => `| \`${k}\` | ${ms(us)} | ${pct(us)} |`),
    '',
    '| bootwire function (inclusive: itself and what it calls) | ms | share |',
    '| --- | --- | --- |',
    ...sorted(incl, (k) => k.includes('/dist/'))
      .slice(0, top)
      .map(([k, us]) => `| \`${k}\` | ${ms(us)} | ${pct(us)} |`),
    '',
  ].join('\n');
}

async function profileBootwire(sc) {
  console.log(`profiling bootwire (${sc.key}) with node --cpu-prof`);
  let summary = '';
  const r = await runOne('bootwire', sc, {
    extraNode: ['--cpu-prof', '--cpu-prof-dir=prof'],
    keep: async (dir, window) => {
      const pd = path.join(dir, 'prof');
      const files = existsSync(pd) ? (await fs.readdir(pd)).filter((f) => f.endsWith('.cpuprofile')) : [];
      if (!files.length) {
        summary = '(no profile was written)\n';
        return;
      }
      const profile = JSON.parse(await fs.readFile(path.join(pd, files[0]), 'utf8'));
      summary = summarizeProfile(profile, window);
      await fs.mkdir(path.join(HERE, 'results'), { recursive: true });
      await fs.copyFile(path.join(pd, files[0]), path.join(HERE, 'results', `dhcp-bootwire-${sc.key}.cpuprofile.tmp`));
    },
  });
  return (
    `### Where bootwire's time goes (${sc.macs} MACs, ` +
    `${sc.logging === 'quiet' ? 'quiet' : 'logging every exchange'}, \`node --cpu-prof\`)\n\nOne ` +
    `extra run under the profiler: ${r.rate.toFixed(0)} DORA/s, ${r.failed} failed, server CPU ` +
    `${r.cpu.toFixed(2)} s. The raw profile is left in bench/results/dhcp-bootwire-${sc.key}` +
    `.cpuprofile.tmp (not committed).\n\n${summary}`
  );
}

// -------------------------------------------------------------------------------------------- main

async function main() {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, port 67)');
  if (!which('ip')) throw new Error('ip missing: run .ci/run --system-only');
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: npm run build`);
  const names = ONLY.filter((n) => SERVERS[n] && available(n));
  for (const n of ONLY.filter((n) => !names.includes(n))) console.log(`skipping ${n}: not installed`);
  const sections = [];
  for (const sc of SCENARIOS) {
    if (sc.kind === 'perfdhcp') {
      sections.push(await perfdhcpSection());
      continue;
    }
    console.log(
      `${COUNT} phones, concurrency ${CONCURRENCY}, warm-up ${WARMUP}, ${sc.macs} MACs, logging: ${sc.logging}`,
    );
    const results = await rounds(names, sc);
    const t = table(sc, results);
    sections.push(t.md);
    if (names.includes('bootwire') && (PROFILE === 'always' || (PROFILE === 'if-slower' && t.slower)))
      sections.push(await profileBootwire(sc));
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const versions = [
    `dnsmasq ${(spawnSync('dnsmasq', ['-v'], { encoding: 'utf8' }).stdout ?? '').match(/version (\S+)/)?.[1] ?? '?'}`,
    `Kea ${(spawnSync('kea-dhcp4', ['-v'], { encoding: 'utf8' }).stdout ?? '').trim() || '?'}`,
  ].join(', ');
  const md = [
    '# DHCP peers benchmark',
    '',
    `${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${cpu}), ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}; ` +
      `${versions}. ` +
      (`Each server alone in a fresh network namespace (veth bwv0: server 10.99.0.1, load generator ` +
        `10.99.0.2, traffic over the namespace's loopback); `) +
      (`the load generator is bootwire's RelayClient (bench/dhcp-load.mjs), relay-style (giaddr ` +
        `10.99.0.2, replies to port 67), one DISCOVER-OFFER-REQUEST-ACK per distinct MAC, `) +
      (`${CONCURRENCY} exchanges in flight, 1 s retransmission timeout. Each server serves ${WARMUP}` +
        ` untimed phones first. Median of ${ROUNDS} rounds, server order alternated each round. `) +
      ('Leases: bootwire SQLite (WAL, synchronous=FULL, one commit per event-loop turn before its ' +
        'replies), dnsmasq its lease file, Kea memfile (persist, lfc-interval 0). dnsmasq runs with ' +
        '--no-ping. ') +
      ('Server CPU = utime+stime of the server process over the timed run; peak RSS = VmHWM; UDP drops ' +
        '= RcvbufErrors in the namespace over the timed run; requests per lease = DISCOVERs and REQUESTs ' +
        'sent / leases (2.00 when nothing was repeated; NAKs and retransmissions add to it). The load ' +
        'generator shares the cores with the server. Shared, noisy machine: compare within this run only.'),
    '',
    ...sections,
  ].join('\n');
  await fs.mkdir(path.join(HERE, 'results'), { recursive: true });
  await fs.mkdir(path.dirname(OUT), { recursive: true });
  await fs.writeFile(OUT, md);
  console.log('\n' + md);
}

main().catch((e) => {
  console.error(`bench: ${e.stack ?? e.message}`);
  process.exitCode = 1;
});
