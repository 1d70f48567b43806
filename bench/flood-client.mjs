#!/usr/bin/env node
// One kind of hostile traffic against a bootwire server, for bench/floods.mjs: runs until SIGTERM, then
// prints one JSON line of what it sent and what came back. Run inside the site's router namespace.
//
//   node bench/flood-client.mjs KIND SERVER_ADDRESS
//
// Kinds (issue 14's rows): dhcp-regex, dhcp-pool, tftp-timeout, tftp-ports, tftp-amplify, tftp-spoof,
// tftp-netascii, tftp-longname, http-idle, http-junk.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

const [kind, server] = process.argv.slice(2);
const stats = { kind, sent: 0, sentBytes: 0, received: 0, receivedBytes: 0, errors: 0 };
const timers = [];
const sockets = [];
let stopping = false;

const every = (ms, fn) => timers.push(setInterval(() => !stopping && fn(), ms));
const count = (msg) => {
  stats.received++;
  stats.receivedBytes += msg.length;
};

function udp() {
  const s = dgram.createSocket('udp4');
  s.on('message', count);
  s.on('error', () => stats.errors++);
  sockets.push(s);
  // A bound on open sockets: the oldest go (the server's next packets to them meet a closed port).
  if (sockets.length > 3000) sockets.shift().close();
  return s;
}

function send(s, buf, port) {
  stats.sent++;
  stats.sentBytes += buf.length;
  s.send(buf, port, server);
}

const rrq = (file, mode = 'octet', options = {}) =>
  Buffer.concat([
    Buffer.from([0, 1]),
    Buffer.from(`${file}\0${mode}\0`, 'latin1'),
    ...Object.entries(options).map(([k, v]) => Buffer.from(`${k}\0${v}\0`, 'latin1')),
  ]);

/** A relayed DISCOVER (giaddr in the flood's own subnet), with option 60 as given. */
function discover(mac, vendorClass) {
  const b = Buffer.alloc(240);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  b[3] = 1;
  randomBytes(4).copy(b, 4);
  Buffer.from([10, 90, 0, 1]).copy(b, 24); // giaddr
  mac.copy(b, 28);
  b.writeUInt32BE(0x63825363, 236);
  const vc = Buffer.from(vendorClass, 'latin1');
  return Buffer.concat([b, Buffer.from([53, 1, 1, 60, vc.length]), vc, Buffer.from([55, 3, 1, 3, 66, 255])]);
}

const KINDS = {
  // A class { regex: "(a+)+$" } against an option 60 of 255 bytes, 1,000 a second.
  'dhcp-regex'() {
    const s = udp();
    const mac = randomBytes(6);
    every(10, () => {
      for (let i = 0; i < 10; i++) send(s, discover(mac, `${'a'.repeat(254)}!`), 67);
    });
  },
  // DISCOVERs from new MACs until the flood subnet's pool is all offered, and on.
  'dhcp-pool'() {
    const s = udp();
    every(10, () => {
      for (let i = 0; i < 50; i++) send(s, discover(randomBytes(6), 'flood'), 67);
    });
  },
  // RRQs asking timeout=255, from new ports, never acknowledged: each holds a transfer as long as it may.
  'tftp-timeout'() {
    every(10, () => {
      for (let i = 0; i < 10; i++) send(udp(), rrq('46xxupgrade.scr', 'octet', { timeout: 255 }), 69);
    });
  },
  // 1,000 RRQs a second from new ports, never acknowledged.
  'tftp-ports'() {
    every(10, () => {
      for (let i = 0; i < 10; i++) send(udp(), rrq('S96x1_SALBR7_1_2_0.tar'), 69);
    });
  },
  // blksize 65464 and windowsize 64, ACK 0 after the OACK, then silence: how much does one request make the server
  // send?
  'tftp-amplify'() {
    every(50, () => {
      const s = udp();
      s.once('message', (m, r) => {
        if (m.readUInt16BE(0) === 6) send(s, Buffer.from([0, 4, 0, 0]), r.port);
      });
      send(s, rrq('S96x1_SALBR7_1_2_0.tar', 'octet', { blksize: 65464, windowsize: 64 }), 69);
    });
  },
  // A plain 16-byte RRQ, as anyone can forge: 1,000 a second, never answered.
  'tftp-spoof'() {
    every(10, () => {
      for (let i = 0; i < 10; i++) send(udp(), rrq('440HD.img'), 69);
    });
  },
  // netascii RRQs for a 10 MB text file: the server needs its netascii length for tsize.
  'tftp-netascii'() {
    every(10, () => {
      for (let i = 0; i < 3; i++) send(udp(), rrq('big.txt', 'netascii', { tsize: 0 }), 69);
    });
  },
  // RRQs with a 65,000-character name.
  'tftp-longname'() {
    const name = 'a'.repeat(65_000);
    every(10, () => {
      for (let i = 0; i < 5; i++) send(udp(), rrq(name), 69);
    });
  },
  // 4,500 connections that never send a request, each opened again 1 s after the server closes it.
  'http-idle'() {
    const connect = () => {
      if (stopping) return;
      stats.sent++;
      const c = net.connect(80, server);
      c.on('data', count);
      c.on('error', () => stats.errors++);
      c.on('close', () => {
        setTimeout(connect, 1000);
      });
    };
    for (let i = 0; i < 4500; i++) setTimeout(connect, i / 10);
  },
  // HTTP/0.9 request lines and files named as directories, on new connections.
  'http-junk'() {
    every(10, () => {
      for (let i = 0; i < 5; i++) {
        const c = net.connect(80, server, () =>
          c.end(i % 2 ? 'GET /46xxupgrade.scr/ HTTP/1.1\r\nHost: x\r\n\r\n' : 'GET /46xxupgrade.scr\r\n'),
        );
        stats.sent++;
        c.on('data', count);
        c.on('error', () => stats.errors++);
      }
    });
  },
};

if (!KINDS[kind] || !server) {
  process.stderr.write(`usage: flood-client.mjs ${Object.keys(KINDS).join('|')} SERVER_ADDRESS\n`);
  process.exit(2);
}
KINDS[kind]();
process.on('SIGTERM', () => {
  stopping = true;
  for (const t of timers) clearInterval(t);
  const u = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ ...stats, cpuSeconds: (u.user + u.system) / 1e6 })}\n`);
  process.exit(0);
});
