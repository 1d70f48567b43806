/**
 * A lossy UDP relay for TFTP tests.
 *
 * The relay sits between TFTP clients and a TFTP server on loopback and
 * drops, duplicates and reorders a configurable share of packets in both
 * directions, deterministically from a seed.
 *
 * TFTP answers every transfer from a fresh server port (the server's transfer
 * ID), so the relay behaves like a port-preserving NAT:
 *
 *   client ──► relay main port ──► [upstream socket U of that client] ──► server:69
 *   server:P ──► U ──► relay downstream socket D_P ──► client
 *   client ──► D_P ──► U ──► server:P
 *   server:69 ──► U ──► relay main port ──► client
 *
 * - Each distinct client address:port gets its own upstream socket U (a "flow").
 * - Each distinct server source (address, port P) seen on U, other than the
 *   target's well-known port, gets its own downstream socket D_P, bound on
 *   `listenHost` with an ephemeral port. The client therefore sees one relay
 *   port per server TID, just as if it talked to the server directly.
 *
 * Impairments are applied per packet, independently per flow and direction
 * ("lane"). Each lane has its own mulberry32 stream derived from `seed`, the
 * flow's creation index and the direction, and every packet consumes exactly
 * three draws (drop, duplicate, reorder). The fate of the n-th packet of a
 * lane is therefore a pure function of (seed, flow index, direction, n),
 * independent of timing and of traffic in other lanes.
 */
import { mulberry32 } from '../../packages/core/src/faults.js';
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { bindUdp } from '../../packages/core/src/udp.js';
import type { HostPort } from '../../packages/core/src/hostport.js';

/** Direction of a packet through the relay. */
export type RelayDirection = 'toServer' | 'toClient';

/** Extra information passed to the {@link LossyRelayOptions.dropFirst} hook. */
export interface RelayPacketInfo {
  /** Creation index of the client flow (0 for the first client address:port seen). */
  flow: number;
  /** 0-based index of this packet within its lane (flow + direction). */
  seq: number;
}

export interface LossyRelayOptions {
  /** Where the real (TFTP) server listens, e.g. `{ host: '127.0.0.1', port: 6969 }`. */
  target: HostPort;
  /** Address the relay's client-facing sockets bind to. Default `'127.0.0.1'`. */
  listenHost?: string;
  /** Port of the main relay socket. Default 0 (ephemeral). */
  listenPort?: number;
  /**
   * Address the upstream (server-facing) sockets bind to. Default: `listenHost`
   * when both it and the target are loopback addresses of the same family,
   * otherwise unspecified (the OS chooses).
   */
  upstreamHost?: string;
  /** Probability in [0, 1] that a packet is discarded. Default 0. */
  drop?: number;
  /** Probability in [0, 1] that a (not dropped) packet is sent twice. Default 0. */
  duplicate?: number;
  /**
   * Probability in [0, 1] that a (not dropped) packet is held back and released
   * right after the next packet sent in the same lane, or after `delayMs` if
   * no such packet comes. Default 0.
   */
  reorder?: number;
  /** PRNG seed. Default 1. */
  seed?: number;
  /** Maximum time a reordered packet is held, in ms. Default 20. */
  delayMs?: number;
  /** Idle time after which a flow / downstream socket is torn down, in ms. Default 10000. */
  idleMs?: number;
  /**
   * Deterministic drop hook, consulted before the random impairments. Returning
   * true drops the packet (counted in `stats.dropped`). The packet's PRNG draws
   * are consumed either way, so the hook does not shift the random pattern of
   * later packets. Exceptions thrown by the hook are ignored (treated as false).
   */
  dropFirst?: (dir: RelayDirection, packet: Buffer, info: RelayPacketInfo) => boolean;
}

/**
 * Live counters (mutated in place as packets flow). Every packet received by
 * the relay from a legitimate peer is counted exactly once in either
 * `forwarded` or `dropped`, so `forwarded + dropped` equals the number of
 * packets the endpoints sent through the relay. `duplicated` counts the extra
 * copies (datagrams emitted = forwarded + duplicated, unless the relay is closed
 * while packets are held); `reordered` counts packets that were held back
 * (a subset of `forwarded`). Decisions are counted when made.
 */
