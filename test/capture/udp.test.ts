import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  formatIPv6,
  LinkType,
  readCapture,
  udpDatagrams,
  type CaptureRecord,
  type UdpDatagram,
} from '../../packages/capture/src/index.js';
import { Reassembler } from '../../packages/capture/src/reassembly.js';
import { PEERS } from '../helpers/peers.js';
import {
  ethernet,
  gre,
  ipv4,
  ipv4Fragments,
  ipv4Udp,
  ipv6,
  ipv6FragmentHeader,
  ipv6OptionsHeader,
  nullHeader,
  pcapFile,
  pppoeSession,
  radiotap,
  sll,
  sll2,
  udpHeader,
  wifiData,
} from './build.js';

// ------------------------------------------------------------------------------------------ helpers

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const PAYLOAD = Buffer.from('\x00\x01boot.cfg\x00octet\x00', 'latin1'); // a TFTP RRQ

/** Records numbered from 1, one second apart unless `times` says otherwise. */
function records(
  linktype: number,
  frames: Buffer[],
  o: { times?: number[]; origLen?: (number | undefined)[] } = {},
): CaptureRecord[] {
  return frames.map((data, i) => {
    const t = o.times?.[i] ?? i;
    return {
      frame: i + 1,
      time: t,
      timeNs: BigInt(Math.round(t * 1e9)),
      linktype,
      data,
      origLen: o.origLen?.[i] ?? data.length,
      interface: 0,
      offset: 0,
    };
  });
}

function only(linktype: number, frame: Buffer, origLen?: number): { d: UdpDatagram; warnings: string[] } {
  const { datagrams, warnings } = udpDatagrams(records(linktype, [frame], { origLen: [origLen] }));
  expect(datagrams, warnings.join('\n')).toHaveLength(1);
  return { d: datagrams[0]!, warnings };
}

const v4 = ipv4Udp('192.0.2.10', '192.0.2.1', 2070, 69, PAYLOAD);
const v6 = ipv6('2001:db8::10', 'fe80::1', 17, udpHeader(546, 547, PAYLOAD));

function expectTftp(d: UdpDatagram, v: 4 | 6 = 4): void {
  if (v === 4)
    expect(d).toMatchObject({ src: '192.0.2.10', dst: '192.0.2.1', srcPort: 2070, dstPort: 69, ipVersion: 4 });
  else expect(d).toMatchObject({ src: '2001:db8::10', dst: 'fe80::1', srcPort: 546, dstPort: 547, ipVersion: 6 });
  expect(d.payload.equals(PAYLOAD)).toBe(true);
  expect(d.truncated).toBeUndefined();
}

// ------------------------------------------------------------------------------------------ link layers

