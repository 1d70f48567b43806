/**
 * DHCP replay, the edge: one UDP socket acting as a relay agent (as src/dhcp/client/relay-client.ts
 * does), the built-in DHCP server configured from the capture's replies on 127.0.0.1 with its relay
 * port pointed at that socket (so nothing needs root), or the server given. Each recorded client
 * message goes out in capture order, one at a time, and its reply is checked.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { decodeDhcp, type DhcpMessage } from '@bootwire/dhcp';
import { MemoryLeaseStore } from '@bootwire/dhcp';
import { DhcpServer } from '@bootwire/dhcp';
import { bindUdp, connectUdp, type HostPort, inCidr, ipToInt, parseCidr } from '@bootwire/core';
import {
  type CaptureConfig,
  checkConfig,
  checkReply,
  configFromReplies,
  type DhcpExchange,
  rebuildRequest,
  typeName,
} from './dhcp-exchanges.js';
import type { Outcome } from './report.js';

export interface DhcpReplayOptions {
  readonly server: 'builtin' | { readonly host: string; readonly port: number };
  /** Where the relay socket binds (its address is giaddr). Default: 127.0.0.1:0 for the built-in
   * server; for another, the local address that reaches it, port 67 (standard servers answer relays there). */
  readonly relay?: { readonly address: string; readonly port: number };
  /** How long to wait for a reply before resending; two resends. Default 1000 ms. */
  readonly timeoutMs?: number;
}

const REPLAYED = new Set([1, 3, 4, 7, 8]);
const EXPECTS_REPLY = new Set([1, 3, 8]);

type Answer = { kind: 'reply'; bytes: Buffer } | { kind: 'ignored'; reason: string } | { kind: 'silence' };

/** Replies by xid, and the built-in server's reasons for ignoring a message, as they arrive. */
class Waiter {
  private pending: { xid: number; mac: string; done: (a: Answer) => void } | undefined;

  reply(bytes: Buffer): void {
    const d = decodeDhcp(bytes);
    const xid = d.ok ? d.message.xid : bytes.length >= 8 ? bytes.readUInt32BE(4) : -1;
    if (this.pending && xid === this.pending.xid) this.settle({ kind: 'reply', bytes });
  }

  ignored(mac: string, reason: string): void {
    if (this.pending && mac === this.pending.mac) this.settle({ kind: 'ignored', reason });
  }

  wait(xid: number, mac: string, ms: number): Promise<Answer> {
    return new Promise((done) => {
      const timer = setTimeout(() => this.settle({ kind: 'silence' }), ms);
      this.pending = {
        xid,
        mac,
        done: (a) => {
          clearTimeout(timer);
          done(a);
        },
      };
    });
  }

  private settle(a: Answer): void {
    const p = this.pending;
    this.pending = undefined;
    p?.done(a);
  }
}

async function bindSocket(address: string, port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await bindUdp(s, port, address);
  s.on('error', () => {});
  return s;
}

/** The local address the kernel would send from to reach `host`. */
async function localAddressFor(host: string, port: number): Promise<string> {
  const s = dgram.createSocket('udp4');
  try {
    await connectUdp(s, port, host);
    return s.address().address;
  } finally {
    s.close();
  }
}

const describe = (x: DhcpExchange) => {
  const m = x.request.message;
  return (
    `#${x.id} ${typeName(x.request.type)} from ${m.mac} (xid 0x${m.xid.toString(16).padStart(8, '0')}` +
    `${x.copies > 1 ? `, ${x.copies} copies` : ''})`
  );
};

/**
 * The subnet (CIDR text) an exchange belongs to: that of the address its recorded replies gave, else of
 * the relay, the client's address or the address it asks for, else the client's first one in the capture.
 */
function subnetFinder(
  exchanges: readonly DhcpExchange[],
  cfg: CaptureConfig | undefined,
): (x: DhcpExchange) => string | undefined {
  const cidrs = cfg ? cfg.config.subnets.map((s) => parseCidr(s.subnet)) : [];
  const find = (ip: string | undefined) =>
    ip === undefined || ip === '0.0.0.0' ? undefined : cidrs.find((c) => inCidr(c, ipToInt(ip)))?.text;
  const own = (x: DhcpExchange) => {
    const m = x.request.message;
    return (
      x.replies.map((r) => find(r.message.yiaddr)).find(Boolean) ??
      find(m.giaddr) ??
      find(m.ciaddr) ??
      find(m.options.requestedAddress())
    );
  };
  const byClient = new Map<string, string>();
  for (const x of exchanges) {
    const s = own(x);
    if (s && !byClient.has(x.request.message.mac)) byClient.set(x.request.message.mac, s);
  }
  const only = cidrs.length === 1 ? cidrs[0]!.text : undefined;
  return (x) => own(x) ?? byClient.get(x.request.message.mac) ?? only;
}

