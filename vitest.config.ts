import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'all', include: ['test/**/*.test.ts'] } },
      // The TFTP suites again on node:dgram, the path bootwire takes where the native batch sockets
      // (native/udp_batch.c) are not built, off Linux, or over IPv6.
      { extends: true, test: { name: 'dgram', include: ['test/tftp/**/*.test.ts'], env: { BOOTWIRE_UDP: 'dgram' } } },
    ],
  },
});
