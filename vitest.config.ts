import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** Tests run on the packages' sources: `@bootwire/x` is its src/index.ts, as tsconfig.json's paths say. */
const source = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      ...['core', 'tftp', 'dhcp', 'capture', 'http', 'ftp'].map((p) => ({
        find: new RegExp(`^@bootwire/${p}$`),
        replacement: source(p),
      })),
      { find: /^bootwire$/, replacement: source('bootwire') },
    ],
  },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'all', include: ['test/**/*.test.ts'] } },
      // The TFTP suites again on node:dgram, the path bootwire takes where the native batch sockets
      // (packages/tftp/native/udp_batch.c) are not built, off Linux, or over IPv6.
      { extends: true, test: { name: 'dgram', include: ['test/tftp/**/*.test.ts'], env: { BOOTWIRE_UDP: 'dgram' } } },
    ],
  },
});
