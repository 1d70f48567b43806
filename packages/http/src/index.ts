/** bootwire's HTTP side: the file server over the shared copies, its pure request logic, and a client. */
export * from './server.js';
export * from './client.js';
export * from './ranges.js';
export * from './conditional.js';
export * from './content-type.js';
export * from './http-date.js';
export * from './target.js';
export * from './backup.js';
export * from './backup-target.js';
