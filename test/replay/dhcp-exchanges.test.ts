/** DHCP replay, the pure part: exchanges, the configuration made from replies, rebuilt requests, reply checks. */
import { beforeEach, describe, expect, it } from 'vitest';
import { buildDhcp, decodeDhcp, type DhcpMessage } from '../../packages/dhcp/src/codec/index.js';
import { decodeRelayAgent } from '../../packages/dhcp/src/codec/relay-agent.js';
import {
  checkConfig,
  checkReply,
  configFromReplies,
  dhcpExchanges,
  rebuildRequest,
} from '../../packages/bootwire/src/replay/dhcp-exchanges.js';
import { dg, resetFrames } from './helpers.js';
import { parseIPv4 } from '../../packages/core/src/ipv4.js';

const MAC = '00:04:0d:aa:bb:01';
const MAC2 = '00:04:0d:aa:bb:02';
const ip = (s: string) => parseIPv4(s)!;
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

function client(
  type: number,
  xid: number,
  mac: string,
  extra: [number, Buffer][] = [],
  fields: { ciaddr?: string; giaddr?: string } = {},
): Buffer {
  return buildDhcp({ op: 1, xid, chaddr: mac, options: [[53, Buffer.from([type])], ...extra], ...fields }).bytes;
}

function server(type: number, xid: number, mac: string, yiaddr: string, extra: [number, Buffer][] = []): Buffer {
  return buildDhcp({
    op: 2,
    xid,
    chaddr: mac,
    yiaddr,
    options: [[53, Buffer.from([type])], [54, ip('10.9.0.1')], ...extra],
  }).bytes;
}

const LEASE: [number, Buffer][] = [
  [51, u32(7200)],
  [1, ip('255.255.255.0')],
  [3, ip('10.9.0.1')],
  [66, Buffer.from('10.9.0.1')],
];
const decoded = (b: Buffer): DhcpMessage => {
  const d = decodeDhcp(b);
  if (!d.ok) throw new Error(d.error.message);
  return d.message;
};

/** Two phones' DORAs, the first DISCOVER sent twice, and a RELEASE. */
function dora() {
  return [
    dg('0.0.0.0:68', '255.255.255.255:67', client(1, 0x11, MAC, [[55, Buffer.from([1, 3, 66, 150])]])),
    dg('0.0.0.0:68', '255.255.255.255:67', client(1, 0x11, MAC, [[55, Buffer.from([1, 3, 66, 150])]])),
    dg('10.9.0.1:67', '255.255.255.255:68', server(2, 0x11, MAC, '10.9.0.100', LEASE)),
    dg(
      '0.0.0.0:68',
      '255.255.255.255:67',
      client(3, 0x11, MAC, [
        [50, ip('10.9.0.100')],
        [54, ip('10.9.0.1')],
        [55, Buffer.from([1, 3, 66])],
      ]),
    ),
    dg('10.9.0.1:67', '255.255.255.255:68', server(5, 0x11, MAC, '10.9.0.100', LEASE)),
    dg('0.0.0.0:68', '255.255.255.255:67', client(1, 0x22, MAC2)),
    dg(
      '10.9.0.1:67',
      '255.255.255.255:68',
      server(2, 0x22, MAC2, '10.9.0.120', [
        [51, u32(7200)],
        [1, ip('255.255.255.0')],
        [3, ip('10.9.0.254')],
      ]),
    ),
    dg('10.9.0.100:68', '10.9.0.1:67', client(7, 0x33, MAC, [], { ciaddr: '10.9.0.100' })),
  ];
}

beforeEach(() => resetFrames());

