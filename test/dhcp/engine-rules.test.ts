/**
 * The engine's answers that must not invent state (issue 13), option 54 on every reply (issue 12),
 * and bounded work per request (issue 14): each case with the exact reply or the silence.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { DhcpConfigError } from '../../packages/dhcp/src/codec/errors.js';
import { ConfigError, loadConfig, parseConfig } from '../../packages/bootwire/src/config/load.js';
import { type Lease, MemoryLeaseStore } from '../../packages/dhcp/src/leases/store.js';
import { compileDhcpConfig } from '../../packages/dhcp/src/server/compile.js';
import {
  type ClientRequest,
  DECLINED_POOL_SHARE,
  DhcpEngine,
  MAX_DECLINED_PER_CLIENT,
  MessageType,
} from '../../packages/dhcp/src/server/engine.js';
import { ipToInt } from '../../packages/core/src/ipv4.js';

const SUBNET = {
  subnet: '10.77.0.0/24',
  pool: '10.77.0.100-10.77.0.199',
  leaseSeconds: 3600,
  options: { router: '10.77.0.1' },
};
const RELAYED = { subnet: '10.78.0.0/24', pool: '10.78.0.10-10.78.0.250', leaseSeconds: 600 };

function engine(dhcp: Record<string, unknown> = {}, locals = [ipToInt('10.77.0.1')], store = new MemoryLeaseStore()) {
  const cfg = parseConfig({ dhcp: { listen: '0.0.0.0:67', leases: 'x.db', subnets: [SUBNET], ...dhcp } }, '/srv');
  return new DhcpEngine(compileDhcpConfig(cfg.dhcp!, locals), store);
}

function req(type: number, mac: string, more: Partial<ClientRequest> = {}): ClientRequest {
  return {
    messageType: type,
    xid: 1,
    flags: 0,
    ciaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    mac,
    requestedOptions: [1, 3],
    userClasses: [],
    ...more,
  };
}

type Reply = Extract<ReturnType<DhcpEngine['handle']>, { kind: 'reply' }>;
function reply(d: ReturnType<DhcpEngine['handle']>): Reply {
  if (d.kind !== 'reply') throw new Error(`expected a reply, got: ${d.reason}`);
  return d;
}
const opt = (d: Reply, code: number) => d.options.find(([c]) => c === code)?.[1];
const ip54 = (d: Reply) => {
  const b = opt(d, 54);
  return b ? [...b].join('.') : undefined;
};

/** DISCOVER then REQUEST (SELECTING) for `mac`: its address. */
function lease(e: DhcpEngine, mac: string, now = 0, more: Partial<ClientRequest> = {}): string {
  const o = reply(e.handle(req(MessageType.DISCOVER, mac, more), now));
  const a = reply(
    e.handle(req(MessageType.REQUEST, mac, { ...more, serverId: ip54(o)!, requestedAddress: o.yiaddr }), now),
  );
  expect(a.type).toBe(MessageType.ACK);
  return a.yiaddr;
}

