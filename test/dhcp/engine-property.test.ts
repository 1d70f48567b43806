/**
 * Property tests of the DHCP engine (fast-check): for any sequence of client messages and clock
 * steps, it never throws, every reply names this server in option 54, and no ACK gives an address
 * outside a pool (other than the client's reservation), leased to another client, or quarantined.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../packages/bootwire/src/config/load.js';
import { type Lease, MemoryLeaseStore } from '../../packages/dhcp/src/leases/store.js';
import { compileDhcpConfig } from '../../packages/dhcp/src/server/compile.js';
import { type ClientRequest, DhcpEngine, MessageType } from '../../packages/dhcp/src/server/engine.js';
import { ipToInt } from '../../packages/core/src/ipv4.js';

const MACS = Array.from({ length: 12 }, (_, i) => `00:04:0d:00:00:${(i + 1).toString(16).padStart(2, '0')}`);
const RESERVED: Record<string, string> = { '00:04:0d:00:00:05': '10.77.0.50' };
const ADDRESSES = [
  '10.77.0.100',
  '10.77.0.101',
  '10.77.0.102',
  '10.77.0.103',
  '10.77.0.104',
  '10.77.0.105',
  '10.77.0.50',
  '10.77.0.1',
  '10.77.0.200',
  '10.77.0.255',
  '10.88.0.20',
  '8.8.8.8',
  '0.0.0.0',
];

const message = fc.record({
  /** 100: a whole DORA (DISCOVER, then REQUEST naming this server and the offered address). */
  type: fc.constantFrom(...[1, 1, 3, 3, 3, 100, 100, 100, 4, 7, 8, 2, 99]),
  mac: fc.constantFrom(...MACS),
  clientId: fc.option(fc.constantFrom('01aa', '01bb'), { nil: undefined }),
  requested: fc.option(fc.constantFrom(...ADDRESSES), { nil: undefined, freq: 2 }),
  ciaddr: fc.oneof(
    { arbitrary: fc.constant('0.0.0.0'), weight: 5 },
    { arbitrary: fc.constantFrom(...ADDRESSES), weight: 2 },
  ),
  giaddr: fc.oneof(
    { arbitrary: fc.constant('0.0.0.0'), weight: 8 },
    { arbitrary: fc.constantFrom('10.88.0.1', '10.99.0.1'), weight: 1 },
  ),
  serverId: fc.constantFrom(
    undefined,
    undefined,
    undefined,
    '10.77.0.1',
    '10.77.0.1',
    '10.77.0.1',
    '10.79.0.1',
    '10.77.0.9',
    '0.0.0.0',
  ),
  vendorClass: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
  advanceMs: fc.constantFrom(0, 0, 1, 1000, 29_000, 31_000, 300_000, 700_000, 4_000_000),
  /** Where the address comes from: random, the last one this client was offered, or one another client was given. */
  pick: fc.constantFrom('random', 'mine', 'mine', 'others', 'others'),
  other: fc.nat(),
});

type Message = typeof message extends fc.Arbitrary<infer T> ? T : never;

function toRequest(m: Message): ClientRequest {
  const r: ClientRequest = {
    messageType: m.type,
    xid: 1,
    flags: 0,
    ciaddr: m.ciaddr,
    giaddr: m.giaddr,
    mac: m.mac,
    requestedOptions: [1, 3, 54, 51],
    userClasses: [],
  };
  if (m.clientId) r.clientId = m.clientId;
  if (m.requested) r.requestedAddress = m.requested;
  if (m.serverId) r.serverId = m.serverId;
  if (m.vendorClass !== undefined) r.vendorClass = m.vendorClass;
  if (m.giaddr !== '0.0.0.0') r.localAddress = '10.79.0.1';
  return r;
}