export async function replayDhcp(
  exchanges: readonly DhcpExchange[],
  o: DhcpReplayOptions,
): Promise<{ outcomes: Outcome[]; notes: string[] }> {
  if (exchanges.length === 0) return { outcomes: [], notes: [] };
  const builtin = o.server === 'builtin';
  const cfg = configFromReplies(exchanges);
  const skipAll = (reason: string) => ({
    outcomes: exchanges.map((x) => ({
      proto: 'dhcp' as const,
      what: describe(x),
      verdict: 'skipped' as const,
      detail: reason,
    })),
    notes: cfg?.notes ?? [],
  });
  if (builtin && !cfg) return skipAll('no reply in the capture gives an address to configure a server from');

  const relayAt =
    o.relay ??
    (o.server === 'builtin'
      ? { address: '127.0.0.1', port: 0 }
      : { address: await localAddressFor(o.server.host, o.server.port), port: 67 });
  const socket = await bindSocket(relayAt.address, relayAt.port);
  const relay = socket.address();
  const waiter = new Waiter();
  socket.on('message', (msg) => waiter.reply(msg));
  let server: DhcpServer | undefined;
  try {
    let target: HostPort;
    if (o.server === 'builtin') {
      const checked = checkConfig(cfg!.config, '127.0.0.1:0', relay.port);
      if (!checked.ok) return skipAll(`the configuration made from the replies is not valid: ${checked.error}`);
      try {
        server = await DhcpServer.start({ config: checked.config, store: new MemoryLeaseStore(), localAddresses: [] });
      } catch (e) {
        return skipAll(
          `the built-in server does not take the configuration made from the replies: ${(e as Error).message}`,
        );
      }
      server.on('ignored', (i) => waiter.ignored(i.mac, i.reason));
      target = { host: '127.0.0.1', port: server.address().port };
    } else {
      target = o.server;
    }
    const subnetOf = subnetFinder(exchanges, cfg);
    const firstPool = new Map(
      cfg?.config.subnets.map((s) => [s.subnet, (Array.isArray(s.pool) ? s.pool[0]! : s.pool).split('-')[0]!.trim()]),
    );
    const xids = new Map<string, number>();
    const addressMaps = new Map<string, Map<string, string>>();
    const serverIds = new Map<string, string>(); // mac -> server id of the replayed server's last answer
    const given = new Map<string, Set<string>>(); // mac -> addresses the recorded server offered or gave it
    const outcomes: Outcome[] = [];
    for (const x of exchanges) {
      const what = describe(x);
      const m = x.request.message;
      const type = x.request.type;
      if (type === undefined || !REPLAYED.has(type)) {
        outcomes.push({
          proto: 'dhcp',
          what,
          verdict: 'skipped',
          detail: `${typeName(type)} is not a client message this replay sends`,
        });
        continue;
      }
      const key = `${m.xid}|${m.chaddr.toString('hex')}`;
      let xid = xids.get(key);
      if (xid === undefined) {
        do xid = randomInt(1, 0xffffffff);
        while ([...xids.values()].includes(xid));
        xids.set(key, xid);
      }
      const subnet = subnetOf(x);
      const link = subnet ? firstPool.get(subnet) : undefined;
      let map = addressMaps.get(m.mac);
      if (!map) addressMaps.set(m.mac, (map = new Map<string, string>()));
      // A client naming the server that answered it in the capture names the replayed server now.
      const named = m.options.serverId();
      const answeredBy = named !== undefined && x.replies.some((r) => r.message.options.serverId() === named);
      const ours = serverIds.get(m.mac) ?? cfg?.config.serverId;
      const serverId = answeredBy && ours ? ours : undefined;
      let bytes: Buffer;
      try {
        bytes = rebuildRequest(m, {
          xid,
          giaddr: relay.address,
          ...(link ? { link } : {}),
          addressMap: map,
          ...(serverId ? { serverId } : {}),
        });
      } catch (e) {
        // A fuzzed header (hlen past 16, ...) that no packet can carry again.
        outcomes.push({
          proto: 'dhcp',
          what,
          verdict: 'skipped',
          detail: `the message cannot be rebuilt: ${(e as Error).message}`,
        });
        continue;
      }
      const sent = (decodeDhcp(bytes) as { ok: true; message: DhcpMessage }).message;
      const answer = await exchange(
        socket,
        waiter,
        bytes,
        target,
        xid,
        m.mac,
        EXPECTS_REPLY.has(type) ? (o.timeoutMs ?? 1000) : builtin ? 1000 : 300,
        EXPECTS_REPLY.has(type) ? 2 : 0,
      );
      const recorded = x.replies[0];
      const has = (subnet && cfg?.has.get(subnet)) || new Set<number>();
      let outcome = judge(what, answer, sent, recorded?.type, recorded?.message.yiaddr, has, map);
      if (answer.kind === 'reply') {
        const sid = replyServerId(answer.bytes);
        if (sid) serverIds.set(m.mac, sid);
      }
      // A NAK for an address the capture never saw the client get rests on lease state from before the
      // capture, which a fresh server does not have.
      let known = given.get(m.mac);
      if (!known) given.set(m.mac, (known = new Set()));
      const wanted = m.options.requestedAddress() ?? (m.ciaddr !== '0.0.0.0' ? m.ciaddr : undefined);
      if (outcome.verdict === 'different' && type === 3 && recorded?.type === 6 && wanted && !known.has(wanted)) {
        outcome = {
          ...outcome,
          verdict: 'skipped',
          detail:
            `the recorded NAK of ${wanted} rests on lease state from before the capture (` +
            `${outcome.detail.split(',')[0]} now)`,
        };
      }
      for (const r of x.replies)
        if ((r.type === 2 || r.type === 5) && r.message.yiaddr !== '0.0.0.0') known.add(r.message.yiaddr);
      outcomes.push(outcome);
    }
    return { outcomes, notes: cfg?.notes ?? [] };
  } finally {
    await server?.close();
    await new Promise<void>((r) => socket.close(() => r()));
  }
}