describe('option 54 on relayed subnets without serverId (RFC 2131 4.3.1)', () => {
  const relayed = () => engine({ subnets: [SUBNET, RELAYED] }, [ipToInt('10.77.0.1'), ipToInt('10.79.0.1')]);
  const via = { giaddr: '10.78.0.1', localAddress: '10.79.0.1' };

  it('OFFER, ACK and NAK carry the address the reply leaves from toward the relay', () => {
    const e = relayed();
    const o = reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:01:01', via), 0));
    expect(ip54(o)).toBe('10.79.0.1');
    expect(o.destination).toEqual({ kind: 'relay', address: '10.78.0.1' });
    const a = reply(
      e.handle(
        req(MessageType.REQUEST, '00:00:00:00:01:01', { ...via, serverId: '10.79.0.1', requestedAddress: o.yiaddr }),
        1,
      ),
    );
    expect([a.type, ip54(a)]).toEqual([MessageType.ACK, '10.79.0.1']);
    const n = reply(
      e.handle(req(MessageType.REQUEST, '00:00:00:00:01:01', { ...via, requestedAddress: '10.77.0.150' }), 2),
    );
    expect([n.type, ip54(n)]).toEqual([MessageType.NAK, '10.79.0.1']);
  });

  it("a REQUEST naming any of the server's own addresses is for this server", () => {
    const e = relayed();
    const o = reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:01:02', via), 0));
    // 10.77.0.1 is another address of this machine: still this server.
    expect(
      reply(
        e.handle(
          req(MessageType.REQUEST, '00:00:00:00:01:02', { ...via, serverId: '10.77.0.1', requestedAddress: o.yiaddr }),
          1,
        ),
      ).type,
    ).toBe(MessageType.ACK);
  });

  it('a REQUEST naming 0.0.0.0 or another server withdraws the offer and gets silence', () => {
    const e = relayed();
    const o = reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:01:03', via), 0));
    expect(
      e.handle(
        req(MessageType.REQUEST, '00:00:00:00:01:03', { ...via, serverId: '0.0.0.0', requestedAddress: o.yiaddr }),
        1,
      ),
    ).toMatchObject({ kind: 'ignore', reason: 'client chose another server' });
    expect(
      reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:01:04', { ...via, requestedAddress: o.yiaddr }), 2)).yiaddr,
    ).toBe(o.yiaddr);
  });

  it('a configured serverId wins; without any address to name, the engine stays silent rather than omit 54', () => {
    expect(
      ip54(
        reply(
          engine({ subnets: [SUBNET, RELAYED], serverId: '10.79.0.9' }).handle(
            req(MessageType.DISCOVER, '00:00:00:00:01:05', via),
            0,
          ),
        ),
      ),
    ).toBe('10.79.0.9');
    const none = engine({ subnets: [SUBNET, RELAYED] }, []);
    expect(none.handle(req(MessageType.DISCOVER, '00:00:00:00:01:06', { giaddr: '10.78.0.1' }), 0)).toMatchObject({
      kind: 'ignore',
      reason: expect.stringMatching(/server identifier/),
    });
  });
});

describe('REQUEST without a record (RFC 2131 4.3.2)', () => {
  const stranger = '00:00:00:00:02:01';

  it('SELECTING for this server without an offer: silence', () => {
    expect(
      engine().handle(
        req(MessageType.REQUEST, stranger, { serverId: '10.77.0.1', requestedAddress: '10.77.0.150' }),
        0,
      ),
    ).toEqual({ kind: 'ignore', reason: 'no record of this client (RFC 2131 4.3.2: silence)' });
  });

  it('INIT-REBOOT for a free address without a record: silence (was an ACK)', () => {
    const e = engine();
    expect(e.handle(req(MessageType.REQUEST, stranger, { requestedAddress: '10.77.0.150' }), 0)).toMatchObject({
      kind: 'ignore',
    });
    expect(e.store.get('10.77.0.150')).toBeUndefined();
  });

  it('RENEWING (ciaddr) without a record: silence', () => {
    const e = engine();
    expect(e.handle(req(MessageType.REQUEST, stranger, { ciaddr: '10.77.0.150' }), 0)).toMatchObject({
      kind: 'ignore',
    });
    expect(e.store.all()).toEqual([]);
  });

  it('an address wrong for the subnet: NAK, record or not', () => {
    const n = reply(engine().handle(req(MessageType.REQUEST, stranger, { requestedAddress: '192.168.7.7' }), 0));
    expect(n.type).toBe(MessageType.NAK);
    expect(opt(n, 56)!.toString()).toBe('192.168.7.7 is not on 10.77.0.0/24');
  });

  it('a client with a record asking for another address: NAK', () => {
    const e = engine();
    const mine = lease(e, stranger);
    expect(mine).toBe('10.77.0.100');
    const n = reply(e.handle(req(MessageType.REQUEST, stranger, { requestedAddress: '10.77.0.150' }), 1));
    expect([n.type, opt(n, 56)!.toString()]).toEqual([MessageType.NAK, "10.77.0.150 is not this client's address"]);
    expect(reply(e.handle(req(MessageType.REQUEST, stranger, { ciaddr: mine }), 2)).type).toBe(MessageType.ACK);
  });

  it('authoritative: true answers a client without a record with a NAK (ISC dhcpd)', () => {
    const e = engine({ subnets: [{ ...SUBNET, authoritative: true }] });
    for (const more of [
      { requestedAddress: '10.77.0.150' },
      { ciaddr: '10.77.0.150' },
      { serverId: '10.77.0.1', requestedAddress: '10.77.0.150' },
    ]) {
      const n = reply(e.handle(req(MessageType.REQUEST, stranger, more), 0));
      expect([n.type, opt(n, 56)!.toString()]).toEqual([MessageType.NAK, 'no record of this client on 10.77.0.0/24']);
    }
    expect(e.store.all()).toEqual([]);
  });
});