export interface LossyRelayStats {
  forwarded: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

export interface LossyRelay {
  /** Address clients should send to. */
  host: string;
  /** Main relay port clients should send their requests to. */
  port: number;
  /** Live counters. */
  stats: LossyRelayStats;
  /** Close every socket and cancel pending timers. Idempotent. */
  close(): Promise<void>;
}

export { mulberry32 };

/** Mix the seed with a lane number into a well-spread 32-bit lane seed. */
function laneSeed(seed: number, lane: number): number {
  let h = (seed ^ Math.imul(lane + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function checkProbability(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new RangeError(`lossy-relay: ${name} must be a probability in [0, 1], got ${value}`);
  }
  return value;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function socketType(host: string): dgram.SocketType {
  return isIPv6(host) ? 'udp6' : 'udp4';
}

/** A bound-on-demand socket that queues outgoing datagrams until it is listening. */
class Endpoint {
  readonly sock: dgram.Socket;
  lastActivity = Date.now();
  private ready = false;
  private closed = false;
  private queue: Array<{ buf: Buffer; port: number; host: string }> = [];
  private closing: Promise<void> | undefined;

  constructor(
    type: dgram.SocketType,
    bindHost: string | undefined,
    onMessage: (msg: Buffer, rinfo: dgram.RemoteInfo) => void,
  ) {
    this.sock = dgram.createSocket(type);
    this.sock.on('error', () => {
      // Never throw. A socket that failed to bind is useless: drop its queue.
      if (!this.ready) this.queue = [];
    });
    this.sock.on('message', (msg, rinfo) => {
      if (this.closed) return;
      this.lastActivity = Date.now();
      onMessage(msg, rinfo);
    });
    const bindOpts: dgram.BindOptions = { port: 0 };
    if (bindHost !== undefined) bindOpts.address = bindHost;
    try {
      this.sock.bind(bindOpts, () => {
        this.ready = true;
        const queued = this.queue;
        this.queue = [];
        for (const q of queued) this.send(q.buf, q.port, q.host);
      });
    } catch {
      // ignore; the socket stays unusable
    }
  }

  send(buf: Buffer, port: number, host: string): void {
    if (this.closed) return;
    if (!this.ready) {
      this.queue.push({ buf, port, host });
      return;
    }
    try {
      this.sock.send(buf, port, host, () => {
        // errors (e.g. ICMP unreachable) are ignored
      });
    } catch {
      // ERR_SOCKET_DGRAM_NOT_RUNNING etc.
    }
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.queue = [];
    this.closing = new Promise<void>((resolve) => {
      try {
        this.sock.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.closing;
  }
}

interface Lane {
  rng: () => number;
  seq: number;
  held: Array<() => void>;
  timer: NodeJS.Timeout | undefined;
}

interface Downstream {
  ep: Endpoint;
  serverHost: string;
  serverPort: number;
}

interface Flow {
  id: number;
  key: string;
  clientHost: string;
  clientPort: number;
  upstream: Endpoint;
  downs: Map<string, Downstream>;
  lanes: Record<RelayDirection, Lane>;
  lastActivity: number;
}

/**
 * Start a lossy relay in front of `opts.target`. Resolves once the main relay
 * socket is listening; rejects on invalid options or if it cannot bind.
 */
export async function startLossyRelay(opts: LossyRelayOptions): Promise<LossyRelay> {
  const target = opts.target;
  const listenHost = opts.listenHost ?? '127.0.0.1';
  const drop = checkProbability('drop', opts.drop ?? 0);
  const duplicate = checkProbability('duplicate', opts.duplicate ?? 0);
  const reorder = checkProbability('reorder', opts.reorder ?? 0);
  const seed = (opts.seed ?? 1) >>> 0;
  const delayMs = Math.max(0, opts.delayMs ?? 20);
  const idleMs = Math.max(1, opts.idleMs ?? 10_000);
  const dropFirst = opts.dropFirst;

  const downType = socketType(listenHost);
  const upType = socketType(target.host);
  const upstreamHost =
    opts.upstreamHost ??
    (isLoopback(listenHost) && isLoopback(target.host) && downType === upType && listenHost !== 'localhost'
      ? listenHost
      : undefined);

  const stats: LossyRelayStats = { forwarded: 0, dropped: 0, duplicated: 0, reordered: 0 };
  const flows = new Map<string, Flow>();
  let nextFlowId = 0;
  let closed = false;

  // ---- main socket -------------------------------------------------------
  const main = dgram.createSocket(downType);
  await bindUdp(main, opts.listenPort ?? 0, listenHost).catch((err: unknown) => {
    try {
      main.close();
    } catch {
      // ignore
    }
    throw err;
  });
  main.on('error', () => {
    // never throw
  });
  const mainAddr = main.address();

  const sendFromMain = (buf: Buffer, port: number, host: string): void => {
    if (closed) return;
    try {
      main.send(buf, port, host, () => {
        // ignore
      });
    } catch {
      // ignore
    }
  };

  // ---- impairment pipeline ----------------------------------------------
  const releaseHeld = (lane: Lane): void => {
    if (lane.timer !== undefined) {
      clearTimeout(lane.timer);
      lane.timer = undefined;
    }
    const held = lane.held;
    lane.held = [];
    for (const emit of held) emit();
  };

  const impair = (flow: Flow, dir: RelayDirection, packet: Buffer, send: () => void): void => {
    if (closed) return;
    const lane = flow.lanes[dir];
    const seq = lane.seq++;
    const rDrop = lane.rng();
    const rDup = lane.rng();
    const rReorder = lane.rng();

    let forced = false;
    if (dropFirst) {
      try {
        forced = dropFirst(dir, packet, { flow: flow.id, seq }) === true;
      } catch {
        forced = false;
      }
    }
    if (forced || rDrop < drop) {
      stats.dropped++;
      return;
    }
    stats.forwarded++;

    const twice = rDup < duplicate;
    if (twice) stats.duplicated++;
    const emit = (): void => {
      send();
      if (twice) send();
    };

    if (rReorder < reorder) {
      stats.reordered++;
      lane.held.push(emit);
      if (lane.timer === undefined) {
        lane.timer = setTimeout(() => {
          lane.timer = undefined;
          if (!closed) releaseHeld(lane);
        }, delayMs);
        lane.timer.unref();
      }
      return;
    }
    emit();
    // Held packets go out right after this later one, i.e. out of order.
    releaseHeld(lane);
  };

  // ---- flows ---------------------------------------------------------------
  const newLane = (flowId: number, dir: RelayDirection): Lane => ({
    rng: mulberry32(laneSeed(seed, flowId * 2 + (dir === 'toServer' ? 0 : 1))),
    seq: 0,
    held: [],
    timer: undefined,
  });

  const getDownstream = (flow: Flow, serverHost: string, serverPort: number): Downstream => {
    const key = `${serverHost}|${serverPort}`;
    let down = flow.downs.get(key);
    if (down) return down;
    const ep = new Endpoint(downType, listenHost, (msg, rinfo) => {
      // Only the flow's client may talk to its downstream socket.
      if (rinfo.address !== flow.clientHost || rinfo.port !== flow.clientPort) return;
      flow.lastActivity = Date.now();
      impair(flow, 'toServer', msg, () => flow.upstream.send(msg, serverPort, serverHost));
    });
    down = { ep, serverHost, serverPort };
    flow.downs.set(key, down);
    return down;
  };

  const onFromServer = (flow: Flow, msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    flow.lastActivity = Date.now();
    if (rinfo.port === target.port) {
      // Answer from the well-known port: back through the main relay socket.
      impair(flow, 'toClient', msg, () => sendFromMain(msg, flow.clientPort, flow.clientHost));
      return;
    }
    const down = getDownstream(flow, rinfo.address, rinfo.port);
    down.ep.lastActivity = Date.now();
    impair(flow, 'toClient', msg, () => down.ep.send(msg, flow.clientPort, flow.clientHost));
  };

  const getFlow = (clientHost: string, clientPort: number): Flow => {
    const key = `${clientHost}|${clientPort}`;
    const existing = flows.get(key);
    if (existing) return existing;
    const id = nextFlowId++;
    // `flow` is referenced by the upstream callback only after construction.
    const flow: Flow = {
      id,
      key,
      clientHost,
      clientPort,
      upstream: undefined as unknown as Endpoint,
      downs: new Map(),
      lanes: { toServer: newLane(id, 'toServer'), toClient: newLane(id, 'toClient') },
      lastActivity: Date.now(),
    };
    flow.upstream = new Endpoint(upType, upstreamHost, (msg, rinfo) => onFromServer(flow, msg, rinfo));
    flows.set(key, flow);
    return flow;
  };

  const closeFlow = (flow: Flow): Promise<unknown> => {
    flows.delete(flow.key);
    for (const lane of Object.values(flow.lanes)) {
      if (lane.timer !== undefined) clearTimeout(lane.timer);
      lane.timer = undefined;
      lane.held = [];
    }
    const closing = [flow.upstream.close(), ...[...flow.downs.values()].map((d) => d.ep.close())];
    flow.downs.clear();
    return Promise.all(closing);
  };

  main.on('message', (msg, rinfo) => {
    if (closed) return;
    const flow = getFlow(rinfo.address, rinfo.port);
    flow.lastActivity = Date.now();
    impair(flow, 'toServer', msg, () => flow.upstream.send(msg, target.port, target.host));
  });

  // ---- idle sweep ----------------------------------------------------------
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const flow of [...flows.values()]) {
        for (const [key, down] of [...flow.downs]) {
          if (now - down.ep.lastActivity > idleMs) {
            flow.downs.delete(key);
            void down.ep.close();
          }
        }
        if (now - flow.lastActivity > idleMs) void closeFlow(flow);
      }
    },
    Math.max(50, Math.min(1000, Math.floor(idleMs / 2))),
  );
  sweep.unref();

  // ---- close -----------------------------------------------------------------
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (closing) return closing;
    closed = true;
    clearInterval(sweep);
    const all: Array<Promise<unknown>> = [...flows.values()].map((f) => closeFlow(f));
    all.push(
      new Promise<void>((resolve) => {
        try {
          main.close(() => resolve());
        } catch {
          resolve();
        }
      }),
    );
    closing = Promise.all(all).then(() => undefined);
    return closing;
  };

  return { host: mainAddr.address, port: mainAddr.port, stats, close };
}
