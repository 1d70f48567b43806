/** The TFTP engine's public API: codec, pure transfer machines, server and client. */
export * from './packet.js';
export * from './codec.js';
export * from './netascii.js';
export * from './block-source.js';
export * from './transfer.js';
export * from './sender.js';
export * from './receiver.js';
export * from './negotiate.js';
export * from './udp-transfer.js';
export * from './server.js';
export * from './client.js';
// Types the public classes expose (UdpTransfer.transport, TftpServerStats.udp).
export type { TransferTransport } from './net/transport.js';
export type { SendCounters } from './net/send-counters.js';
