/**
 * Sockets as promises: the one place that binds and connects node:dgram sockets, and that starts
 * node:net (http, https) servers listening. Each settles on the callback or on the first 'error'.
 */
import dgram, { type Socket } from 'node:dgram';
import type { ListenOptions, Server } from 'node:net';

/** Binds `socket` to host:port (port 0: any free one). */
export function bindUdp(socket: Socket, port: number, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/** Connects a bound `socket` to its peer: it then hears only the peer and sends without an address. */
export function connectUdp(socket: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/** Starts `server` (net, http, https) listening; rejects with the bind error (EADDRINUSE, EACCES…). */
export function listenTcp(server: Server, options: ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A UDP port that was free a moment ago on `host` (bind port 0, read it, close). */
export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    await bindUdp(s, 0, host);
    return s.address().port;
  } finally {
    await new Promise<void>((r) => s.close(() => r()));
  }
}

/** Closes a socket that may already be closed, or never was bound. */
export function closeUdp(socket: Socket | undefined): void {
  try {
    socket?.close();
  } catch {
    /* already closed */
  }
}