describe('dhcpExchanges', () => {
  it('pairs each client message with the replies to it; a repeated message is one exchange', () => {
    const { exchanges, warnings } = dhcpExchanges(dora());
    expect(warnings).toEqual([]);
    expect(exchanges.map((x) => [x.id, x.request.type, x.copies, x.replies.map((r) => r.type)])).toEqual([
      [1, 1, 2, [2]],
      [2, 3, 1, [5]],
      [3, 1, 1, [2]],
      [4, 7, 1, []],
    ]);
  });

  it('warns about what is on the DHCP ports but is not DHCP', () => {
    const { exchanges, warnings } = dhcpExchanges([dg('0.0.0.0:68', '255.255.255.255:67', Buffer.alloc(100))]);
    expect(exchanges).toEqual([]);
    expect(warnings[0]).toMatch(/^frame 1: not replayed as DHCP: /);
  });
});

describe('configFromReplies', () => {
  it(
    'makes one subnet from the replies: pool over the addresses given, each client its address, the ' + 'options sent',
    () => {
      const cfg = configFromReplies(dhcpExchanges(dora()).exchanges)!;
      expect(cfg.notes).toEqual(['option 3 differs between replies: the first value is configured']);
      expect(cfg.config).toEqual({
        serverId: '10.9.0.1',
        offerSeconds: 30,
        declineSeconds: 3600,
        classes: [],
        subnets: [
          {
            subnet: '10.9.0.0/24',
            pool: '10.9.0.100-10.9.0.120',
            leaseSeconds: 7200,
            options: { '1': '0xffffff00', '3': '0x0a090001', '66': '0x31302e392e302e31' },
            alwaysSend: [],
            reservations: [
              { mac: MAC, address: '10.9.0.100' },
              { mac: MAC2, address: '10.9.0.120' },
            ],
          },
        ],
      });
      expect([...cfg.has.get('10.9.0.0/24')!].sort((a, b) => a - b)).toEqual([1, 3, 66]);
      const checked = checkConfig(cfg.config, '127.0.0.1:0', 40000);
      expect(checked.ok).toBe(true);
    },
  );

  it('takes /24 without option 1, says so, and gives nothing without a reply that gives an address', () => {
    const cfg = configFromReplies(
      dhcpExchanges([
        dg('0.0.0.0:68', '255.255.255.255:67', client(1, 1, MAC)),
        dg('10.9.0.1:67', '255.255.255.255:68', server(2, 1, MAC, '10.8.7.6')),
      ]).exchanges,
    )!;
    expect(cfg.config.subnets[0]!.subnet).toBe('10.8.7.0/24');
    expect(cfg.notes).toEqual(['a reply without option 1: its subnet taken as /24']);
    expect(
      configFromReplies(dhcpExchanges([dg('0.0.0.0:68', '255.255.255.255:67', client(1, 1, MAC))]).exchanges),
    ).toBeUndefined();
  });
});

describe('rebuildRequest', () => {
  it(
    'sends the recorded message with a fresh xid through our relay, asking for the link of the ' + 'recorded subnet',
    () => {
      const recorded = decoded(
        client(3, 0x11, MAC, [
          [50, ip('10.9.0.100')],
          [54, ip('10.9.0.1')],
          [82, Buffer.from([1, 3, 0x65, 0x74, 0x30])],
          [55, Buffer.from([1, 3])],
        ]),
      );
      const out = decoded(
        rebuildRequest(recorded, {
          xid: 0xabcdef01,
          giaddr: '127.0.0.1',
          link: '10.9.0.100',
          addressMap: new Map([['10.9.0.100', '10.9.0.101']]),
          serverId: '10.9.0.2',
        }),
      );
      expect(out.xid).toBe(0xabcdef01);
      expect(out.giaddr).toBe('127.0.0.1');
      expect(out.hops).toBe(1);
      expect(out.mac).toBe(MAC);
      expect(out.options.requestedAddress()).toBe('10.9.0.101');
      expect(out.options.serverId()).toBe('10.9.0.2');
      expect(out.options.codes()).toEqual([53, 50, 54, 55, 82]); // 82 last, as a relay appends it
      const relay = decodeRelayAgent(out.options.raw(82)!);
      expect(relay.subOptions.map((s) => [s.code, s.value.toString('hex')])).toEqual([
        [1, '657430'],
        [5, '0a090064'],
      ]);
    },
  );
});

