/**
 * The storm's pure parts: the fleet (--mix parsing, per-model counts, interleaving, MACs), nearest-rank
 * percentiles, the summary and its --json shape, failure folding, the table, relay addresses.
 */
import { describe, expect, it } from 'vitest';
import { table } from '../../packages/bootwire/src/cli/storm.js';
import { buildFleet, DEFAULT_MIX, MixError, modelCounts, parseMix } from '../../packages/bootwire/src/storm/fleet.js';
import { failureKind, type PhoneOutcome, summarize, toJson } from '../../packages/bootwire/src/storm/result.js';
import { relayAddress, relayCount } from '../../packages/bootwire/src/storm/run.js';
import { percentiles } from '../../packages/bootwire/src/storm/stats.js';

const shares = (text: string) => parseMix(text).map((e) => [e.model.name, e.share]);
const counts = (n: number, text = DEFAULT_MIX) => Object.fromEntries(modelCounts(n, parseMix(text)));

describe('parseMix', () => {
  it('percentages: the default fleet', () => {
    expect(shares(DEFAULT_MIX)).toEqual([
      ['4610', 0.3],
      ['1608', 0.1],
      ['9608', 0.3],
      ['1230', 0.1],
      ['440HD', 0.2],
    ]);
  });

  it('weights, spaces, model aliases and case; zero shares drop out', () => {
    expect(shares('4610=1, 9608 = 3')).toEqual([
      ['4610', 0.25],
      ['9608', 0.75],
    ]);
    expect(shares('440hd=2,1230=2,9608=0')).toEqual([
      ['440HD', 0.5],
      ['1230', 0.5],
    ]);
    const thirds = parseMix('4610=33.33%,9608=33.33%,1230=33.34%');
    expect(thirds.map((e) => e.model.name)).toEqual(['4610', '9608', '1230']);
    expect(thirds.map((e) => e.share)).toEqual([0.3333, 0.3333, 33.34 / 100]);
  });

  it.for<[string, string]>([
    ['', '--mix is empty: give MODEL=SHARE,… such as 4610=30%,9608=70%'],
    [' , ', '--mix is empty: give MODEL=SHARE,… such as 4610=30%,9608=70%'],
    ['9999=100%', '--mix: unknown model "9999"'],
    ['4610=30%,9608=30%', '--mix: the percentages add up to 60%, not 100%'],
    ['4610=60%,9608=60%', '--mix: the percentages add up to 120%, not 100%'],
    ['4610=50%,9608=20%,4610=30%', '--mix: 4610 is given twice'],
    ['9611=50%,9611G=50%', '--mix: 9611 is given twice'],
    ['4610', '--mix: "4610" is not MODEL=SHARE (such as 9608=30%)'],
    ['4610=-5%,9608=105%', '--mix: "4610=-5%" is not MODEL=SHARE (such as 9608=30%)'],
    ['4610=1.2.3', '--mix: bad share in "4610=1.2.3"'],
    ['4610=0,9608=0', '--mix: the shares add up to nothing'],
    [
      '4610=50%,9608=5',
      '--mix: give every share as a percentage (4610=30%,9608=70%) or every one as a weight (4610=3,9608=7), not both',
    ],
  ])('%j → %s', ([text, message]) => {
    expect(() => parseMix(text)).toThrowError(new MixError(message));
    expect(() => parseMix(text)).toThrow(MixError);
  });
});

describe('modelCounts: largest remainders, summing to n', () => {
  it('exact shares', () => {
    expect(counts(40)).toEqual({ '4610': 12, '1608': 4, '9608': 12, '1230': 4, '440HD': 8 });
    expect(counts(1000)).toEqual({ '4610': 300, '1608': 100, '9608': 300, '1230': 100, '440HD': 200 });
  });

  it('remainders: 7 phones are 2.1, 0.7, 2.1, 0.7, 1.4 → the two 0.7s round up', () => {
    expect(counts(7)).toEqual({ '4610': 2, '1608': 1, '9608': 2, '1230': 1, '440HD': 1 });
  });

  it('ties go to the model named first', () => {
    expect(counts(1)).toEqual({ '4610': 1, '1608': 0, '9608': 0, '1230': 0, '440HD': 0 });
    expect(counts(10, '4610=1,9608=2')).toEqual({ '4610': 3, '9608': 7 });
    expect(counts(3, '1230=1,4610=1')).toEqual({ '1230': 2, '4610': 1 });
  });

  it('every n from 1 to 500 sums to n, each model within 1 of its exact share', () => {
    const mix = parseMix('4610=17,1608=3,9608=29,1230=11,440HD=40');
    for (let n = 1; n <= 500; n++) {
      const c = modelCounts(n, mix);
      expect([...c.values()].reduce((a, b) => a + b, 0)).toBe(n);
      for (const e of mix) expect(Math.abs(c.get(e.model.name)! - e.share * n)).toBeLessThan(1);
    }
  });
});

