/**
 * The scale target: 1,000 phones of the default fleet boot at once on this machine, none fails,
 * every byte arrives. (How long it takes is printed, never asserted.)
 */
import { describe, expect, it } from 'vitest';
import { expectAllBooted, stormCli, useInitRoot } from './helpers.js';

const site = useInitRoot('bw-storm-scale-', '64k');

describe('bootwire storm at scale', () => {
  it('1,000 phones boot with no failure', { timeout: 180_000 }, async () => {
    const r = await stormCli(['--phones', '1000', '--image-size', '64k', '--json'], { timeoutMs: 170_000 });
    const j = expectAllBooted(expect, r, site.root, {
      '4610': 300,
      '1608': 100,
      '9608': 300,
      '1230': 100,
      '440HD': 200,
    });
    console.log(
      `storm 1000 phones: wall ${j.wallSeconds} s (process ${r.seconds} s), ` +
        `boot p50 ${j.bootSeconds.p50} s p99 ${j.bootSeconds.p99} s, DHCP p50 ${j.phases['dhcp']!.p50} s, ` +
        `retransmits ${j.retransmits}, server CPU ${j.serverCpuSeconds} s, simulator CPU ${j.simulatorCpuSeconds} s`,
    );
  });
});
