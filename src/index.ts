/** bootwire's library API. */
export * from './tftp/index.js';
export { ImageCache, type CachedFile, type FileLease } from './files/image-cache.js';
export { AtomicFile } from './files/atomic-file.js';
export { openRoot, resolveForRead, resolveForWrite, type Resolved } from './files/root.js';
export * from './files/resolver.js';
export { createRootResolver, macDirectory, type RootResolver, type RootResolverOptions, type UniqueRoot } from './files/root-resolver.js';
export { loadRemapFile, nameRules, RemapFileError, type NameRulesOptions } from './files/names.js';
export { applyRemap, parseRemapRules, type RemapContext, type RemapResult, type RemapRules } from './files/remap.js';
export type {
  HttpTransferRecord,
  PhoneRef,
  ServerWarning,
  TftpTransferRecord,
  TransferBase,
  TransferProtocol,
  TransferRecord,
  TransferRecords,
  TransferStart,
  WarningCode,
} from './server/records.js';
export * from './server/phones.js';
export * as dhcp from './dhcp/index.js';
export { loadConfig, parseConfig, ConfigError } from './config/load.js';
export type { BootwireConfig } from './config/schema.js';
export * as capture from './capture/index.js';
export * as http from './http/index.js';
export * as phones from './phones/index.js';