describe('link layers', () => {
  it('Ethernet: the payload is a view of the record, and padding and FCS after the datagram are ignored', () => {
    const frame = Buffer.concat([ethernet(ETH_IPV4, v4), Buffer.alloc(6), Buffer.from('fcs!')]);
    const { d, warnings } = only(LinkType.ETHERNET, frame);
    expectTftp(d);
    expect(warnings).toEqual([]);
    expect(d).toMatchObject({ frame: 1, time: 0, timeNs: 0n });
    expect(d.vlan).toBeUndefined();
    expect(d.payload.buffer).toBe(frame.buffer);
    expectTftp(only(LinkType.ETHERNET, ethernet(ETH_IPV6, v6)).d, 6);
  });

  it('802.1Q, 802.1ad QinQ and the old 0x9100 tag: VLAN IDs outermost first', () => {
    // PCP bits dropped
    expect(only(1, ethernet(ETH_IPV4, v4, [{ tpid: 0x8100, vid: 0x2000 | 100 }])).d.vlan).toEqual([100]);
    expect(
      only(
        1,
        ethernet(ETH_IPV4, v4, [
          { tpid: 0x88a8, vid: 10 },
          { tpid: 0x8100, vid: 20 },
        ]),
      ).d.vlan,
    ).toEqual([10, 20]);
    const { d } = only(
      1,
      ethernet(ETH_IPV6, v6, [
        { tpid: 0x9100, vid: 4094 },
        { tpid: 0x8100, vid: 1 },
      ]),
    );
    expectTftp(d, 6);
    expect(d.vlan).toEqual([4094, 1]);
  });

  it('802.3 with LLC/SNAP', () => {
    const llc = Buffer.concat([Buffer.from([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]), v4]);
    const frame = Buffer.concat([Buffer.alloc(12, 1), Buffer.from([llc.length >> 8, llc.length & 0xff]), llc]);
    expectTftp(only(1, frame).d);
  });

  it('Linux cooked captures, SLL and SLL2', () => {
    expectTftp(only(LinkType.LINUX_SLL, sll(ETH_IPV4, v4)).d);
    expectTftp(only(LinkType.LINUX_SLL, sll(ETH_IPV6, v6)).d, 6);
    expectTftp(only(LinkType.LINUX_SLL2, sll2(ETH_IPV4, v4)).d);
    const tagged = Buffer.concat([Buffer.from([0x00, 0x07, 0x08, 0x00]), v4]);
    expect(only(LinkType.LINUX_SLL2, sll2(0x8100, tagged)).d.vlan).toEqual([7]);
  });

  it('BSD loopback in either byte order, with every AF_INET6 value; OpenBSD LOOP', () => {
    for (const e of ['little', 'big'] as const) {
      expectTftp(only(LinkType.NULL, nullHeader(2, e, v4)).d);
      for (const af6 of [24, 28, 30]) expectTftp(only(LinkType.NULL, nullHeader(af6, e, v6)).d, 6);
    }
    expectTftp(only(LinkType.LOOP, nullHeader(2, 'big', v4)).d);
    expect(udpDatagrams(records(LinkType.NULL, [nullHeader(7, 'little', v4)])).datagrams).toEqual([]);
  });

  it('raw IP link types', () => {
    for (const lt of [LinkType.RAW, LinkType.RAW_DLT12, LinkType.RAW_DLT14]) {
      expectTftp(only(lt, v4).d);
      expectTftp(only(lt, v6).d, 6);
    }
    expectTftp(only(LinkType.IPV4, v4).d);
    expectTftp(only(LinkType.IPV6, v6).d, 6);
  });

  it('802.11 data frames: plain, QoS, four addresses, HT control; radiotap', () => {
    expectTftp(only(LinkType.IEEE802_11, wifiData(ETH_IPV4, v4)).d);
    expectTftp(only(LinkType.IEEE802_11, wifiData(ETH_IPV4, v4, { qos: true })).d);
    expectTftp(only(LinkType.IEEE802_11, wifiData(ETH_IPV6, v6, { qos: true, fourAddress: true })).d, 6);
    expectTftp(only(LinkType.IEEE802_11, wifiData(ETH_IPV4, v4, { qos: true, order: true })).d);
    expectTftp(only(LinkType.IEEE802_11_RADIOTAP, radiotap(wifiData(ETH_IPV4, v4, { qos: true }))).d);
  });

  it('802.11: protected frames are counted, management frames and null data pass silently', () => {
    const beacon = Buffer.concat([Buffer.from([0x80, 0x00]), Buffer.alloc(34)]);
    const nullData = Buffer.concat([Buffer.from([0x48, 0x01]), Buffer.alloc(22)]);
    const enc = wifiData(ETH_IPV4, v4, { protected: true });
    const { datagrams, warnings } = udpDatagrams(records(105, [beacon, nullData, enc, enc]));
    expect(datagrams).toEqual([]);
    expect(warnings).toEqual(['2 protected (encrypted) 802.11 frames skipped']);
  });

  it('PPPoE sessions', () => {
    expectTftp(only(1, ethernet(0x8864, pppoeSession(0x0021, v4))).d);
    expectTftp(only(1, ethernet(0x8864, pppoeSession(0x0057, v6))).d, 6);
    expect(udpDatagrams(records(1, [ethernet(0x8864, pppoeSession(0xc021, Buffer.alloc(20)))])).datagrams).toEqual([]);
  });

  it('unsupported link types are summed up in one warning', () => {
    const { datagrams, warnings } = udpDatagrams(records(147, [v4, v4, v4]));
    expect(datagrams).toEqual([]);
    expect(warnings).toEqual(['3 records of link type 147 skipped: link type not supported']);
  });
});

// ------------------------------------------------------------------------------------------ IP and UDP

