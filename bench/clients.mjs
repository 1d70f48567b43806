#!/usr/bin/env node
// N concurrent TFTP downloads with bootwire's client, for load generation in benchmarks. Checks that
// every download has the expected size and exits non-zero otherwise. Payload is counted, not kept.
//   node bench/clients.mjs --host H --port P --file F --count N --size BYTES [--blksize B] [--windowsize W]
import { tftpGet } from '../packages/tftp/dist/client.js';

const argv = process.argv.slice(2);
const opt = (name, def) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : def);
const count = Number(opt('--count', 100));
const size = Number(opt('--size', -1));
const o = {
  host: opt('--host', '127.0.0.1'),
  port: Number(opt('--port', 69)),
  filename: opt('--file', 'image.bin'),
  blksize: Number(opt('--blksize', 1468)),
  windowsize: Number(opt('--windowsize', 1)),
  timeoutMs: 1000,
  maxRetries: 10,
};

const results = await Promise.allSettled(
  Array.from({ length: count }, async () => {
    let n = 0;
    await tftpGet(o, (chunk) => (n += chunk.length));
    if (size >= 0 && n !== size) throw new Error(`got ${n} bytes, expected ${size}`);
  }),
);
const failed = results.filter((r) => r.status === 'rejected');
if (failed.length) {
  console.error(`${failed.length}/${count} downloads failed: ${failed[0].reason?.message}`);
  process.exit(1);
}
