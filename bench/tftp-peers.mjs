#!/usr/bin/env node
// Side-by-side TFTP benchmarks against the C servers people run today, in one run, on loopback.
//
// Every server runs alone in a fresh network namespace on 127.0.0.1:69 (dnsmasq's TFTP server can only
// listen on 69), and the clients run inside the same namespace. Each scenario alternates the order of
// the servers from round to round; medians and ratios are reported. Needs root (namespaces) and the
// peers that .ci/run installs. Writes bench/results/tftp-peers.md.
//
//   node bench/tftp-peers.mjs [--rounds 3] [--only atftp64,storm,workers,rss]
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const CLI = path.join(REPO, 'packages/bootwire/dist/cli/main.js');
const ATFTPD = [path.join(REPO, '.ci/peers/atftpd/usr/sbin/atftpd'), '/usr/sbin/atftpd'].find(existsSync);
const argv = process.argv.slice(2);
const opt = (name, def) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : def);
const ROUNDS = Math.max(1, Number(opt('--rounds', 3)) || 3);
const ONLY = opt('--only', 'atftp64,storm,workers,rss').split(',');
const MiB = 1024 * 1024;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const have = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const ticks = os.constants ? 100 : 100; // USER_HZ on Linux

// ------------------------------------------------------------------------------------- namespaces

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

let nsSeq = 0;
function netns() {
  const name = `bwbench-${process.pid}-${nsSeq++}`;
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  // tftpd-hpa resolves its bind address with AI_ADDRCONFIG, which ignores loopback: give the namespace
  // one address of its own on a veth pair that never leaves it (no traffic is sent to it).
  sh('ip', ['-n', name, 'link', 'add', 'bw0', 'type', 'veth', 'peer', 'name', 'bw1']);
  sh('ip', ['-n', name, 'addr', 'add', '198.18.0.1/32', 'dev', 'bw0']);
  sh('ip', ['-n', name, 'link', 'set', 'bw0', 'up']);
  sh('ip', ['-n', name, 'link', 'set', 'bw1', 'up']);
  return {
    name,
    exec: (cmd, args) => ['ip', ['netns', 'exec', name, cmd, ...args]],
    drop: () => spawnSync('ip', ['netns', 'del', name]),
  };
}

/** /proc numbers of a process: CPU seconds (user+system, threads included) and peak RSS in MiB. */
function procStats(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime + stime, plus the reaped children (tftpd-hpa serves each transfer in a forked child).
    const cpu = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / ticks;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpu, peakMiB: hwm ? Number(hwm[1]) / 1024 : NaN };
  } catch {
    return { cpu: NaN, peakMiB: NaN };
  }
}

/** The server process's pid inside `ip netns exec` (exec replaces ip with the server). */
const SERVERS = {
  // Every client here is 127.0.0.1 (100 curls at once): the per-address limits, sized for phones with
  // an address each, are lifted as for phones behind one NAT address; the peers have none.
  bootwire: (root, workers, _log) => [
    'node',
    [
      CLI,
      'serve',
      '--root',
      root,
      '--tftp',
      '127.0.0.1:69',
      '--log-level',
      'warn',
      '--max-transfers-per-address',
      '2000',
      '--max-request-rate',
      '0',
      ...(workers === undefined ? [] : ['--workers', String(workers)]),
    ],
  ],
  'tftpd-hpa': (root) => ['in.tftpd', ['-L', '-a', '127.0.0.1:69', '-s', '-u', 'root', root]],
  // Log files are real files of the run: a peer handed /dev/null as its log file once replaced the device.
  atftpd: (root, _w, log) => [
    ATFTPD,
    [
      '--daemon',
      '--no-fork',
      '--port',
      '69',
      '--bind-address',
      '127.0.0.1',
      '--user',
      'root',
      '--group',
      'root',
      '--logfile',
      log,
      root,
    ],
  ],
  // dnsmasq serves at most 50 transfers by default (--tftp-max): raised so the storm compares speed, not refusals.
  dnsmasq: (root, _w, log) => [
    'dnsmasq',
    [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--port=0',
      '--no-resolv',
      '--no-hosts',
      '--pid-file=',
      '--enable-tftp',
      `--tftp-root=${root}`,
      '--tftp-max=1000',
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--user=root',
      '--group=root',
      `--log-facility=${log}`,
    ],
  ],
};

function available(name) {
  if (name === 'bootwire') return existsSync(CLI);
  if (name === 'atftpd') return Boolean(ATFTPD);
  return have(SERVERS[name]('/', undefined, '')[0]);
}

