/** bootwire's library API. */
export * from '@bootwire/tftp';
export { ImageCache, type CachedFile, type FileLease } from '@bootwire/core';
export { AtomicFile } from '@bootwire/core';
export { openRoot, resolveForRead, resolveForWrite, type Resolved } from '@bootwire/core';
export * as dhcp from '@bootwire/dhcp';
export { loadConfig, parseConfig, ConfigError } from './config/load.js';
export type { BootwireConfig } from './config/schema.js';
export * as capture from '@bootwire/capture';
export * as http from '@bootwire/http';
export * as phones from './phones/index.js';