describe('IP and UDP', () => {
  it('skips TCP, ICMP and ARP without a word', () => {
    const tcp = ethernet(ETH_IPV4, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 6, payload: Buffer.alloc(20) }));
    const icmp = ethernet(
      ETH_IPV4,
      ipv4({
        src: '10.0.0.1',
        dst: '10.0.0.2',
        proto: 1,
        payload: Buffer.concat([Buffer.from([3, 3, 0, 0, 0, 0, 0, 0]), v4]),
      }),
    );
    const icmp6 = ethernet(ETH_IPV6, ipv6('::1', '::2', 58, Buffer.alloc(8)));
    const arp = ethernet(0x0806, Buffer.alloc(28));
    expect(udpDatagrams(records(1, [tcp, icmp, icmp6, arp]))).toEqual({ datagrams: [], warnings: [] });
  });

  it('honours IPv4 options and a UDP length shorter than the IP payload', () => {
    const withOptions = ipv4({
      src: '192.0.2.10',
      dst: '192.0.2.1',
      proto: 17,
      payload: udpHeader(2070, 69, PAYLOAD),
      options: Buffer.from([0x94, 4, 0, 0]),
    });
    expectTftp(only(1, ethernet(ETH_IPV4, withOptions)).d);
    const slack = ipv4({
      src: '192.0.2.10',
      dst: '192.0.2.1',
      proto: 17,
      payload: Buffer.concat([udpHeader(2070, 69, PAYLOAD), Buffer.alloc(5)]),
    });
    expectTftp(only(1, ethernet(ETH_IPV4, slack)).d);
  });

  const bad: [string, Buffer, RegExp][] = [
    [
      'a UDP length past the IP payload',
      ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 17, payload: udpHeader(1, 69, PAYLOAD, PAYLOAD.length + 9) }),
      new RegExp(`UDP length ${PAYLOAD.length + 9} exceeds the ${PAYLOAD.length + 8}-byte IP payload`),
    ],
    [
      'a UDP length under 8',
      ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 17, payload: udpHeader(1, 69, PAYLOAD, 7) }),
      /UDP length 7/,
    ],
    [
      'an IPv4 total length past the frame',
      ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 17, payload: udpHeader(1, 69, PAYLOAD), totalLength: 100 }),
      new RegExp(`total length 100 exceeds the ${PAYLOAD.length + 28} bytes in the frame`),
    ],
    [
      'an IPv4 total length under the header',
      ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 17, payload: udpHeader(1, 69, PAYLOAD), totalLength: 0 }),
      /total length 0 .*offload/,
    ],
    [
      'an IPv6 payload length past the frame',
      ipv6('::1', '::2', 17, udpHeader(1, 69, PAYLOAD), 200),
      new RegExp(`payload length 200 exceeds the ${PAYLOAD.length + 8} bytes in the frame`),
    ],
    [
      'a truncated UDP header',
      ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 17, payload: Buffer.alloc(4) }),
      /UDP header needs 8 bytes/,
    ],
  ];
  for (const [what, packet, warning] of bad) {
    it(`skips a datagram with ${what}, with a warning`, () => {
      const { datagrams, warnings } = udpDatagrams(records(LinkType.RAW, [packet]));
      expect(datagrams).toEqual([]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^frame 1: /);
      expect(warnings[0]).toMatch(warning);
    });
  }

  it('returns what was captured of a datagram the capture cut (snaplen), marked truncated', () => {
    const frame = ethernet(ETH_IPV4, v4);
    const { d, warnings } = only(1, frame.subarray(0, 14 + 20 + 8 + 5), frame.length);
    expect(d).toMatchObject({ srcPort: 2070, dstPort: 69, truncated: true });
    expect(d.payload.equals(PAYLOAD.subarray(0, 5))).toBe(true);
    expect(warnings).toEqual([`frame 1: UDP datagram cut by the capture: 5 of ${PAYLOAD.length} payload bytes`]);
    // Cut inside the UDP header: nothing to return.
    const none = udpDatagrams(records(1, [frame.subarray(0, 14 + 20 + 4)], { origLen: [frame.length] }));
    expect(none.datagrams).toEqual([]);
    expect(none.warnings).toEqual(['frame 1: UDP header cut by the capture']);
  });

  it('formats IPv6 addresses per RFC 5952', () => {
    const f = (hex: string) => formatIPv6(Buffer.from(hex.replace(/ /g, ''), 'hex'), 0);
    expect(f('20010db8 00000000 00000000 00000001')).toBe('2001:db8::1');
    expect(f('20010db8 00000001 00000000 00000001')).toBe('2001:db8:0:1::1');
    expect(f('20010db8 00000000 00010000 00000001')).toBe('2001:db8::1:0:0:1'); // first of two equal runs
    expect(f('20010db8 00010001 00010001 00010001')).toBe('2001:db8:1:1:1:1:1:1'); // one zero group stays
    expect(f('20010db8 00000001 00010001 00010001')).toBe('2001:db8:0:1:1:1:1:1');
    expect(f('00000000 00000000 00000000 00000000')).toBe('::');
    expect(f('00000000 00000000 00000000 00000001')).toBe('::1');
    expect(f('fe800000 00000000 00000000 00000000')).toBe('fe80::');
    expect(f('00000000 00000000 0000ffff c0000201')).toBe('::ffff:192.0.2.1');
  });
});