async function withServer(name, root, workers, fn) {
  const ns = netns();
  const [cmd, args] = SERVERS[name](root, workers, path.join(os.tmpdir(), `bw-bench-${process.pid}-${name}.log`));
  const proc = spawn(...ns.exec(cmd, args), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  try {
    await sleep(name === 'bootwire' ? 700 : 300);
    if (proc.exitCode !== null) throw new Error(`${name} exited: ${err}`);
    return await fn(ns, proc.pid);
  } finally {
    proc.kill('SIGTERM');
    await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(3000)]);
    proc.kill('SIGKILL');
    ns.drop();
  }
}

function runAll(cmds) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let left = cmds.length;
    let failed;
    for (const [cmd, args] of cmds) {
      const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      const kill = setTimeout(() => p.kill('SIGKILL'), 300_000);
      p.on('close', (code) => {
        clearTimeout(kill);
        if (code !== 0) failed ??= `${cmd} ${args.join(' ')} exited ${code}: ${err.slice(0, 300)}`;
        if (--left === 0) failed ? reject(new Error(failed)) : resolve(Number(process.hrtime.bigint() - t0) / 1e9);
      });
    }
  });
}

async function checkSizes(files, size) {
  for (const f of files) {
    const st = await fs.stat(f);
    if (st.size !== size) throw new Error(`${f}: ${st.size} bytes, expected ${size}`);
  }
}

// -------------------------------------------------------------------------------------- scenarios