describe('DECLINE (RFC 2131 4.3.3), bounded', () => {
  it("a stranger's DECLINE is ignored: the owner keeps its address", () => {
    const e = engine();
    const a = lease(e, '00:00:00:00:03:01');
    expect(e.handle(req(MessageType.DECLINE, '00:00:00:00:03:99', { requestedAddress: a }), 1)).toMatchObject({
      kind: 'ignore',
      reason: expect.stringMatching(/not offered or leased to this client/),
    });
    expect(e.store.get(a)).toMatchObject({ state: 'bound', mac: '00:00:00:00:03:01' });
    expect(reply(e.handle(req(MessageType.REQUEST, '00:00:00:00:03:01', { requestedAddress: a }), 2)).type).toBe(
      MessageType.ACK,
    );
  });

  it('a DECLINE for an address outside every pool is not stored', () => {
    const e = engine();
    lease(e, '00:00:00:00:03:02');
    for (const a of ['8.8.8.8', '10.77.0.1', '10.77.0.5'])
      expect(e.handle(req(MessageType.DECLINE, '00:00:00:00:03:02', { requestedAddress: a }), 1)).toMatchObject({
        kind: 'ignore',
      });
    expect(e.store.all().map((l) => l.state)).toEqual(['bound']);
  });

  it("the client's own offer or lease is quarantined, and the row is pruned when the quarantine ends", () => {
    const e = engine({ declineSeconds: 60 });
    const o = reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:03:03'), 0));
    expect(e.handle(req(MessageType.DECLINE, '00:00:00:00:03:03', { requestedAddress: o.yiaddr }), 1)).toMatchObject({
      reason: `${o.yiaddr} declined: quarantined`,
    });
    expect(e.store.get(o.yiaddr)?.state).toBe('declined');
    expect(reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:03:04'), 2)).yiaddr).not.toBe(o.yiaddr);
    e.handle(req(MessageType.DISCOVER, '00:00:00:00:03:05'), 61_001);
    expect(e.store.get(o.yiaddr)).toBeUndefined();
  });

  it(`100 DISCOVER+DECLINE rounds from one MAC quarantine at most ${MAX_DECLINED_PER_CLIENT} addresses`, () => {
    const e = engine();
    for (let i = 0; i < 100; i++) {
      const o = e.handle(req(MessageType.DISCOVER, '00:00:00:00:03:06'), i);
      if (o.kind === 'reply')
        e.handle(req(MessageType.DECLINE, '00:00:00:00:03:06', { requestedAddress: o.yiaddr }), i);
    }
    expect(e.store.all().filter((l) => l.state === 'declined')).toHaveLength(MAX_DECLINED_PER_CLIENT);
  });

  it(`many clients quarantine at most 1/${DECLINED_POOL_SHARE} of the pool; the rest is served`, () => {
    const e = engine();
    for (let i = 0; i < 100; i++) {
      const mac = `00:00:00:00:04:${i.toString(16).padStart(2, '0')}`;
      const o = e.handle(req(MessageType.DISCOVER, mac), i);
      if (o.kind === 'reply') e.handle(req(MessageType.DECLINE, mac, { requestedAddress: o.yiaddr }), i);
    }
    expect(e.store.all().filter((l) => l.state === 'declined')).toHaveLength(Math.floor(100 / DECLINED_POOL_SHARE));
    expect(reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:05:01'), 31_000)).type).toBe(MessageType.OFFER);
  });
});

describe('free addresses without scanning the pool', () => {
  /** A store that counts lookups: the work of one DISCOVER, without a clock. */
  class CountingStore extends MemoryLeaseStore {
    gets = 0;
    override get(address: string): Lease | undefined {
      this.gets++;
      return super.get(address);
    }
  }

  it('a DISCOVER on a /16 pool full of offers does a bounded number of lookups, and says "exhausted" once', () => {
    const store = new CountingStore();
    const e = engine(
      { subnets: [{ subnet: '10.80.0.0/16', pool: '10.80.0.1-10.80.255.254' }] },
      [ipToInt('10.80.0.1')],
      store,
    );
    // 65,533 DISCOVERs (every address but the server's): the most lookups any one of them made.
    let most = 0;
    let offers = 0;
    for (let i = 0; i < 65_533; i++) {
      store.gets = 0;
      const d = e.handle(
        req(MessageType.DISCOVER, `02:00:00:00:${(i >> 8).toString(16)}:${(i & 255).toString(16)}`),
        0,
      );
      if (d.kind === 'reply') offers++;
      if (store.gets > most) most = store.gets;
    }
    expect(offers).toBe(65_533);
    expect(most).toBeLessThanOrEqual(4);
    const notices: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      store.gets = 0;
      const d = e.handle(req(MessageType.DISCOVER, `02:00:01:00:00:${i}`), 0);
      expect(d).toMatchObject({ kind: 'ignore', reason: 'pool of 10.80.0.0/16 exhausted' });
      expect(store.gets).toBeLessThanOrEqual(4);
      notices.push(d.kind === 'ignore' ? d.notice : undefined);
    }
    expect(notices[0]).toMatch(/pool of 10\.80\.0\.0\/16 exhausted: all 65,534 addresses/);
    expect(notices.slice(1)).toEqual([undefined, undefined]);
    // The offers run out (30 s): the pool serves again.
    expect(reply(e.handle(req(MessageType.DISCOVER, '02:00:01:00:00:09'), 31_000)).type).toBe(MessageType.OFFER);
  });

  it(
    'never-used addresses first, in pool order; a client keeps its address; released addresses last, ' + 'oldest first',
    () => {
      const e = engine({ subnets: [{ subnet: '10.77.0.0/24', pool: '10.77.0.100-10.77.0.104' }] });
      const a = lease(e, '00:00:00:00:06:01', 0);
      const b = lease(e, '00:00:00:00:06:02', 0);
      expect([a, b]).toEqual(['10.77.0.100', '10.77.0.101']);
      e.handle(req(MessageType.RELEASE, '00:00:00:00:06:02', { ciaddr: b }), 5);
      e.handle(req(MessageType.RELEASE, '00:00:00:00:06:01', { ciaddr: a }), 6);
      // Three never-used addresses go before the released ones.
      expect(['00:00:00:00:06:03', '00:00:00:00:06:04', '00:00:00:00:06:05'].map((m) => lease(e, m, 10))).toEqual([
        '10.77.0.102',
        '10.77.0.103',
        '10.77.0.104',
      ]);
      // a comes back to its own address although b's has been free longer.
      expect(lease(e, '00:00:00:00:06:01', 20)).toBe(a);
      // A newcomer gets the address released first (b's).
      expect(lease(e, '00:00:00:00:06:09', 30)).toBe(b);
    },
  );

  it('a lease that ran out returns to the pool, after the never-used ones', () => {
    const e = engine({ subnets: [{ subnet: '10.77.0.0/24', pool: '10.77.0.100-10.77.0.101', leaseSeconds: 60 }] });
    lease(e, '00:00:00:00:07:01', 0);
    lease(e, '00:00:00:00:07:02', 0);
    expect(e.handle(req(MessageType.DISCOVER, '00:00:00:00:07:03'), 1000)).toMatchObject({ kind: 'ignore' });
    expect(lease(e, '00:00:00:00:07:03', 61_000)).toBe('10.77.0.100');
  });

  it('leases loaded from the store are neither offered to others nor forgotten', () => {
    const store = new MemoryLeaseStore();
    store.put({
      address: '10.77.0.100',
      clientKey: 'mac:00:00:00:00:08:01',
      mac: '00:00:00:00:08:01',
      subnet: '10.77.0.0/24',
      state: 'bound',
      expiresAt: 1e12,
    });
    const e = engine({}, undefined, store);
    expect(reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:08:02'), 0)).yiaddr).toBe('10.77.0.101');
    expect(reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:08:01'), 0)).yiaddr).toBe('10.77.0.100');
  });
});

describe('class regexes run on RE2 (linear time)', () => {
  const HOSTILE = { name: 'redos', match: { vendorClass: { regex: '(a+)+$' } }, options: { '67': 'never.scr' } };

  it('the compiled matcher is re2js, not a backtracking RegExp', () => {
    const c = compileDhcpConfig(
      parseConfig({ dhcp: { leases: 'x', subnets: [SUBNET], classes: [HOSTILE] } }, '/').dhcp!,
      [],
    );
    const m = c.classes[0]!.vendorClass!;
    // The server loads re2js on demand, through require (its CommonJS build).
    const { RE2JS } = createRequire(import.meta.url)('re2js') as typeof import('re2js');
    expect('regex' in m && m.regex).toBeInstanceOf(RE2JS);
  });

  it(
    'a DISCOVER with "a"*28+"!" and with 255 characters is answered, and the next phone too',
    { timeout: 5000 },
    () => {
      const e = engine({ classes: [HOSTILE] });
      for (const [i, vc] of ['a'.repeat(28) + '!', 'a'.repeat(254) + '!'].entries()) {
        const r = reply(
          e.handle(req(MessageType.DISCOVER, `00:00:00:00:09:0${i}`, { vendorClass: vc, requestedOptions: [67] }), 0),
        );
        expect(r.className).toBeUndefined();
      }
      expect(
        reply(
          e.handle(req(MessageType.DISCOVER, '00:00:00:00:09:09', { vendorClass: 'aaaa', requestedOptions: [67] }), 0),
        ).className,
      ).toBe('redos');
    },
  );

  it('patterns RE2 cannot match in linear time are refused at load with the reason', () => {
    expect(() =>
      parseConfig(
        { dhcp: { leases: 'x', subnets: [SUBNET], classes: [{ match: { vendorClass: { regex: '(a)\\1' } } }] } },
        '/',
      ),
    ).toThrow(
      /dhcp\.classes\[0\]\.match\.vendorClass\.regex: not a regular expression bootwire can match in linear time \(RE2 syntax\): .*\\1/,
    );
    expect(() =>
      parseConfig(
        { dhcp: { leases: 'x', subnets: [SUBNET], classes: [{ match: { vendorClass: { regex: '^(?=ccp)' } } }] } },
        '/',
      ),
    ).toThrow(/linear time/);
  });
});

describe('config refuses what would silently go wrong', () => {
  const refuse = (dhcp: Record<string, unknown>) => {
    try {
      compileDhcpConfig(parseConfig({ dhcp: { leases: 'x', ...dhcp } }, '/').dhcp!, []);
    } catch (e) {
      expect(e instanceof ConfigError || e instanceof DhcpConfigError, String(e)).toBe(true);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  it('duplicate JSON keys, with the line', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-config-'));
    try {
      const file = path.join(dir, 'bootwire.json');
      await fs.writeFile(
        file,
        '{\n  "root": "/srv/tftp",\n  "dhcp": {\n    "leases": "l.db",\n    "subnets": [{ "subnet": ' +
          '"10.77.0.0/24", "pool": "10.77.0.10-10.77.0.20" }]\n  },\n  "root": "/"\n}\n',
      );
      await expect(loadConfig(file)).rejects.toThrow(
        `${file}:7: key "root" written twice in (top level) (first on line 2)`,
      );
      await fs.writeFile(
        file,
        '{\n  "dhcp": {\n    "leases": "l.db",\n    "subnets": [{ "subnet": "10.77.0.0/24",\n      ' +
          '"pool": "10.77.0.10-10.77.0.20", "pool": "10.77.0.0-10.77.0.255" }]\n  }\n}\n',
      );
      await expect(loadConfig(file)).rejects.toThrow(
        /:5: key "pool" written twice in dhcp\.subnets\[0\] \(first on line 5\)/,
      );
      // The same key in two different objects is fine.
      await fs.writeFile(
        file,
        '{ "dhcp": { "leases": "l.db", "subnets": [{ "subnet": "10.77.0.0/24", "pool": ' +
          '"10.77.0.10-10.77.0.20" }, { "subnet": "10.78.0.0/24", "pool": "10.78.0.10-10.78.0.20" }] } }',
      );
      expect((await loadConfig(file)).dhcp!.subnets).toHaveLength(2);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('duplicate reservations: the same MAC, or the same address', () => {
    const r = (reservations: unknown[]) => refuse({ subnets: [{ ...SUBNET, reservations }] });
    expect(
      r([
        { mac: '00:04:0d:00:00:01', address: '10.77.0.5' },
        { mac: '00:04:0D:00:00:01', address: '10.77.0.6' },
      ]),
    ).toBe('dhcp.subnets[0].reservations[1].mac: 00:04:0D:00:00:01 is reserved twice (also 10.77.0.5)');
    expect(
      r([
        { mac: '00:04:0d:00:00:01', address: '10.77.0.5' },
        { mac: '00:04:0d:00:00:02', address: '10.77.0.5' },
      ]),
    ).toBe('dhcp.subnets[0].reservations[1].address: 10.77.0.5 is reserved twice (also for 00:04:0d:00:00:01)');
  });

  it('0.0.0.0/0, a subnet wider than /8, an oversized pool, overlapping ranges', () => {
    expect(refuse({ subnets: [{ subnet: '0.0.0.0/0', pool: '0.0.0.1-255.255.255.254' }] })).toMatch(
      /dhcp\.subnets\[0\]\.subnet: 0\.0\.0\.0\/0 is too large to serve \(4,294,967,296 addresses\)/,
    );
    expect(refuse({ subnets: [{ subnet: '10.0.0.0/7', pool: '10.0.0.1-10.0.0.9' }] })).toMatch(/too large/);
    expect(refuse({ subnets: [{ subnet: '10.0.0.0/8', pool: '10.0.0.1-10.255.255.254' }] })).toMatch(
      /dhcp\.subnets\[0\]\.pool: the pool holds 16,777,214 addresses; bootwire takes at most 1,048,576/,
    );
    expect(refuse({ subnets: [{ subnet: '224.0.0.0/24', pool: '224.0.0.10-224.0.0.20' }] })).toMatch(/multicast/);
    expect(
      refuse({ subnets: [{ subnet: '10.77.0.0/24', pool: ['10.77.0.10-10.77.0.20', '10.77.0.15-10.77.0.30'] }] }),
    ).toMatch(/pool\[1\]: .* overlaps dhcp\.subnets\[0\]\.pool\[0\]/);
  });
});