// ------------------------------------------------------------------------------------------ tunnels

describe('tunnels', () => {
  it('GRE (with key and sequence), bridged Ethernet in GRE, IP in IP: the inner addresses', () => {
    const outer = (proto: number, payload: Buffer) => ipv4({ src: '203.0.113.1', dst: '203.0.113.2', proto, payload });
    expectTftp(only(1, ethernet(ETH_IPV4, outer(47, gre(0x0800, v4)))).d);
    expectTftp(only(1, ethernet(ETH_IPV4, outer(47, gre(0x86dd, v6, { key: 5, seq: 9 })))).d, 6);
    const bridged = only(
      1,
      ethernet(ETH_IPV4, outer(47, gre(0x6558, ethernet(ETH_IPV4, v4, [{ tpid: 0x8100, vid: 30 }])))),
    );
    expectTftp(bridged.d);
    expect(bridged.d.vlan).toEqual([30]);
    expectTftp(only(1, ethernet(ETH_IPV4, outer(4, v4))).d);
    expectTftp(only(1, ethernet(ETH_IPV6, ipv6('2001:db8::1', '2001:db8::2', 41, v6))).d, 6);
  });

  it('stops at a nesting depth', () => {
    let p = v4;
    for (let i = 0; i < 6; i++) p = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', proto: 4, payload: p });
    const { datagrams, warnings } = udpDatagrams(records(LinkType.RAW, [p]));
    expect(datagrams).toEqual([]);
    expect(warnings).toEqual(['frame 1: more than 4 nested tunnels']);
  });
});

// ------------------------------------------------------------------------------------------ fragments

/** A TFTP DATA packet of blksize 8192: 8196 bytes of UDP payload. */
const BIG = Buffer.concat([
  Buffer.from([0, 3, 0, 1]),
  Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7) & 0xff)),
]);
const BIG_UDP = udpHeader(69, 2070, BIG);
const spec4 = { src: '192.0.2.1', dst: '192.0.2.10', proto: 17, payload: BIG_UDP, id: 0x4242 };

