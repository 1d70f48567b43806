/** bootwire's DHCP: codec, server (engine, leases) and clients (relay-style and broadcast). */
export * from './codec/index.js';
export { DhcpServer, type DhcpServerOptions, type DhcpServerStats, toRequest } from './server/server.js';
export { DhcpEngine, type ClientRequest, type Decision, type EngineConfig } from './server/engine.js';
export { compileDhcpConfig } from './server/compile.js';
export { type ClassConfig, type DhcpConfig, type Matcher, type OptionValue, type SubnetConfig, withDefaults } from './server/config.js';
export { LeaseFileError, MemoryLeaseStore, SqliteLeaseStore, sqliteAvailable, type Lease, type LeaseStore } from './leases/store.js';
export { FileLeaseStore } from './leases/file-store.js';
export { openLeaseStore } from './leases/open.js';
export { type DoraClient, type DoraConfig, type DoraEffects, DoraMachine, type DoraOverrides, type DoraResult, type PhoneIdentity } from './client/dora.js';
export { BroadcastClient, type BroadcastClientOptions, RelayClient, type RelayClientOptions } from './client/relay-client.js';
export * from './leases/query.js';
export * from './leases/control.js';