describe('checkReply', () => {
  const sent = decoded(
    rebuildRequest(decoded(client(1, 1, MAC, [[55, Buffer.from([1, 3, 66, 150])]])), {
      xid: 7,
      giaddr: '127.0.0.1',
      link: '10.9.0.100',
    }),
  );
  const relay82 = sent.options.raw(82)!;
  const reply = (type: number, opts: [number, Buffer][], fields: { xid?: number; yiaddr?: string } = {}) =>
    buildDhcp({
      op: 2,
      xid: fields.xid ?? 7,
      chaddr: MAC,
      yiaddr: fields.yiaddr ?? '10.9.0.100',
      giaddr: '127.0.0.1',
      options: [[53, Buffer.from([type])], ...opts],
    }).bytes;
  const has = new Set([1, 3, 66]);
  const good: [number, Buffer][] = [
    [54, ip('10.9.0.1')],
    [51, u32(60)],
    [1, ip('255.255.255.0')],
    [3, ip('10.9.0.1')],
    [66, Buffer.from('x')],
    [82, relay82],
  ];

  it('passes a well-formed OFFER with every configured option asked for', () => {
    expect(checkReply(reply(2, good), sent, 2, has)).toEqual({
      type: 2,
      yiaddr: '10.9.0.100',
      asked: [1, 3, 66],
      notes: [],
    });
  });

  it('names the first problem', () => {
    expect(
      checkReply(
        reply(
          2,
          good.filter(([c]) => c !== 66),
        ),
        sent,
        2,
        has,
      ).difference,
    ).toBe('OFFER lacks option 66, asked for in 55 and configured');
    expect(checkReply(reply(5, good), sent, 2, has).difference).toBe('ACK in answer to DISCOVER');
    expect(
      checkReply(
        reply(
          2,
          good.filter(([c]) => c !== 54),
        ),
        sent,
        2,
        has,
      ).difference,
    ).toBe('OFFER without a server id (54)');
    expect(
      checkReply(
        reply(
          2,
          good.filter(([c]) => c !== 51),
        ),
        sent,
        2,
        has,
      ).difference,
    ).toBe('OFFER without a lease time (51)');
    expect(
      checkReply(
        reply(
          2,
          good.filter(([c]) => c !== 82),
        ),
        sent,
        2,
        has,
      ).difference,
    ).toBe('OFFER does not echo option 82');
    expect(checkReply(reply(2, good, { xid: 8 }), sent, 2, has).difference).toBe(
      'reply with xid 0x00000008, sent 0x00000007',
    );
    expect(checkReply(reply(2, good, { yiaddr: '0.0.0.0' }), sent, 2, has).difference).toBe(
      'OFFER without an address (yiaddr 0.0.0.0)',
    );
    expect(checkReply(Buffer.alloc(50), sent, 2, has).difference).toMatch(/^malformed reply: /);
  });

  it('compares the type with the recorded one and quotes a NAK message', () => {
    const req = decoded(
      rebuildRequest(decoded(client(3, 1, MAC, [[50, ip('10.9.0.100')]])), { xid: 7, giaddr: '127.0.0.1' }),
    );
    const nak = buildDhcp({
      op: 2,
      xid: 7,
      chaddr: MAC,
      giaddr: '127.0.0.1',
      options: [
        [53, Buffer.from([6])],
        [54, ip('10.9.0.1')],
        [56, Buffer.from('not yours')],
      ],
    }).bytes;
    expect(checkReply(nak, req, 5, has).difference).toBe('NAK "not yours", the recorded server sent ACK');
    expect(checkReply(nak, req, 6, has)).toEqual({ type: 6, yiaddr: '0.0.0.0', asked: [], notes: [] });
  });
});
