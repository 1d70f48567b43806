/**
 * `bootwire storm` when the network or the server fails: 5% loss at the phones' sockets (every phone
 * still boots, on retries), and a file server that is not there (every phone fails, exit 1, once the
 * phones' own retries are spent). Slow by nature (a lost datagram costs a phone its 2 s timeout), so
 * small images, and in a file of its own so it runs next to the others.
 */
import { describe, it } from 'vitest';
import { expectAllBooted, modelPhones, stormCli, type StormJson, useInitRoot } from './helpers.js';

const site = useInitRoot('bw-storm-faults-', '32k');

// Concurrent: the two wait on timeouts, not on the CPU.
describe.concurrent('bootwire storm with faults', () => {
  // 32 KiB images: 65 lock-step blocks, about 13 losses a phone, each waiting out a 2 s timeout.
  it(
    '--loss 5% --protocols tftp: every phone boots with every byte; the losses cost retransmissions',
    { timeout: 120_000 },
    async ({ expect }) => {
      const r = await stormCli([
        '--phones',
        '20',
        '--root',
        site.root,
        '--protocols',
        'tftp',
        '--loss',
        '5%',
        '--json',
      ]);
      const j = expectAllBooted(expect, r, site.root, { '4610': 6, '1608': 2, '9608': 6, '1230': 2, '440HD': 4 });
      expect(j.bytesByProtocol).toEqual({ tftp: j.bytes });
      expect(j.faults.dropped).toBeGreaterThan(0);
      expect([j.faults.duplicated, j.faults.reordered]).toEqual([0, 0]);
      expect(j.retransmits).toBeGreaterThan(0);
      console.log(
        `storm 20 phones --loss 5%: ${j.faults.dropped} dropped, ${j.retransmits} retransmits, wall ` +
          `${j.wallSeconds} s, boot p50 ${j.bootSeconds.p50} s max ${j.bootSeconds.max} s (process ` +
          `${r.seconds} s)`,
      );
    },
  );

  // Nothing listens on port 1. Each phone's first request times out after the TFTP client's back-off:
  // 2 s, doubling, at most 8 s, 5 retries = 2+4+8+8+8+8 = 38 s (src/tftp/transfer.ts), all at once.
  it('a server that is down: every phone fails with its reason, exit 1', { timeout: 120_000 }, async ({ expect }) => {
    const r = await stormCli(
      ['--server', 'tftp://127.0.0.1:1/', '--dhcp', 'none', '--phones', '3', '--root', site.root, '--json'],
      { timeoutMs: 110_000 },
    );
    expect(r.result.timedOut).toBe(false);
    expect(r.code, r.stderr).toBe(1);
    const j = r.json as StormJson;
    expect([j.phones, j.booted, j.failed, j.bytes, j.imagesDownloaded]).toEqual([3, 0, 3, 0, 0]);
    expect(modelPhones(j)).toEqual({ '4610': 1, '9608': 1, '440HD': 1 });
    expect(j.failures).toEqual({
      'script: script 46xxupgrade.scr: transfer failed (error N): timed out after N retries': 1,
      'script: script 96x1Supgrade.txt: transfer failed (error N): timed out after N retries': 1,
      'image: image 440HD.img: transfer failed (error N): timed out after N retries': 1,
    });
    expect(j.bootSeconds).toEqual({ p50: 0, p95: 0, p99: 0, max: 0 }); // no phone booted
    expect(j.retransmits).toBe(15); // each phone's request sent again 5 times before it gave up
    console.log(`storm against a server that is down: ${r.seconds} s`);
  });
});
