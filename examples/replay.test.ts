/**
 * A capture replayed inside a test: the client side of every TFTP conversation in the file (curl
 * fetching a file from bootwire, recorded with tcpdump) is replayed against a bootwire TFTP server
 * started for it, and the bytes it gets are compared by hash with the recorded ones.
 *
 *   npx vitest run replay.test.ts
 */
import { fileURLToPath } from 'node:url';
import { replayCapture, summarizeReplay } from 'bootwire';
import { expect, it } from 'vitest';

it('a recorded TFTP fetch replays against bootwire, byte for byte', async () => {
  const report = await replayCapture(fileURLToPath(new URL('./tftp-curl-bootwire.pcapng', import.meta.url)));
  expect(report.unreadable).toBeUndefined();
  expect(report.outcomes.length).toBeGreaterThan(0);
  for (const o of report.outcomes) expect(o.verdict, o.detail).toBe('ok');
  expect(summarizeReplay(report).different).toBe(0);
});
