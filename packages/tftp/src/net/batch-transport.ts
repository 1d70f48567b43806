/**
 * A transfer's socket on batched native UDP (src/net/batch-udp.ts), with its back-pressure.
 *
 * A server knows its peer from the start: its batch socket is connected to the peer, and an ordinary
 * socket on the same port (both SO_REUSEADDR) takes everyone else's datagrams, which Linux delivers to
 * the unconnected one. A client's socket is unconnected until the server's first answer tells its
 * TID; then it is connected too (the kernel drops strangers' datagrams from then on).
 */
import dgram from 'node:dgram';
import { intToIp, ipToInt } from '@bootwire/core';
import { BatchSocket } from './batch-udp.js';
import type { SendCounters } from './send-counters.js';
import type { Endpoint, TransferTransport, TransportOptions } from './transport.js';
import { bindUdp, closeUdp } from '@bootwire/core';

/** What a sending transfer usually gets from its peer: ACKs and short ERRORs. */
const DEFAULT_SLOT_BYTES = 512;

export class BatchTransport implements TransferTransport {
  readonly kind = 'batch';
  readonly peer: Endpoint;
  onPeer: (msg: Buffer | null) => void = () => {};
  onStranger: (msg: Buffer | null, from: Endpoint) => void = () => {};
  private readonly peerAddress: number;
  /** Connected to the peer: every datagram the socket gets is the peer's. */
  private connected: boolean;

  private constructor(
    private readonly socket: BatchSocket,
    private readonly strangers: dgram.Socket | undefined,
    peer: Endpoint,
    connected: boolean,
  ) {
    this.peer = { ...peer };
    this.peerAddress = ipToInt(peer.address);
    this.connected = connected;
    socket.onMessage = this.arrive;
    strangers?.on('message', (msg, from) => this.onStranger(msg, { address: from.address, port: from.port }));
  }

  static async open(o: TransportOptions): Promise<BatchTransport> {
    const slotBytes = o.slotBytes ?? DEFAULT_SLOT_BYTES;
    const burst = o.burst ?? 1;
    if (!o.peerPortKnown)
      return new BatchTransport(new BatchSocket({ address: o.local, slotBytes, burst }), undefined, o.peer, false);
    const strangers = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    strangers.on('error', () => {});
    let socket: BatchSocket | undefined;
    try {
      await bindUdp(strangers, 0, o.local);
      socket = new BatchSocket({ address: o.local, port: strangers.address().port, reuseAddr: true, slotBytes, burst });
      socket.connect(o.peer.address, o.peer.port);
      return new BatchTransport(socket, strangers, o.peer, true);
    } catch (e) {
      socket?.close();
      closeUdp(strangers);
      throw e;
    }
  }

  get port(): number {
    return this.socket.port;
  }

  get counters(): SendCounters {
    return this.socket.counters;
  }

  private readonly arrive = (msg: Buffer | null, address: number, port: number): void => {
    if (this.connected) return this.onPeer(msg);
    if (address !== this.peerAddress) return this.onStranger(msg, { address: intToIp(address), port });
    // A client's first answer: the server's TID. From now on only it reaches the socket.
    this.peer.port = port;
    this.connected = true;
    try {
      this.socket.connect(this.peer.address, port);
    } catch {
      /* closed under us: the machine's timer ends the transfer */
    }
    this.onPeer(msg);
  };

  queue(head: Buffer, body?: Buffer): void {
    if (this.connected) this.socket.queue(head, body);
    else this.countSend(this.socket.sendTo(this.peerAddress, this.peer.port, head, body)); // a client's request
  }

  flush(): void {
    this.socket.flush();
  }

  private countSend(r: number): void {
    // A request the kernel refuses is sent again by the machine's retry timer, like a lost one.
    if (r >= 0) this.socket.counters.datagrams++;
    else this.socket.counters.errors++;
  }

  sendTo(to: Endpoint, packet: Buffer): void {
    try {
      if (this.strangers) this.strangers.send(packet, to.port, to.address);
      else this.socket.sendTo(ipToInt(to.address), to.port, packet);
    } catch {
      /* closing */
    }
  }

  unref(): void {
    this.socket.unref();
    this.strangers?.unref();
  }

  close(): Promise<void> {
    this.socket.onMessage = () => {};
    this.socket.close();
    closeUdp(this.strangers);
    return Promise.resolve();
  }
}