function replyServerId(bytes: Buffer): string | undefined {
  const d = decodeDhcp(bytes);
  return d.ok ? d.message.options.serverId() : undefined;
}

async function exchange(
  socket: dgram.Socket,
  waiter: Waiter,
  bytes: Buffer,
  to: HostPort,
  xid: number,
  mac: string,
  ms: number,
  resends: number,
): Promise<Answer> {
  for (let attempt = 0; ; attempt++) {
    const answer = waiter.wait(xid, mac, ms);
    socket.send(bytes, to.port, to.host);
    const a = await answer;
    if (a.kind !== 'silence' || attempt >= resends) return a;
  }
}

function judge(
  what: string,
  answer: Answer,
  sent: DhcpMessage,
  recordedType: number | undefined,
  recordedYiaddr: string | undefined,
  has: ReadonlySet<number>,
  map: Map<string, string>,
): Outcome {
  const base = { proto: 'dhcp' as const, what };
  if (answer.kind !== 'reply') {
    const why = answer.kind === 'ignored' ? `ignored: ${answer.reason}` : 'no reply';
    if (recordedType !== undefined)
      return { ...base, verdict: 'different', detail: `${why}; the recorded server sent ${typeName(recordedType)}` };
    return { ...base, verdict: 'ok', detail: `${why}, as recorded` };
  }
  const c = checkReply(answer.bytes, sent, recordedType, has);
  if (c.difference) return { ...base, verdict: 'different', detail: c.difference };
  const notes = [...c.notes];
  if (recordedType === undefined) notes.push('the recorded server did not answer');
  if (recordedYiaddr && c.yiaddr && recordedYiaddr !== '0.0.0.0') {
    if (c.yiaddr !== recordedYiaddr) notes.push(`address ${c.yiaddr}, recorded ${recordedYiaddr}`);
    map.set(recordedYiaddr, c.yiaddr);
  }
  const addr = c.yiaddr && c.yiaddr !== '0.0.0.0' ? ` ${c.yiaddr}` : '';
  const asked =
    c.type === 6 ? '' : c.asked.length ? ` with ${c.asked.join(', ')} as asked` : ' (asked for no option it has)';
  return { ...base, verdict: 'ok', detail: `${typeName(c.type)}${addr}${asked}`, ...(notes.length ? { notes } : {}) };
}
