/** A UDP socket for hand-driven protocol tests: send bytes, await the next datagram (with a timeout). */
import dgram from 'node:dgram';
import { bindUdp } from '../../packages/core/src/udp.js';

export interface Datagram {
  msg: Buffer;
  address: string;
  port: number;
}

export class RawUdp {
  private readonly inbox: Datagram[] = [];
  private waiter: ((d: Datagram) => void) | undefined;

  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (msg, r) => {
      const d = { msg, address: r.address, port: r.port };
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(d);
      } else this.inbox.push(d);
    });
    socket.on('error', () => {});
  }

  static async open(host = '127.0.0.1'): Promise<RawUdp> {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await bindUdp(s, 0, host);
    return new RawUdp(s);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(bytes: Buffer, port: number, host = '127.0.0.1'): void {
    this.socket.send(bytes, port, host);
  }

  /** The next datagram, or undefined after `ms`. */
  next(ms = 2000): Promise<Datagram | undefined> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        resolve(undefined);
      }, ms);
      this.waiter = (d) => {
        clearTimeout(t);
        resolve(d);
      };
    });
  }

  /** Closes after a tick: dgram sends on the next tick, so closing at once would drop the last send. */
  close(): void {
    setImmediate(() => this.socket.close());
  }
}
