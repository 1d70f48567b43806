#!/usr/bin/env node
// npm install step: builds native/udp_batch.c (batched UDP for the TFTP transfers) with node-gyp.
// Optional: without a C compiler, or off Linux, bootwire runs on node:dgram and says so here.
import { spawnSync } from 'node:child_process';

if (process.platform !== 'linux') {
  console.warn('bootwire: batched UDP is Linux-only; TFTP transfers use node:dgram');
  process.exit(0);
}
const r = spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit', shell: false });
if (r.status !== 0) {
  console.warn(
    `bootwire: could not build native/udp_batch.c (` +
      `${r.error ? r.error.message : `node-gyp exited with ${r.status}`}); ` +
      'TFTP transfers use node:dgram, which costs about twice the CPU per datagram (README, "Batched UDP")',
  );
}