describe('IPv4 fragment reassembly', () => {
  it('reassembles out-of-order fragments into a copy; the frame is the one that completed the set', () => {
    const frags = ipv4Fragments(spec4, 1480).map((f) => ethernet(ETH_IPV4, f));
    expect(frags).toHaveLength(6);
    const order = [3, 5, 0, 1, 4, 2]; // arrival order of the fragment indexes
    const recs = records(
      1,
      order.map((i) => frags[i]!),
    );
    const { datagrams, warnings } = udpDatagrams(recs);
    expect(warnings).toEqual([]);
    expect(datagrams).toHaveLength(1);
    const d = datagrams[0]!;
    expect(d).toMatchObject({ frame: 6, time: 5, src: '192.0.2.1', dst: '192.0.2.10', srcPort: 69, dstPort: 2070 });
    expect(d.fragments).toEqual([3, 4, 6, 1, 5, 2]); // record numbers in offset order
    expect(d.payload.equals(BIG)).toBe(true);
    for (const r of recs) expect(d.payload.buffer).not.toBe(r.data.buffer);
  });

  it('ignores duplicates and keeps sets with the same ID apart by address', () => {
    const a = ipv4Fragments(spec4, 4096);
    const b = ipv4Fragments({ ...spec4, src: '192.0.2.2' }, 4096);
    const recs = records(LinkType.RAW, [a[0]!, b[1]!, a[0]!, a[1]!, b[2]!, a[2]!, b[0]!]);
    const { datagrams, warnings } = udpDatagrams(recs);
    expect(warnings).toEqual([]);
    expect(datagrams.map((d) => [d.frame, d.src])).toEqual([
      [6, '192.0.2.1'],
      [7, '192.0.2.2'],
    ]);
  });

  it('overlapping fragments: the later offset wins, and of two at one offset the later arrival; one warning', () => {
    const s = { src: '192.0.2.1', dst: '192.0.2.10', proto: 17, id: 0x0abc };
    const udp = udpHeader(69, 2070, Buffer.alloc(24, 0x2e)); // 32 bytes: the UDP header says so
    const frags = [
      ipv4({ ...s, payload: udp.subarray(0, 16), offset: 0, more: true }), // header and 8 bytes of '.'
      ipv4({ ...s, payload: Buffer.alloc(16, 0x78), offset: 8, more: true }), // 'x' over 8..24
      ipv4({ ...s, payload: Buffer.alloc(8, 0x79), offset: 8, more: true }), // 'y' over 8..16, arrives later
      ipv4({ ...s, payload: Buffer.alloc(8, 0x7a), offset: 24, more: false }), // 'z', the last
    ];
    const { datagrams, warnings } = udpDatagrams(records(LinkType.RAW, frags));
    expect(datagrams).toHaveLength(1);
    expect(datagrams[0]!.payload.toString('latin1')).toBe('yyyyyyyyxxxxxxxxzzzzzzzz');
    expect(datagrams[0]!.fragments).toEqual([1, 2, 3, 4]);
    expect(warnings).toEqual(['frame 4: IPv4 192.0.2.1 > 192.0.2.10 id 0x0abc: overlapping fragments']);
    // The same pieces in another order: the 'x' piece now arrives after the 'y' one and covers it.
    const other = udpDatagrams(records(LinkType.RAW, [frags[3]!, frags[2]!, frags[1]!, frags[0]!]));
    expect(other.datagrams[0]!.payload.toString('latin1')).toBe('xxxxxxxxxxxxxxxxzzzzzzzz');
    expect(other.datagrams[0]!.fragments).toEqual([4, 2, 3, 1]);
  });

  it('gives up on an incomplete set at the end of the capture, and after the timeout', () => {
    const frags = ipv4Fragments(spec4, 1480);
    const end = udpDatagrams(records(LinkType.RAW, [frags[0]!, frags[2]!, v4]));
    expect(end.datagrams.map((d) => d.frame)).toEqual([3]);
    expect(end.warnings).toEqual([
      'frames 1, 2: IPv4 192.0.2.1 > 192.0.2.10 id 0x4242: incomplete at the end of the capture (2960 ' +
        'of ? bytes): not reassembled',
    ]);

    // The rest arrives 31 s later: the first set has expired; the late pieces alone do not complete.
    const late = udpDatagrams(records(LinkType.RAW, frags, { times: [0, 31, 31.1, 31.2, 31.3, 31.4] }));
    expect(late.datagrams).toEqual([]);
    expect(late.warnings[0]).toBe(
      'frame 1: IPv4 192.0.2.1 > 192.0.2.10 id 0x4242: incomplete after the reassembly timeout (1480 ' +
        'of ? bytes): not reassembled',
    );
    expect(late.warnings[1]).toMatch(
      /^frames 2, 3, 4, 5, 6: .* incomplete at the end of the capture \(6724 of 8204 bytes\)/,
    );
    // With a longer timeout it completes.
    expect(
      udpDatagrams(records(LinkType.RAW, frags, { times: [0, 31, 31.1, 31.2, 31.3, 31.4] }), {
        fragments: { timeoutSec: 60 },
      }).datagrams,
    ).toHaveLength(1);
  });

  it('bounds the table: the oldest set goes first', () => {
    const sets = [1, 2, 3].map((id) => ipv4Fragments({ ...spec4, id }, 4096));
    const recs = records(LinkType.RAW, [
      sets[0]![0]!,
      sets[1]![0]!,
      sets[2]![0]!,
      ...sets[1]!.slice(1),
      ...sets[2]!.slice(1),
    ]);
    const { datagrams, warnings } = udpDatagrams(recs, { fragments: { maxSets: 2 } });
    expect(datagrams.map((d) => d.frame)).toEqual([5, 7]);
    expect(warnings).toEqual([
      'frame 1: IPv4 192.0.2.1 > 192.0.2.10 id 0x0001: dropped, more than 2 open fragment sets (4096 ' +
        'of ? bytes): not reassembled',
    ]);
    const bytes = udpDatagrams(recs, { fragments: { maxBytes: 10_000 } });
    expect(bytes.warnings[0]).toMatch(/dropped, more than 10000 bytes of fragments held/);
  });

  it('warns about fragments that cannot be right, and holds no non-UDP fragments', () => {
    const odd = ipv4({ ...spec4, payload: BIG_UDP.subarray(0, 1001), more: true });
    const past = ipv4({ ...spec4, payload: Buffer.alloc(16), offset: 65528 });
    const tcp = ipv4Fragments({ ...spec4, proto: 6 }, 1480).slice(0, 2);
    const { datagrams, warnings } = udpDatagrams(records(LinkType.RAW, [odd, past, ...tcp]));
    expect(datagrams).toEqual([]);
    expect(warnings).toEqual([
      'frame 1: IPv4 192.0.2.1 > 192.0.2.10 id 0x4242 fragment at 0: 1001 bytes, not a multiple of 8 ' +
        'before the last fragment: dropped',
      'frame 2: IPv4 192.0.2.1 > 192.0.2.10 id 0x4242 fragment at 65528: ends at 65544, past the ' +
        'largest datagram (65535): dropped',
    ]);
  });

  it('reads a first fragment the capture cut as far as it goes (as tshark does), and drops cut later ones', () => {
    const frags = ipv4Fragments(spec4, 1480);
    const { datagrams, warnings } = udpDatagrams(
      records(LinkType.RAW, [frags[0]!.subarray(0, 100), frags[1]!.subarray(0, 100)], { origLen: [1500, 1500] }),
    );
    expect(datagrams).toHaveLength(1);
    expect(datagrams[0]).toMatchObject({ frame: 1, srcPort: 69, truncated: true });
    expect(datagrams[0]!.payload.length).toBe(100 - 28);
    expect(warnings).toEqual([
      'frame 1: IPv4 first fragment cut by the capture: read as far as captured, not reassembled',
      'frame 1: UDP datagram cut by the capture: 72 of 8196 payload bytes',
      'frame 2: IPv4 fragment at 1480 cut by the capture: dropped',
    ]);
  });
});

