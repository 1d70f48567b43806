/**
 * A transfer's socket on node:dgram: IPv6, machines without the native addon, BOOTWIRE_UDP=dgram.
 *
 * libuv keeps what the kernel has no room for in the socket's send queue and sends it when the socket
 * is writable: that is this transport's back-pressure (counted as `deferred`). A server's socket is
 * connected to its peer (no address lookup per send: about 15% of a block's cost on loopback), with an
 * unconnected socket on the same port for everyone else's datagrams.
 */
import dgram, { type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { emptySendCounters } from './send-counters.js';
import type { Endpoint, TransferTransport, TransportOptions } from './transport.js';
import { bindUdp, closeUdp, connectUdp } from '@bootwire/core';

/** How long `close` waits for what libuv still holds to leave. */
const CLOSE_WAIT_MS = 100;

export class DgramTransport implements TransferTransport {
  readonly kind = 'dgram';
  readonly peer: Endpoint;
  readonly counters = emptySendCounters();
  onPeer: (msg: Buffer | null) => void = () => {};
  onStranger: (msg: Buffer | null, from: Endpoint) => void = () => {};
  private learning: boolean;

  private constructor(
    private readonly socket: Socket,
    private readonly strangers: Socket | undefined,
    peer: Endpoint,
    private readonly connected: boolean,
  ) {
    this.peer = { ...peer };
    this.learning = !connected;
    socket.on('message', this.arrive);
    socket.on('error', () => {}); // ICMP errors and the like: the machine's timer decides
    strangers?.on('message', (msg, from) => this.onStranger(msg, { address: from.address, port: from.port }));
  }

  static async open(o: TransportOptions): Promise<DgramTransport> {
    const type = isIPv6(o.local) || isIPv6(o.peer.address) ? 'udp6' : 'udp4';
    if (!o.peerPortKnown) {
      const socket = dgram.createSocket(type);
      try {
        await bindUdp(socket, 0, o.local);
      } catch (e) {
        closeUdp(socket);
        throw e;
      }
      return new DgramTransport(socket, undefined, o.peer, false);
    }
    const strangers = dgram.createSocket({ type, reuseAddr: true });
    strangers.on('error', () => {});
    const socket = dgram.createSocket({ type, reuseAddr: true });
    socket.on('error', () => {});
    try {
      await bindUdp(strangers, 0, o.local);
      await bindUdp(socket, strangers.address().port, o.local);
      await connectUdp(socket, o.peer.port, o.peer.address);
    } catch (e) {
      closeUdp(strangers);
      closeUdp(socket);
      throw e;
    }
    return new DgramTransport(socket, strangers, o.peer, true);
  }

  get port(): number {
    return this.socket.address().port;
  }

  private readonly arrive = (msg: Buffer, from: dgram.RemoteInfo): void => {
    if (this.connected) return this.onPeer(msg);
    if (from.address !== this.peer.address || (from.port !== this.peer.port && !this.learning)) {
      return this.onStranger(msg, { address: from.address, port: from.port });
    }
    if (this.learning) {
      this.learning = false;
      this.peer.port = from.port;
    }
    this.onPeer(msg);
  };

  queue(head: Buffer, body?: Buffer): void {
    const data = body === undefined || body.length === 0 ? head : [head, body];
    try {
      // No callback: dgram then completes a send without a tick of its own.
      if (this.connected) this.socket.send(data);
      else this.socket.send(data, this.peer.port, this.peer.address);
    } catch {
      this.counters.errors++; // closed under us: the machine's timer ends the transfer
      return;
    }
    this.counters.datagrams++;
    if (this.socket.getSendQueueCount() > 0) this.counters.deferred++;
  }

  /** Datagrams left as they were queued (libuv keeps their order). */
  flush(): void {}

  sendTo(to: Endpoint, packet: Buffer): void {
    try {
      (this.strangers ?? this.socket).send(packet, to.port, to.address);
    } catch {
      /* closing */
    }
  }

  unref(): void {
    this.socket.unref();
    this.strangers?.unref();
  }

  /** Waits for the last datagrams (a final ACK or ERROR): an unconnected send starts on a later tick. */
  async close(): Promise<void> {
    this.socket.off('message', this.arrive);
    await new Promise((r) => setImmediate(r));
    for (let waited = 0; waited < CLOSE_WAIT_MS && this.socket.getSendQueueCount() > 0; waited += 5)
      await new Promise((r) => setTimeout(r, 5));
    closeUdp(this.socket);
    closeUdp(this.strangers);
  }
}