/** Runs `measure(name, workers)` for each contender, ROUNDS times, alternating the order. */
async function rounds(contenders, measure) {
  const results = Object.fromEntries(contenders.map((c) => [c.label, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...contenders].reverse() : contenders;
    for (const c of order) {
      const r = await measure(c);
      results[c.label].push(r);
      console.log(
        `  round ${round + 1} ${c.label}: ${r.seconds.toFixed(2)} s, server CPU ${r.cpu.toFixed(2)}` +
          ` s, peak RSS ${r.peakMiB.toFixed(0)} MiB`,
      );
    }
  }
  return results;
}

function table(title, results, baseLabel, note) {
  const base = median(results[baseLabel].map((r) => r.seconds));
  const lines = [
    `## ${title}`,
    '',
    note,
    '',
    '| server | median s | vs bootwire | server CPU s | peak RSS MiB | rounds (s) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const [label, rs] of Object.entries(results)) {
    const m = median(rs.map((r) => r.seconds));
    // tftpd-hpa serves each transfer from a forked child whose CPU is not accounted to the parent here.
    const cpu = label === 'tftpd-hpa' ? 'n/a' : median(rs.map((r) => r.cpu)).toFixed(2);
    lines.push(
      `| ${label} | ${m.toFixed(2)} | ${(m / base).toFixed(2)} | ${cpu} | ` +
        `${median(rs.map((r) => r.peakMiB)).toFixed(0)} | ` +
        `${rs.map((r) => r.seconds.toFixed(2)).join(', ')} |`,
    );
  }
  return lines.join('\n') + '\n';
}

async function atftp64(root, out) {
  await fs.writeFile(path.join(root, 'image64.bin'), randomBytes(64 * MiB));
  const contenders = ['bootwire', 'atftpd'].filter(available).map((name) => ({ name, label: name }));
  console.log('64 MiB, atftp client, blksize 1428, windowsize 16');
  const results = await rounds(contenders, ({ name }) =>
    withServer(name, root, undefined, async (ns, pid) => {
      const o = path.join(out, `${name}-64.bin`);
      const get = ns.exec('atftp', [
        '--option',
        'blksize 1428',
        '--option',
        'windowsize 16',
        '--get',
        '-r',
        'image64.bin',
        '-l',
        o,
        '127.0.0.1',
        '69',
      ]);
      await runAll([get]); // warm-up: loads bootwire's cache and the page cache for everyone
      // A fetch takes under half a second: a round is the median of 5, so one hiccup does not decide it.
      const times = [];
      const before = procStats(pid);
      for (let i = 0; i < 5; i++) times.push(await runAll([get]));
      await checkSizes([o], 64 * MiB);
      const after = procStats(pid);
      return { seconds: median(times), cpu: (after.cpu - before.cpu) / 5, peakMiB: after.peakMiB };
    }),
  );
  return table(
    'One 64 MiB image: atftp, blksize 1428, windowsize 16',
    results,
    'bootwire',
    "Target: bootwire at most atftpd's time. Each server is warmed with one untimed fetch; a round " +
      'is the median of 5 fetches, CPU is per fetch.',
  );
}

async function curlStorm(root, out, contenders, title, note) {
  await fs.writeFile(path.join(root, 'image8.bin'), randomBytes(8 * MiB));
  console.log(title);
  const results = await rounds(contenders, ({ name, workers, label }) =>
    withServer(name, root, workers, async (ns, pid) => {
      const outs = Array.from({ length: 100 }, (_, i) => path.join(out, `${label}-${i}.bin`));
      const before = procStats(pid);
      const seconds = await runAll(
        outs.map((o) =>
          ns.exec('curl', ['-sS', '-m', '280', '--tftp-blksize', '1468', 'tftp://127.0.0.1/image8.bin', '-o', o]),
        ),
      );
      const after = procStats(pid);
      await checkSizes(outs, 8 * MiB);
      await Promise.all(outs.map((o) => fs.rm(o)));
      return { seconds, cpu: after.cpu - before.cpu, peakMiB: after.peakMiB };
    }),
  );
  return table(title, results, contenders[0].label, note);
}

async function rss200(root) {
  await fs.writeFile(path.join(root, 'image32.bin'), randomBytes(32 * MiB));
  console.log('200 concurrent transfers of one 32 MiB image: peak RSS');
  const results = await rounds([{ name: 'bootwire', label: 'bootwire' }], () =>
    withServer('bootwire', root, undefined, async (ns, pid) => {
      const clients = ns.exec('node', [
        path.join(HERE, 'clients.mjs'),
        '--host',
        '127.0.0.1',
        '--port',
        '69',
        '--file',
        'image32.bin',
        '--count',
        '200',
        '--size',
        String(32 * MiB),
        '--blksize',
        '1468',
        '--windowsize',
        '16',
      ]);
      const before = procStats(pid);
      const seconds = await runAll([clients]);
      const after = procStats(pid);
      return { seconds, cpu: after.cpu - before.cpu, peakMiB: after.peakMiB };
    }),
  );
  const peak = median(results.bootwire.map((r) => r.peakMiB));
  return (
    table(
      '200 concurrent transfers of one 32 MiB image (bootwire clients, blksize 1468, windowsize 16)',
      results,
      'bootwire',
      'Target: peak RSS of the server process under 150 MB (VmHWM, all threads).',
    ) +
    (`\nPeak RSS ${peak.toFixed(0)} MiB = ${((peak * MiB) / 1e6).toFixed(0)} MB for 200 transfers of ` +
      `a 32 MiB image: one shared copy.\n`)
  );
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  for (const bin of ['ip', 'curl', 'atftp'])
    if (!have(bin)) throw new Error(`${bin} missing: run .ci/run --system-only`);
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-bench-root-'));
  const out = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-bench-out-'));
  const sections = [];
  try {
    if (ONLY.includes('atftp64')) sections.push(await atftp64(root, out));
    if (ONLY.includes('storm')) {
      const c = ['bootwire', 'tftpd-hpa', 'dnsmasq'].filter(available).map((name) => ({ name, label: name }));
      sections.push(
        await curlStorm(
          root,
          out,
          c,
          '100 curl clients at once, 8 MiB each, blksize 1468, lock-step',
          "Target: bootwire at most tftpd-hpa's time. dnsmasq runs with --tftp-max=1000 (its default of 50 " +
            'would refuse half the storm).',
        ),
      );
    }
    if (ONLY.includes('workers')) {
      const c = [2, 1, 0].map((workers) => ({ name: 'bootwire', workers, label: `bootwire --workers ${workers}` }));
      sections.push(
        await curlStorm(
          root,
          out,
          c,
          'The same storm with --workers 2, 1, 0',
          'Transfers in 2 or 1 worker threads, or on the main thread (0).',
        ),
      );
    }
    if (ONLY.includes('rss')) sections.push(await rss200(root));
  } finally {
    await fs.rm(root, { recursive: true, force: true });
    await fs.rm(out, { recursive: true, force: true });
    for (const name of Object.keys(SERVERS))
      await fs.rm(path.join(os.tmpdir(), `bw-bench-${process.pid}-${name}.log`), { force: true });
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const md = [
    '# TFTP peers benchmark',
    '',
    `${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${cpu}), ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}` +
      `. Loopback inside a fresh network namespace per server run; median of ${ROUNDS} rounds, server ` +
      `order alternated each round. Shared, noisy machine: compare within this run only.`,
    '',
    ...sections,
  ].join('\n');
  await fs.mkdir(path.join(HERE, 'results'), { recursive: true });
  await fs.writeFile(path.join(HERE, 'results', 'tftp-peers.md'), md);
  console.log('\n' + md);
}

main().catch((e) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