/** IPv6 fragments: hop-by-hop options before the Fragment header, destination options after it. */
function ipv6Fragments(id: number, chunk: number, src = '2001:db8::1'): Buffer[] {
  const fragmentable = Buffer.concat([ipv6OptionsHeader(17), BIG_UDP]); // dest options, then UDP
  const out: Buffer[] = [];
  for (let off = 0; off < fragmentable.length; off += chunk) {
    const more = off + chunk < fragmentable.length;
    const body = Buffer.concat([
      ipv6OptionsHeader(44),
      ipv6FragmentHeader(60, off, more, id),
      fragmentable.subarray(off, off + chunk),
    ]);
    out.push(ipv6(src, '2001:db8::2', 0, body));
  }
  return out;
}

describe('IPv6 fragment reassembly', () => {
  it('walks extension headers on both sides of the Fragment header, in any order of arrival', () => {
    const frags = ipv6Fragments(0xdeadbeef, 1448).map((f) => ethernet(ETH_IPV6, f, [{ tpid: 0x8100, vid: 5 }]));
    expect(frags).toHaveLength(6);
    const recs = records(1, [frags[5]!, frags[1]!, frags[0]!, frags[4]!, frags[3]!, frags[2]!]);
    const { datagrams, warnings } = udpDatagrams(recs);
    expect(warnings).toEqual([]);
    expect(datagrams).toHaveLength(1);
    expect(datagrams[0]).toMatchObject({
      frame: 6,
      src: '2001:db8::1',
      dst: '2001:db8::2',
      srcPort: 69,
      dstPort: 2070,
      ipVersion: 6,
      vlan: [5],
    });
    expect(datagrams[0]!.fragments).toEqual([3, 2, 6, 5, 4, 1]);
    expect(datagrams[0]!.payload.equals(BIG)).toBe(true);
  });

  it('reads an atomic fragment (RFC 6946) as a whole packet', () => {
    const atomic = ipv6(
      '::1',
      '::2',
      44,
      Buffer.concat([ipv6FragmentHeader(17, 0, false, 1), udpHeader(546, 547, PAYLOAD)]),
    );
    expect(only(LinkType.RAW, atomic).d).toMatchObject({ srcPort: 546, dstPort: 547 });
  });

  it('forgets fragments of other protocols without warnings', () => {
    const tcp = [0, 1].map((i) =>
      ipv6('::1', '::2', 44, Buffer.concat([ipv6FragmentHeader(6, i * 8, i === 0, 7), Buffer.alloc(8)])),
    );
    expect(udpDatagrams(records(LinkType.RAW, [tcp[0]!, tcp[1]!, tcp[1]!]))).toEqual({ datagrams: [], warnings: [] });
  });
});

