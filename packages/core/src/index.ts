/**
 * What bootwire's protocol packages share: IPv4 numbers and CIDRs, HOST:PORT parsing, quoting client
 * text for messages, node:dgram sockets as promises, injected packet faults, and the files a server
 * serves (a provisioning root resolved safely, one shared copy per file version, durable uploads).
 */
export * from './ipv4.js';
export * from './hostport.js';
export * from './quote.js';
export * from './udp.js';
export * from './faults.js';
export * from './files/root.js';
export * from './files/image-cache.js';
export * from './files/atomic-file.js';
export * from './files/resolver.js';
export * from './files/root-resolver.js';
export * from './files/names.js';
export * from './files/remap.js';
export { re2 } from './re2.js';
export * from './server/phones.js';
export * from './server/records.js';
export * from './credentials.js';
export * from './connections.js';
