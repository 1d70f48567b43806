#!/usr/bin/env node
// DHCP load generator for benchmarks: N phones (distinct MACs) each run one DISCOVER-OFFER-REQUEST-ACK
// through bootwire's RelayClient (relay-style: one socket, giaddr = its address, replies come back to
// it), with at most --concurrency exchanges in flight. Prints one JSON line:
//   {"ok":N,"failed":N,"seconds":S,"distinct":N,"retransmits":N,"errors":{...},"p50ms":..,"p99ms":..}
// `seconds` runs from the first DISCOVER to the last ACK; `distinct` counts different addresses leased.
//
//   node bench/dhcp-load.mjs --server 10.99.0.1[:67] --bind 10.99.0.2[:67] --count 10000 --concurrency 64
//        [--mac-offset N] [--timeout-ms 1000] [--retries 4]
// Binding port 67 needs root (run it inside the benchmark's network namespace).
import { parseHostPort } from '../packages/core/dist/index.js';
import { RelayClient } from '../packages/dhcp/dist/index.js';

const argv = process.argv.slice(2);
const opt = (name, def) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : def);
// HOST or HOST:PORT (a bare HOST: the DHCP port given).
const hostPort = (s, port) => (s.includes(':') ? parseHostPort(s) : { host: s, port });
const server = hostPort(opt('--server', '10.99.0.1'), 67);
const bind = hostPort(opt('--bind', '10.99.0.2'), 67);
const count = Number(opt('--count', 10_000));
const concurrency = Math.max(1, Number(opt('--concurrency', 64)));
const macOffset = Number(opt('--mac-offset', 0));
const timeoutMs = Number(opt('--timeout-ms', 1000));
const retries = Number(opt('--retries', 4));
const spread = opt('--macs', 'sequential') === 'spread';
if (!Number.isInteger(count) || count < 1 || count + macOffset > 0xffffff)
  throw new Error('--count (+ --mac-offset) must be in 1..16777215');

const hex = (n) => n.toString(16).padStart(2, '0');
const macOf = (i) => {
  const n = spread ? (Math.imul(i, 0x9e3779) + 0x5bd1e9) & 0xffffff : i; // odd multiplier: a bijection mod 2^24
  return `00:04:0d:${hex((n >> 16) & 255)}:${hex((n >> 8) & 255)}:${hex(n & 255)}`;
};

const client = await RelayClient.open({ bind: { address: bind.host, port: bind.port }, server, timeoutMs, retries });
// Count the requests the client sends (its socket is private to RelayClient: wrap it if reachable).
let sent = 0;
const socket = client.socket;
if (socket && typeof socket.send === 'function') {
  const send = socket.send.bind(socket);
  socket.send = (...args) => {
    sent++;
    return send(...args);
  };
} else sent = NaN;
let next = 0;
let ok = 0;
let failed = 0;
let retransmits = 0;
const errors = {};
const addresses = new Set();
const times = [];

async function worker() {
  while (next < count) {
    const i = macOffset + next++;
    const r = await client.dora({ mac: macOf(i), vendorClass: 'ccp.avaya.com', requestedOptions: [1, 3, 6, 66, 67] });
    if (r.ok) {
      ok++;
      retransmits += r.lease.retransmits;
      addresses.add(r.lease.address);
      times.push(r.lease.ms);
    } else {
      failed++;
      retransmits += r.retransmits;
      errors[r.error] = (errors[r.error] ?? 0) + 1;
    }
  }
}

const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
await client.close();
times.sort((a, b) => a - b);
const pct = (p) => (times.length ? times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] : null);
process.stdout.write(
  JSON.stringify({
    ok,
    failed,
    seconds,
    distinct: addresses.size,
    retransmits,
    sent,
    errors,
    p50ms: pct(50),
    p99ms: pct(99),
  }) + '\n',
);