// ------------------------------------------------------------------------------------------ properties

describe('never throws', () => {
  const LINKTYPES = [0, 1, 12, 14, 101, 105, 108, 113, 127, 228, 229, 276, 147];
  const seeds = [
    ethernet(ETH_IPV4, v4, [{ tpid: 0x8100, vid: 3 }]),
    ethernet(ETH_IPV6, ipv6Fragments(1, 1448)[0]!),
    ethernet(ETH_IPV4, ipv4Fragments(spec4, 1480)[1]!),
    ethernet(
      ETH_IPV4,
      ipv4({ src: '1.1.1.1', dst: '2.2.2.2', proto: 47, payload: gre(0x6558, ethernet(ETH_IPV4, v4)) }),
    ),
    wifiData(ETH_IPV4, v4, { qos: true }),
    sll2(ETH_IPV6, v6),
  ];

  it('on random bytes under every link type', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...LINKTYPES), fc.uint8Array({ maxLength: 200 }), fc.nat(300)), {
          maxLength: 20,
        }),
        (recs) => {
          const rs = recs.map(([lt, bytes, orig], i) => ({
            ...records(lt, [Buffer.from(bytes)])[0]!,
            frame: i + 1,
            origLen: orig,
          }));
          const { datagrams } = udpDatagrams(rs);
          for (const d of datagrams) expect(d.payload.length).toBeLessThanOrEqual(65535);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('on real packets with bytes overwritten, including fragments', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.nat(seeds.length - 1),
            fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
            fc.boolean(),
          ),
          { minLength: 1, maxLength: 30 },
        ),
        (picks) => {
          const rs = picks.map(([s, edits, cut], i) => {
            const data = Buffer.from(seeds[s]!);
            for (const [at, v] of edits) data[at % data.length] = v;
            const lt = s === 4 ? 105 : s === 5 ? 276 : 1;
            return {
              ...records(lt, [cut ? data.subarray(0, data.length >> 1) : data])[0]!,
              frame: i + 1,
              origLen: data.length,
            };
          });
          const { datagrams, warnings } = udpDatagrams(rs);
          for (const d of datagrams) expect(d.frame).toBeGreaterThanOrEqual(1);
          for (const w of warnings) expect(typeof w).toBe('string');
        },
      ),
      { numRuns: 2000 },
    );
  });
});

// ------------------------------------------------------------------------------------------ tshark

