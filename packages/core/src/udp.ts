/** node:dgram sockets as promises: the one place that binds and connects them. */
import type { Socket } from 'node:dgram';

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

/** Closes a socket that may already be closed, or never was bound. */
export function closeUdp(socket: Socket | undefined): void {
  try {
    socket?.close();
  } catch {
    /* already closed */
  }
}
