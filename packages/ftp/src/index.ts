/** bootwire's FTP side: a read-only server over the shared copies, its pure session logic, and a client. */
export * from './server.js';
export * from './session.js';
export * from './files.js';
export * from './listing.js';
export * from './client.js';
