/**
 * The scale target: 1,000 phones of the default fleet boot at once on this machine, none fails,
 * every byte arrives. (How long it takes is printed, never asserted.)
 */
import { describe, expect, it } from 'vitest';
import { fleetBytes, modelPhones, stormCli, type StormJson, useInitRoot } from './helpers.js';

const site = useInitRoot('bw-storm-scale-', '64k');

describe('bootwire storm at scale', () => {
  it('1,000 phones boot with no failure', { timeout: 180_000 }, async () => {
    const r = await stormCli(['--phones', '1000', '--image-size', '64k', '--json'], { timeoutMs: 170_000 });
    expect(r.code, r.stderr).toBe(0);
    const j = r.json as StormJson;
    expect([j.phones, j.booted, j.failed, j.imagesDownloaded]).toEqual([1000, 1000, 0, 1000]);
    expect(j.failures).toEqual({});
    const counts = { '4610': 300, '1608': 100, '9608': 300, '1230': 100, '440HD': 200 };
    expect(modelPhones(j)).toEqual(counts);
    expect(j.bytes).toBe(fleetBytes(site.root, counts));
    console.log((`storm 1000 phones: wall ${j.wallSeconds} s (process ${r.seconds} s), boot p50 ` + `${j.bootSeconds.p50} s p99 ${j.bootSeconds.p99} s, DHCP p50 ${j.phases['dhcp']!.p50}` + ` s, retransmits ${j.retransmits}, server CPU ${j.serverCpuSeconds} s, simulator CPU ` + `${j.simulatorCpuSeconds} s`));
  });
});
