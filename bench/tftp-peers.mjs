#!/usr/bin/env node
// Side-by-side TFTP benchmarks against the C servers people run today, on loopback, in one run.
// Each scenario alternates the order of the servers each round; medians and ratios are reported.
// Writes bench/results/tftp-peers.md. Run: npm run bench (or node bench/tftp-peers.mjs --rounds 5).
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const CLI = path.join(REPO, 'dist/cli/main.js');
const ATFTPD = [path.join(REPO, '.ci/peers/atftpd/usr/sbin/atftpd'), '/usr/sbin/atftpd'].find(existsSync);
const argv = process.argv.slice(2);
const ROUNDS = Number(argv[argv.indexOf('--rounds') + 1] || 3) || 3;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const which = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

async function sha256File(p) {
  const h = createHash('sha256');
  for await (const c of createReadStream(p)) h.update(c);
  return h.digest('hex');
}

async function freePort() {
  const dgram = await import('node:dgram');
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  s.close();
  return port;
}

/** Starts a server; resolves when it answers on UDP (checked by the caller's first fetch). */
const SERVERS = {
  bootwire: {
    available: () => existsSync(CLI),
    start: (root, port) => spawn(process.execPath, [CLI, 'serve', '--root', root, '--tftp', `127.0.0.1:${port}`, '--log-level', 'warn'], { stdio: 'ignore' }),
  },
  atftpd: {
    available: () => Boolean(ATFTPD),
    start: (root, port) =>
      spawn(ATFTPD, ['--daemon', '--no-fork', '--port', String(port), '--bind-address', '127.0.0.1', '--user', 'root', '--group', 'root', '--logfile', '/dev/null', root], { stdio: 'ignore' }),
  },
};

function time(cmd, args) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(cmd, args, { stdio: 'ignore' });
    const kill = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}

async function scenarioAtftp64(root, out) {
  const size = 64 * 1024 * 1024;
  const file = path.join(root, 'image64.bin');
  await fs.writeFile(file, randomBytes(size));
  const want = await sha256File(file);
  const names = Object.keys(SERVERS).filter((n) => SERVERS[n].available());
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...names].reverse() : names;
    for (const name of order) {
      const port = await freePort();
      const proc = SERVERS[name].start(root, port);
      await sleep(500);
      // Warm-up fetch (loads the file into bootwire's cache and the page cache for both), not timed.
      const got = path.join(out, `${name}.bin`);
      const args = ['--get', '-r', 'image64.bin', '-l', got, '--option', 'blksize 1428', '--option', 'windowsize 16', '127.0.0.1', String(port)];
      await time('atftp', args);
      const r = await time('atftp', args);
      proc.kill('SIGTERM');
      await new Promise((res) => proc.once('exit', res));
      if (r.code !== 0 || (await sha256File(got)) !== want) throw new Error(`${name}: atftp failed or bytes differ (exit ${r.code})`);
      times[name].push(r.seconds);
      console.log(`  round ${round + 1} ${name}: ${r.seconds.toFixed(3)} s`);
    }
  }
  return { names, times, size };
}

async function main() {
  if (!which('atftp')) throw new Error('atftp client missing: apt-get install atftp');
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-bench-root-'));
  const out = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-bench-out-'));
  try {
    console.log(`64 MiB with atftp (blksize 1428, windowsize 16), ${ROUNDS} rounds`);
    const r = await scenarioAtftp64(root, out);
    const base = median(r.times.bootwire);
    const rows = r.names.map((n) => {
      const m = median(r.times[n]);
      return `| ${n} | ${m.toFixed(3)} | ${(r.size / 1048576 / m).toFixed(0)} | ${(m / base).toFixed(2)} | ${r.times[n].map((t) => t.toFixed(3)).join(', ')} |`;
    });
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    const md = [
      `# TFTP peers benchmark`,
      ``,
      `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${cpu}), Node ${process.version}, loopback. Median of ${ROUNDS} rounds, order alternated; each server warmed with one untimed fetch.`,
      ``,
      `## One 64 MiB image, atftp client, blksize 1428, windowsize 16`,
      ``,
      `| server | median s | MiB/s | time vs bootwire | rounds (s) |`,
      `| --- | --- | --- | --- | --- |`,
      ...rows,
      ``,
    ].join('\n');
    await fs.mkdir(path.join(HERE, 'results'), { recursive: true });
    await fs.writeFile(path.join(HERE, 'results', 'tftp-peers.md'), md);
    console.log('\n' + md);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
    await fs.rm(out, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