describe('agrees with tshark', () => {
  it('on the frame numbers of reassembled IPv4 and IPv6 datagrams, VLAN, QinQ and GRE', (ctx) => {
    const tshark = PEERS.tshark.use(ctx);
    const f4 = ipv4Fragments(spec4, 1480).map((f) => ethernet(ETH_IPV4, f));
    const f6 = ipv6Fragments(0x1234, 1448).map((f) => ethernet(ETH_IPV6, f));
    const frames = [
      f4[2]!,
      f6[1]!,
      ethernet(ETH_IPV4, v4, [
        { tpid: 0x88a8, vid: 10 },
        { tpid: 0x8100, vid: 20 },
      ]),
      f4[0]!,
      f6[0]!,
      f4[5]!,
      f6[5]!,
      f4[1]!,
      f6[2]!,
      ethernet(ETH_IPV4, ipv4({ src: '203.0.113.1', dst: '203.0.113.2', proto: 47, payload: gre(0x0800, v4) })),
      f4[4]!,
      f6[4]!,
      f6[3]!,
      f4[3]!,
      ethernet(ETH_IPV6, v6),
    ];
    const file = pcapFile(
      { linktype: 1 },
      frames.map((data, i) => ({ sec: 1_700_000_000 + i, frac: 0, data })),
    );
    const dir = mkdtempSync(path.join(tmpdir(), 'bootwire-capture-'));
    try {
      const f = path.join(dir, 'frags.pcap');
      writeFileSync(f, file);
      const out = execFileSync(
        tshark,
        ['-r', f, '-Y', 'udp', '-T', 'fields', '-e', 'frame.number', '-e', 'udp.srcport', '-e', 'udp.length'],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      );
      const theirs = out
        .trim()
        .split('\n')
        .map((l) => l.split('\t').map(Number));
      const { datagrams, warnings } = udpDatagrams(readCapture(file).records);
      expect(warnings).toEqual([]);
      expect(datagrams.map((d) => [d.frame, d.srcPort, d.payload.length + 8])).toEqual(theirs);
      expect(theirs.map((t) => t[0])).toEqual([3, 10, 13, 14, 15]); // f6 completes at 13, f4 at 14
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('reassembly agrees with the sort-every-time reference', () => {
  /**
   * The old reassembler's rules, written plainly: keep pieces (not exact copies), sort them all on each
   * arrival. One difference, on purpose: an empty piece inside the covered bytes overlaps nothing (the
   * old code warned about overlap for it).
   */
  function reference(
    frags: { offset: number; data: Buffer; more: boolean }[],
  ): { at: number; data: Buffer; order: number[]; overlap: boolean } | undefined {
    const parts: { offset: number; data: Buffer; i: number }[] = [];
    let total: number | undefined;
    for (const [i, f] of frags.entries()) {
      const end = f.offset + f.data.length;
      if (!f.more) {
        if (total !== undefined && total !== end) return undefined;
        total = end;
      }
      if (total !== undefined && (end > total || parts.some((p) => p.offset + p.data.length > total!)))
        return undefined;
      if (parts.some((p) => p.offset === f.offset && p.data.length === f.data.length)) continue;
      parts.push({ offset: f.offset, data: f.data, i });
      if (total === undefined || !parts.some((p) => p.offset === 0)) continue;
      const sorted = [...parts].sort((a, b) => a.offset - b.offset);
      let covered = 0;
      let overlap = false;
      let hole = false;
      for (const p of sorted) {
        if (p.offset > covered) hole = true;
        if (p.offset < covered && p.data.length > 0) overlap = true;
        covered = Math.max(covered, p.offset + p.data.length);
      }
      if (hole || covered < total) continue;
      const data = Buffer.alloc(total);
      for (const p of sorted) p.data.copy(data, p.offset);
      return { at: i, data, order: sorted.map((p) => p.i), overlap };
    }
    return undefined;
  }

  it('on random overlapping, duplicated, out-of-order pieces of one datagram', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }), // datagram length in 8-byte units (the last piece may end inside one)
        fc.array(fc.tuple(fc.nat(40), fc.integer({ min: 0, max: 12 }), fc.boolean(), fc.nat(255)), {
          minLength: 1,
          maxLength: 25,
        }),
        (units, specs) => {
          const total = units * 8 - (specs[0]![3] % 8);
          const frags = specs.map(([at, len, last, fill]) => {
            const offset = Math.min(at, units - 1) * 8;
            if (last) return { offset, data: Buffer.alloc(Math.max(0, total - offset), fill), more: false };
            return {
              offset,
              data: Buffer.alloc(Math.min(len * 8, Math.max(0, units * 8 - 8 - offset)), fill),
              more: true,
            };
          });
          const warnings: string[] = [];
          const r = new Reassembler({ maxFragments: 1000 }, (m) => warnings.push(m));
          let got: { at: number; data: Buffer; order: number[] } | undefined;
          for (const [i, f] of frags.entries()) {
            const done = r.add({
              key: 'k',
              label: () => 'x',
              ipVersion: 4,
              offset: f.offset,
              data: f.data,
              more: f.more,
              frame: i,
              timeNs: 0n,
              next: 17,
            });
            if (done) {
              got = { at: i, data: done.data, order: done.fragments };
              break;
            }
          }
          const want = reference(frags);
          expect(got?.at).toBe(want?.at);
          if (want && got) {
            expect(got.data.equals(want.data)).toBe(true);
            expect(got.order).toEqual(want.order);
            expect(warnings.some((w) => w.endsWith('overlapping fragments'))).toBe(want.overlap);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
