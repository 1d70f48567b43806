/** bootwire's library API. */
export * from './tftp/index.js';
export { ImageCache, type CachedFile, type FileLease } from './files/image-cache.js';
export { AtomicFile } from './files/atomic-file.js';
export { openRoot, resolveForRead, resolveForWrite, type Resolved } from './files/root.js';
export * as dhcp from './dhcp/index.js';
export { loadConfig, parseConfig, ConfigError } from './config/load.js';
export type { BootwireConfig } from './config/schema.js';
export * as capture from './capture/index.js';
export * as http from './http/index.js';
export * as ftp from './ftp/index.js';
export * as phones from './phones/index.js';
