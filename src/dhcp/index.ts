/** bootwire's DHCP: codec, server and relay-style client. */
export * from './codec/index.js';
export { DhcpServer, type DhcpServerOptions, type DhcpServerStats, toRequest } from './server/server.js';
export { DhcpEngine, type ClientRequest, type Decision, type EngineConfig } from './server/engine.js';
export { compileDhcpConfig } from './server/compile.js';
export { LeaseFileError, MemoryLeaseStore, SqliteLeaseStore, type Lease, type LeaseStore } from './leases/store.js';
export { DoraMachine, type DoraResult, type PhoneIdentity } from './client/dora.js';
export { RelayClient, type RelayClientOptions } from './client/relay-client.js';
