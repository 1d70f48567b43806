#!/usr/bin/env node
/**
 * Why bootwire's FTP server is its own (README, "Choices"): the same downloads from bootwire's FtpServer
 * and from ftp-srv (the most used npm FTP server), each in this process, by curl clients.
 *
 *   mkdir /tmp/ftpsrv && (cd /tmp/ftpsrv && npm init -y >/dev/null && npm install ftp-srv@4.6.3)
 *   npm run build && FTPSRV_DIR=/tmp/ftpsrv node bench/ftp-srv-probe.mjs [clients=20] [MiB=32] [rounds=3]
 *
 * Prints, per server and round: wall time for `clients` concurrent curl downloads of one file, the
 * process CPU time it took, and the resident memory after. Files are checked by size.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FtpServer } from '../packages/ftp/dist/server.js';

const [clients = 20, mib = 32, rounds = 3] = process.argv.slice(2).map(Number);
const dir = mkdtempSync(path.join(tmpdir(), 'bw-ftp-probe-'));
const size = mib * 1024 * 1024;
writeFileSync(path.join(dir, 'img.bin'), randomBytes(size));

function curl(port) {
  return new Promise((resolve, reject) => {
    const c = spawn('curl', [
      '-sS',
      '-m',
      '120',
      '-o',
      '/dev/null',
      '-w',
      '%{size_download}',
      `ftp://127.0.0.1:${port}/img.bin`,
    ]);
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('close', (code) =>
      code === 0 && Number(out) === size ? resolve() : reject(new Error(`curl exit ${code}, ${out} bytes`)),
    );
  });
}

async function measure(name, port) {
  for (let r = 0; r < rounds; r++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, () => curl(port)));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    console.log(
      `${name.padEnd(8)} round ${r + 1}: ${clients} x ${mib} MiB in ${(ms / 1000).toFixed(2)} s, CPU ` +
        `${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, RSS ` +
        `${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
    );
  }
}

const bw = await FtpServer.start({ host: '127.0.0.1', port: 0, root: dir });
await measure('bootwire', bw.address().port);
await bw.close(0);

if (process.env.FTPSRV_DIR) {
  const require = createRequire(path.join(process.env.FTPSRV_DIR, 'package.json'));
  const FtpSrv = require('ftp-srv');
  const port = 20000 + Math.floor(Math.random() * 10000);
  const srv = new FtpSrv({
    url: `ftp://127.0.0.1:${port}`,
    pasv_url: '127.0.0.1',
    pasv_min: 40000,
    pasv_max: 40999,
    anonymous: true,
    blacklist: ['STOR', 'APPE', 'STOU', 'DELE', 'MKD', 'RMD', 'RNFR', 'RNTO', 'SITE'],
    log: {
      trace() {},
      debug() {},
      info() {},
      warn() {},
      error() {},
      child() {
        return this;
      },
    },
  });
  srv.on('login', (_data, resolve) => resolve({ root: dir }));
  await srv.listen();
  await measure('ftp-srv', port);
  await srv.close();
} else console.log('ftp-srv: set FTPSRV_DIR to a directory where ftp-srv is installed');
rmSync(dir, { recursive: true, force: true });
process.exit(0);
