/** bootwire's DHCP: codec, server (engine, leases) and clients (relay-style and broadcast). */
export * from './codec/index.js';
export { DhcpServer, type DhcpServerOptions, type DhcpServerStats, toRequest } from './server/server.js';
export { DhcpEngine, type ClientRequest, type Decision, type EngineConfig } from './server/engine.js';
export { compileDhcpConfig } from './server/compile.js';
export {
  type ClassConfig,
  type DhcpConfig,
  type Matcher,
  type OptionValue,
  type SubnetConfig,
  withDefaults,
} from './server/config.js';
export {
  LeaseFileError,
  MemoryLeaseStore,
  SqliteLeaseStore,
  sqliteAvailable,
  type Lease,
  type LeaseStore,
} from './leases/store.js';
export { FileLeaseStore } from './leases/file-store.js';
export { openLeaseStore } from './leases/open.js';
export {
  type DoraClient,
  type DoraConfig,
  type DoraEffects,
  DoraMachine,
  type DoraOverrides,
  type DoraResult,
  type PhoneIdentity,
} from './client/dora.js';
export {
  BroadcastClient,
  type BroadcastClientOptions,
  RelayClient,
  type RelayClientOptions,
} from './client/relay-client.js';
export * from './leases/query.js';
export * from './leases/control.js';
// Types the public API exposes (engine config and decisions, lease stores, reconfigure, DORA results).
export type { CompiledClass, CompiledSubnet, Destination, SubnetLeaseSummary, TextMatch } from './server/engine.js';
export type { FilledClass, FilledDhcpConfig, FilledSubnet } from './server/config.js';
export type { LeaseReleaseResult, PreparedDhcpChange } from './server/server.js';
export type { LeaseState, SqliteLeaseStoreOptions } from './leases/store.js';
export type { FileLeaseStoreOptions } from './leases/file-store.js';
export type { OpenLeaseStoreOptions } from './leases/open.js';
export type { DoraLease } from './client/dora.js';
export type { NameRead } from './codec/dns-name.js';