describe('DHCP engine properties', () => {
  it(
    "never throws; every reply carries option 54; no ACK outside a pool, of another client's lease, " +
      'or of a quarantined address',
    () => {
      fc.assert(
        fc.property(fc.boolean(), fc.array(message, { minLength: 1, maxLength: 80 }), (authoritative, messages) => {
          const cfg = parseConfig(
            {
              dhcp: {
                leases: 'x',
                offerSeconds: 30,
                declineSeconds: 600,
                subnets: [
                  {
                    subnet: '10.77.0.0/24',
                    pool: '10.77.0.100-10.77.0.102',
                    leaseSeconds: 300,
                    authoritative,
                    reservations: Object.entries(RESERVED).map(([mac, address]) => ({ mac, address })),
                  },
                  { subnet: '10.88.0.0/24', pool: '10.88.0.10-10.88.0.12', leaseSeconds: 300 },
                ],
                classes: [{ match: { vendorClass: { regex: '^(a+)+$' } }, options: { '67': 'x.scr' } }],
              },
            },
            '/',
          );
          const store = new MemoryLeaseStore();
          const e = new DhcpEngine(compileDhcpConfig(cfg.dhcp!, [ipToInt('10.77.0.1'), ipToInt('10.79.0.1')]), store);
          let now = 1_000_000;
          const given = new Map<string, string>(); // mac -> last address offered or ACKed to it
          const check = (req: ClientRequest, d: ReturnType<DhcpEngine['handle']>, before: Map<string, Lease>) => {
            if (d.kind !== 'reply') return;
            if (d.yiaddr !== '0.0.0.0') given.set(req.mac, d.yiaddr);
            const sid = d.options.find(([c]) => c === 54)?.[1];
            expect(sid, 'option 54').toBeDefined();
            expect([...sid!].join('.')).not.toBe('0.0.0.0');
            if (d.type !== MessageType.ACK || d.yiaddr === '0.0.0.0') return;
            const key = req.clientId ? `id:${req.clientId}` : `mac:${req.mac}`;
            const ip = ipToInt(d.yiaddr);
            const inPool = d.subnet!.pool.some(([a, b]) => ip >= a && ip <= b);
            expect(inPool || RESERVED[req.mac] === d.yiaddr, `${d.yiaddr} outside every pool`).toBe(true);
            const row = before.get(d.yiaddr);
            if (row && row.expiresAt > now) {
              expect(
                row.state === 'bound' && row.clientKey !== key,
                `${d.yiaddr} leased to ${row.clientKey}, ACKed to ${key}`,
              ).toBe(false);
              expect(row.state, `${d.yiaddr} is quarantined`).not.toBe('declined');
            }
          };
          const handle = (req: ClientRequest) => {
            const before = new Map<string, Lease>(store.all().map((l) => [l.address, l]));
            const d = e.handle(req, now); // must not throw
            check(req, d, before);
            return d;
          };
          for (const m of messages) {
            now += m.advanceMs;
            const req = toRequest(m);
            // Correlated addresses, so that sequences reach the interesting cases (a client naming
            // its offer, or another client's address) far more often than random picks would.
            const others = [...given].filter(([mac]) => mac !== m.mac).map(([, a]) => a);
            const picked =
              m.pick === 'mine'
                ? given.get(m.mac)
                : m.pick === 'others'
                  ? others[m.other % Math.max(1, others.length)]
                  : undefined;
            if (picked !== undefined) {
              if (req.ciaddr !== '0.0.0.0' && !m.requested) req.ciaddr = picked;
              else req.requestedAddress = picked;
            }
            if (m.type !== 100) {
              handle(req);
              continue;
            }
            const offer = handle({ ...req, messageType: MessageType.DISCOVER, ciaddr: '0.0.0.0' });
            if (offer.kind !== 'reply') continue;
            const sid = [...offer.options.find(([c]) => c === 54)![1]].join('.');
            handle({
              ...req,
              messageType: MessageType.REQUEST,
              ciaddr: '0.0.0.0',
              serverId: sid,
              requestedAddress: offer.yiaddr,
            });
          }
        }),
        { numRuns: 400 },
      );
    },
  );
});