describe('buildFleet', () => {
  const mix = parseMix(DEFAULT_MIX);

  it('interleaves the models in proportion, in a fixed order', () => {
    expect(buildFleet(10, mix).map((p) => p.model)).toEqual([
      '4610',
      '9608',
      '440HD',
      '1608',
      '4610',
      '9608',
      '1230',
      '440HD',
      '4610',
      '9608',
    ]);
    expect(buildFleet(10, mix).map((p) => p.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('every prefix holds each model within one phone of its share', () => {
    const fleet = buildFleet(200, mix);
    const seen = new Map<string, number>();
    fleet.forEach((p, i) => {
      seen.set(p.model, (seen.get(p.model) ?? 0) + 1);
      for (const e of mix) expect(Math.abs((seen.get(e.model.name) ?? 0) - e.share * (i + 1))).toBeLessThanOrEqual(1);
    });
    expect(Object.fromEntries(seen)).toEqual({ '4610': 60, '1608': 20, '9608': 60, '1230': 20, '440HD': 40 });
  });

  it('is deterministic: the same flags give the same phones', () => {
    expect(buildFleet(300, mix, 7)).toEqual(buildFleet(300, parseMix(DEFAULT_MIX), 7));
  });

  it('MACs: the vendor OUI (Avaya 00:04:0d, AudioCodes 00:90:8f), the index in the low 24 bits', () => {
    expect(buildFleet(10, mix).map((p) => p.mac)).toEqual([
      '00:04:0d:00:00:00',
      '00:04:0d:00:00:01',
      '00:90:8f:00:00:02',
      '00:04:0d:00:00:03',
      '00:04:0d:00:00:04',
      '00:04:0d:00:00:05',
      '00:04:0d:00:00:06',
      '00:90:8f:00:00:07',
      '00:04:0d:00:00:08',
      '00:04:0d:00:00:09',
    ]);
    const macs = buildFleet(1000, mix).map((p) => p.mac);
    expect(new Set(macs).size).toBe(1000);
  });

  it('salt shifts the MACs (wrapping at 24 bits), not the models', () => {
    const two = parseMix('440HD=1,4610=1');
    expect(buildFleet(3, two, 0x123456).map((p) => p.mac)).toEqual([
      '00:90:8f:12:34:56',
      '00:04:0d:12:34:57',
      '00:90:8f:12:34:58',
    ]);
    expect(buildFleet(3, two, 0xfffffe).map((p) => p.mac)).toEqual([
      '00:90:8f:ff:ff:fe',
      '00:04:0d:ff:ff:ff',
      '00:90:8f:00:00:00',
    ]);
    expect(buildFleet(50, mix, 99).map((p) => p.model)).toEqual(buildFleet(50, mix, 0).map((p) => p.model));
  });

  it.for<[number, string]>([
    [0, '--phones must be a positive integer, got 0'],
    [-3, '--phones must be a positive integer, got -3'],
    [1.5, '--phones must be a positive integer, got 1.5'],
    [0x1000000, '--phones: at most 16,777,215 phones'],
  ])('%d phones → %s', ([n, message]) => {
    expect(() => buildFleet(n, mix)).toThrowError(new MixError(message));
  });
});

describe('percentiles: nearest rank', () => {
  it('1..100', () => {
    const v = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(v)).toEqual({ p50: 50, p95: 95, p99: 99, max: 100 });
    expect(v[0]).toBe(100); // the input is not sorted in place
  });

  it('small sets: every figure is a value some phone took', () => {
    expect(percentiles([5, 1, 3])).toEqual({ p50: 3, p95: 5, p99: 5, max: 5 });
    expect(percentiles([7])).toEqual({ p50: 7, p95: 7, p99: 7, max: 7 });
    expect(percentiles([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])).toEqual({ p50: 50, p95: 100, p99: 100, max: 100 });
    expect(percentiles([0.25, 0.5])).toEqual({ p50: 0.25, p95: 0.5, p99: 0.5, max: 0.5 });
  });

  it('20 values: p95 is the 19th, p99 the 20th', () => {
    expect(percentiles(Array.from({ length: 20 }, (_, i) => i + 1))).toEqual({ p50: 10, p95: 19, p99: 20, max: 20 });
  });

  it('nothing: zeros', () => {
    expect(percentiles([])).toEqual({ p50: 0, p95: 0, p99: 0, max: 0 });
  });
});

/** A hand-made outcome; fields not given are an uneventful boot. */
const outcome = (o: Partial<PhoneOutcome> & Pick<PhoneOutcome, 'index' | 'model' | 'ok'>): PhoneOutcome => ({
  imageDownloaded: o.ok,
  endSeconds: 1,
  bootSeconds: 1,
  bytes: 0,
  retransmits: 0,
  phases: {},
  bytesByProtocol: {},
  ...o,
});

const TIMEOUT = 'image 440HD.img: transfer failed (error 0): timed out after 5 retries';

const OUTCOMES: PhoneOutcome[] = [
  outcome({
    index: 0,
    model: '4610',
    ok: true,
    endSeconds: 1.6,
    bootSeconds: 1.5,
    bytes: 1000,
    retransmits: 1,
    phases: { dhcp: 0.1, script: 0.2, image: 1, settings: 0.2 },
    bytesByProtocol: { http: 1000 },
  }),
  outcome({
    index: 1,
    model: '4610',
    ok: true,
    imageDownloaded: false,
    endSeconds: 2.5,
    bootSeconds: 2.5,
    bytes: 2000,
    phases: { dhcp: 0.3, script: 0.3 },
    bytesByProtocol: { tftp: 2000 },
    faults: { dropped: 2, duplicated: 1, reordered: 0 },
  }),
  outcome({
    index: 2,
    model: '440HD',
    ok: false,
    endSeconds: 38.05,
    bootSeconds: 38,
    phases: { dhcp: 0.05, image: 38 },
    bytesByProtocol: { tftp: 0 },
    failedIn: 'image',
    error: TIMEOUT,
  }),
  outcome({
    index: 3,
    model: '440HD',
    ok: false,
    endSeconds: 30,
    bootSeconds: 30,
    retransmits: 4,
    phases: { image: 30 },
    failedIn: 'image',
    error: TIMEOUT.replace('5 retries', '4 retries'),
  }),
  outcome({ index: 4, model: '1230', ok: false, endSeconds: 0.5, bootSeconds: 0.5 }),
];

const USAGE = {
  simulatorCpuSeconds: 1.23456,
  simulatorPeakRssBytes: 1000,
  serverCpuSeconds: 0.5,
  serverPeakRssBytes: 2000,
  relayFaults: { dropped: 1, duplicated: 0, reordered: 3 },
};

describe('summarize and toJson', () => {
  it("the --json object, exactly, the issue's keys first", () => {
    const j = toJson(summarize('builtin', OUTCOMES, 38.05, USAGE));
    expect(Object.keys(j).slice(0, 8)).toEqual([
      'phones',
      'booted',
      'failed',
      'wallSeconds',
      'bootSeconds',
      'bytes',
      'retransmits',
      'server',
    ]);
    expect(j).toEqual({
      phones: 5,
      booted: 2,
      failed: 3,
      wallSeconds: 38.05,
      bootSeconds: { p50: 1.5, p95: 2.5, p99: 2.5, max: 2.5 },
      bytes: 3000,
      retransmits: 5,
      server: 'builtin',
      goodputBytesPerSecond: 79,
      bytesByProtocol: { http: 1000, tftp: 2000 },
      faults: { dropped: 3, duplicated: 1, reordered: 3 },
      imagesDownloaded: 1,
      failures: {
        'image: image 440HD.img: transfer failed (error N): timed out after N retries': 2,
        'boot: failed': 1,
      },
      phases: {
        dhcp: { p50: 0.1, p95: 0.3, p99: 0.3, max: 0.3 },
        script: { p50: 0.2, p95: 0.3, p99: 0.3, max: 0.3 },
        image: { p50: 30, p95: 38, p99: 38, max: 38 },
        settings: { p50: 0.2, p95: 0.2, p99: 0.2, max: 0.2 },
      },
      models: {
        '4610': { phones: 2, failed: 0, bootSeconds: { p50: 1.5, p95: 2.5, p99: 2.5, max: 2.5 } },
        '440HD': { phones: 2, failed: 2, bootSeconds: { p50: 0, p95: 0, p99: 0, max: 0 } },
        '1230': { phones: 1, failed: 1, bootSeconds: { p50: 0, p95: 0, p99: 0, max: 0 } },
      },
      serverCpuSeconds: 0.5,
      serverPeakRssBytes: 2000,
      simulatorCpuSeconds: 1.235,
      simulatorPeakRssBytes: 1000,
    });
  });

  it("keeps the chart data out of --json; boot times are the booted phones' end times", () => {
    const r = summarize('builtin', OUTCOMES, 38.05, USAGE);
    expect(r.bootTimes).toEqual([1.6, 2.5]);
    expect(r.phaseSeconds['image']).toEqual([1, 38, 30]);
    const j = toJson(r);
    expect(j).not.toHaveProperty('bootTimes');
    expect(j).not.toHaveProperty('phaseSeconds');
  });

  it('no server measured (another file server): no server CPU or RSS keys; no faults: zeros', () => {
    const j = toJson(
      summarize('tftp://127.0.0.1:69/', OUTCOMES.slice(0, 1), 0, { simulatorCpuSeconds: 0, simulatorPeakRssBytes: 0 }),
    );
    expect(j).not.toHaveProperty('serverCpuSeconds');
    expect(j).not.toHaveProperty('serverPeakRssBytes');
    expect(j).toMatchObject({
      server: 'tftp://127.0.0.1:69/',
      phones: 1,
      booted: 1,
      failed: 0,
      goodputBytesPerSecond: 0,
      faults: { dropped: 0, duplicated: 0, reordered: 0 },
      failures: {},
    });
  });

  it('an empty storm', () => {
    expect(toJson(summarize('builtin', [], 0, { simulatorCpuSeconds: 0, simulatorPeakRssBytes: 0 }))).toMatchObject({
      phones: 0,
      booted: 0,
      failed: 0,
      bytes: 0,
      bootSeconds: { p50: 0, p95: 0, p99: 0, max: 0 },
      phases: {},
      models: {},
    });
  });

  it('the table names each failure kind with its count, and the faults injected', () => {
    const text = table([summarize('builtin', OUTCOMES, 38.05, USAGE)]);
    expect(text).toContain(
      '  2 failed: image: image 440HD.img: transfer failed (error N): timed out after N retries\n',
    );
    expect(text).toContain('  1 failed: boot: failed\n');
    expect(text).toContain(
      'builtin: 1 images downloaded; per phase: dhcp p50 0.10 s / p95 0.30 s, script p50 0.20 s / p95 ' +
        '0.30 s, image p50 30.00 s / p95 38.00 s, settings p50 0.20 s / p95 0.20 s; faults injected: 3 ' +
        'dropped, 1 duplicated, 3 reordered\n',
    );
    expect(text.split('\n')[1]).toMatch(
      /^builtin\s+2\/5\s+3\s+38\.05\s+1\.50\s+2\.50\s+2\.50\s+2\.50\s+2\.9 KiB\s+79 B\/s\s+5\s+0\.50\s+1\.24\s+2\.0 KiB$/,
    );
  });
});

describe('failureKind', () => {
  const kind = (error: string | undefined, failedIn?: PhoneOutcome['failedIn']) =>
    failureKind(
      outcome({
        index: 0,
        model: '4610',
        ok: false,
        ...(error !== undefined ? { error } : {}),
        ...(failedIn ? { failedIn } : {}),
      }),
    );

  it.for<[string | undefined, PhoneOutcome['failedIn'] | undefined, string]>([
    // Numbers fold; digits inside file names stay.
    [
      'script 46xxupgrade.scr: transfer failed (error 0): timed out after 5 retries',
      'script',
      'script: script 46xxupgrade.scr: transfer failed (error N): timed out after N retries',
    ],
    [
      'script 96x1Supgrade.txt: server error 1: File not found',
      'script',
      'script: script 96x1Supgrade.txt: server error N: File not found',
    ],
    [
      'image a10d01b2_3.bin: http://127.0.0.1:40123/a10d01b2_3.bin: HTTP 503',
      'image',
      'image: image a10d01b2_3.bin: http://N:N/a10d01b2_3.bin: HTTP N',
    ],
    [
      '12x0_device.cfg (named in [DEVICE_CONFIG] of 1230SIP.cfg, line 5): timed out after 2000ms',
      'settings',
      'settings: 12x0_device.cfg (named in [DEVICE_CONFIG] of 1230SIP.cfg, line N): timed out after Nms',
    ],
    [
      'image SIP12x004.04.09.00.bin is not fit to burn (bad-digest): version 4.4.',
      'image',
      'image: image SIP12x004.04.09.00.bin is not fit to burn (bad-digest): version N.',
    ],
    // MACs in either spelling fold before the numbers.
    [
      'SIP00040DAABB01.cfg: no lease for 00:04:0d:aa:bb:01 or 00-04-0D-AA-BB-02 or 00040DAABB03',
      'settings',
      'settings: SIPMAC.cfg: no lease for MAC or MAC or MAC',
    ],
    ['configuration 00908faabb01.cfg: HTTP 404', 'settings', 'settings: configuration MAC.cfg: HTTP N'],
    // Twelve hex letters with no digit are a word, not a MAC; a longer hex run is not a MAC either.
    [
      'fetch of facadeaccede failed, sha256 00908faabb0100908faabb01',
      'image',
      'image: fetch of facadeaccede failed, sha256 00908faabb0100908faabb01',
    ],
    ['DHCP: no OFFER after 6 retries', 'dhcp', 'dhcp: DHCP: no OFFER after N retries'],
    // No phase: "boot"; no message: "failed".
    ['simulator: boom', undefined, 'boot: simulator: boom'],
    [undefined, undefined, 'boot: failed'],
  ])('%s', ([error, failedIn, expected]) => {
    expect(kind(error, failedIn)).toBe(expected);
  });

  it('alike failures count together, different files apart', () => {
    const a = kind('script 46xxupgrade.scr: timed out after 5 retries', 'script');
    expect(kind('script 46xxupgrade.scr: timed out after 6 retries', 'script')).toBe(a);
    expect(kind('script 16xxupgrade.txt: timed out after 5 retries', 'script')).not.toBe(a);
    // Each 1200 fetches its own SIP<MAC>.cfg: their failures are one kind.
    expect(kind('SIP00040D000001.cfg: timed out', 'settings')).toBe(kind('SIP00040D0000FF.cfg: timed out', 'settings'));
  });

  it('long messages are cut at 160 characters', () => {
    expect(kind('x'.repeat(400), 'image')).toBe(`image: ${'x'.repeat(160)}`);
  });
});

describe('DHCP relay sockets', () => {
  it('one per 50 phones, at least one per worker, at most 256', () => {
    expect(relayCount(40, 2)).toBe(2);
    expect(relayCount(200, 2)).toBe(4);
    expect(relayCount(1000, 2)).toBe(20);
    expect(relayCount(1001, 4)).toBe(21);
    expect(relayCount(100_000, 4)).toBe(256);
  });

  it('each on a loopback address of its own, never .0 or .255', () => {
    expect([0, 1, 253, 254, 255].map(relayAddress)).toEqual([
      '127.0.10.1',
      '127.0.10.2',
      '127.0.10.254',
      '127.0.11.1',
      '127.0.11.2',
    ]);
    const all = Array.from({ length: 256 }, (_, k) => relayAddress(k));
    expect(new Set(all).size).toBe(256);
    for (const a of all) expect(a).toMatch(/^127\.0\.1[01]\.([1-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4])$/);
  });
});
