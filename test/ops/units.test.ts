/**
 * The pure parts of issue 17: SIGHUP coalescing, what-changed between configs, the log gate, the
 * transfer records' shape, lease queries and releases, and the DHCP engine across a reload (offers
 * carried over, leases kept), its lease summary (the metrics' gauges) and an operator's release.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../packages/bootwire/src/config/load.js';
import {
  leaseFilter,
  LeaseQueryError,
  normalizeMac,
  releaseChange,
  selectLeases,
} from '../../packages/dhcp/src/leases/query.js';
import { type Lease, MemoryLeaseStore } from '../../packages/dhcp/src/leases/store.js';
import { compileDhcpConfig } from '../../packages/dhcp/src/server/compile.js';
import { type ClientRequest, DhcpEngine, MessageType } from '../../packages/dhcp/src/server/engine.js';
import type { HttpTransferRecord, TftpTransferRecord } from '../../packages/core/src/server/records.js';
import { LogGate } from '../../packages/bootwire/src/ops/log-gate.js';
import { configChanges, ReloadQueue } from '../../packages/bootwire/src/ops/reload.js';
import { describeTransfer, fromHttp, fromTftp } from '../../packages/bootwire/src/ops/transfer-log.js';

describe('ReloadQueue: a SIGHUP storm is coalesced', () => {
  it('100 requests during a reload make exactly one more reload, which sees the latest state', async () => {
    let version = 0;
    const seen: number[] = [];
    let release!: () => void;
    let running = 0;
    let overlap = false;
    const q = new ReloadQueue(async () => {
      running++;
      if (running > 1) overlap = true;
      const v = version;
      if (seen.length === 0) await new Promise<void>((r) => (release = r));
      else await new Promise((r) => setTimeout(r, 1));
      seen.push(v);
      running--;
    });
    q.request();
    for (let i = 0; i < 100; i++) {
      version = i + 1;
      q.request();
    }
    release();
    await q.idle();
    expect(overlap).toBe(false);
    expect(q.runs).toBe(2);
    expect(seen).toEqual([0, 100]);
  });

  it('a reload that throws does not stop the next one', async () => {
    let n = 0;
    const q = new ReloadQueue(async () => {
      n++;
      throw new Error('boom');
    });
    q.request();
    await q.idle();
    q.request();
    await q.idle();
    expect(n).toBe(2);
  });
});

describe('configChanges', () => {
  it('names the differing leaves and the entries added or removed', () => {
    const a = {
      root: '/a',
      tftp: { maxBlksize: 1468, listen: 'x:1' },
      dhcp: { subnets: [{ pool: 'p1', options: { '66': 'a' } }] },
    };
    const b = {
      root: '/a',
      tftp: { maxBlksize: 512, listen: 'x:1' },
      dhcp: { subnets: [{ pool: 'p2', options: { '66': 'a', '150': 'b' } }, { pool: 'p3' }] },
    };
    expect(configChanges(a, b)).toEqual([
      'tftp.maxBlksize',
      'dhcp.subnets[0].pool',
      'dhcp.subnets[0].options.150',
      'dhcp.subnets[1]',
    ]);
    expect(configChanges(a, structuredClone(a))).toEqual([]);
    expect(configChanges(undefined, { x: 1 })).toEqual(['(top level)']);
  });

  it('cuts a long list of changes', () => {
    const a = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]));
    const b = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i + 1]));
    const c = configChanges(a, b);
    expect(c).toHaveLength(41);
    expect(c[40]).toBe('and 60 more');
  });
});

describe('LogGate', () => {
  it('lets `rate` a second through per kind (bursts of twice that) and counts the rest exactly', () => {
    const g = new LogGate(10);
    let passed = 0;
    for (let i = 0; i < 1000; i++) if (g.take('dhcp', 1000)) passed++;
    expect(passed).toBe(20); // the burst
    expect(g.take('tftp-refused', 1000)).toBe(true); // kinds have their own budgets
    expect(g.drain()).toEqual({ dhcp: 980 });
    expect(g.drain()).toEqual({});
    // A second later, ten more.
    let later = 0;
    for (let i = 0; i < 100; i++) if (g.take('dhcp', 2000)) later++;
    expect(later).toBe(10);
    expect(g.drain()).toEqual({ dhcp: 90 });
  });

  it('rate 0 lets everything through', () => {
    const g = new LogGate(0);
    for (let i = 0; i < 10_000; i++) expect(g.take('x', 0)).toBe(true);
    expect(g.drain()).toEqual({});
  });
});

describe('transfer records', () => {
  const tftpOk: TftpTransferRecord = {
    protocol: 'tftp',
    client: { address: '10.77.0.5', port: 2070 },
    direction: 'read',
    name: '46xxupgrade.scr',
    file: '46xxupgrade.scr',
    mode: 'octet',
    blksize: 1468,
    windowsize: 1,
    options: { blksize: '1468', tsize: '1024' },
    bytes: 1024,
    retransmits: 2,
    ms: 35,
    ok: true,
    result: 'ok',
  };

  it('a TFTP transfer: client, file, options negotiated, bytes, ms, retransmissions, result', () => {
    const t = fromTftp(tftpOk);
    expect(t).toEqual({
      event: 'transfer',
      protocol: 'tftp',
      client: '10.77.0.5',
      port: 2070,
      file: '46xxupgrade.scr',
      direction: 'read',
      options: { mode: 'octet', blksize: '1468', tsize: '1024' },
      bytes: 1024,
      ms: 35,
      retransmits: 2,
      result: 'ok',
    });
    expect(describeTransfer(t)).toBe(
      'tftp read 46xxupgrade.scr to 10.77.0.5:2070 ok, 1,024 bytes in 35 ms, 2 retransmitted',
    );
  });

  it('a failed and a refused TFTP request carry the error; the phone the server knew adds MAC and model', () => {
    const failed = fromTftp({
      ...tftpOk,
      ok: false,
      result: 'failed',
      error: { code: 0, message: 'timed out', by: 'local' },
    });
    expect(failed.result).toBe('failed');
    expect(failed.error).toBe('ERROR 0: timed out');
    const refusal: TftpTransferRecord = {
      protocol: 'tftp',
      client: { address: '::ffff:10.77.0.6', port: 1 },
      phone: { mac: '00:04:0d:aa:bb:01', model: '9608' },
      direction: 'read',
      name: 'nope',
      mode: 'octet',
      blksize: 0,
      windowsize: 0,
      options: {},
      bytes: 0,
      retransmits: 0,
      ms: 0,
      ok: false,
      result: 'refused',
      error: { code: 1, message: '"nope" not found', by: 'local' },
    };
    const r = fromTftp(refusal);
    expect(r).toMatchObject({
      client: '10.77.0.6',
      result: 'refused',
      bytes: 0,
      error: 'ERROR 1: "nope" not found',
      mac: '00:04:0d:aa:bb:01',
      model: '9608',
    });
    expect(describeTransfer(r)).toBe(
      'tftp read nope to 10.77.0.6:1 (00:04:0d:aa:bb:01 9608) refused: ERROR 1: "nope" not found',
    );
  });

  it('HTTP: ok, refused by status, failed when cut short', () => {
    const base: HttpTransferRecord = {
      protocol: 'https',
      client: { address: '10.77.0.7', port: 40000 },
      direction: 'read',
      name: '/a.bin',
      tls: true,
      httpVersion: '1.1',
      method: 'GET',
      target: '/a.bin',
      file: 'a.bin',
      status: 200,
      bytes: 5,
      size: 5,
      ms: 3,
      ok: true,
      result: 'ok',
    };
    expect(fromHttp(base)).toMatchObject({
      protocol: 'https',
      file: 'a.bin',
      result: 'ok',
      options: { method: 'GET', status: 200 },
    });
    const { file: _f, ...noFile } = base;
    expect(fromHttp({ ...noFile, status: 404, target: '/x', result: 'refused' })).toMatchObject({
      file: '/x',
      result: 'refused',
      error: '404 Not Found',
    });
    expect(fromHttp({ ...base, ok: false, result: 'failed', range: 'bytes 0-1/5' })).toMatchObject({
      result: 'failed',
      options: { range: 'bytes 0-1/5' },
    });
  });
});

const lease = (
  address: string,
  m: string,
  state: Lease['state'],
  expiresAt: number,
  subnet = '10.77.0.0/24',
): Lease => ({ address, clientKey: `mac:${m}`, mac: m, subnet, state, expiresAt });

describe('lease queries', () => {
  const now = 1_000_000;
  const all = [
    lease('10.77.0.12', '00:04:0d:00:00:02', 'bound', now + 1000),
    lease('10.77.0.11', '00:04:0d:00:00:01', 'bound', now + 1000),
    lease('10.77.0.13', '00:04:0d:00:00:03', 'bound', now - 1),
    lease('10.77.0.14', '00:04:0d:00:00:04', 'released', now - 5),
    lease('10.77.0.15', '00:04:0d:00:00:05', 'declined', now + 10),
    lease('10.78.0.11', '00:04:0d:00:00:01', 'bound', now + 1000, '10.78.0.0/24'),
  ];
  const addrs = (q: Parameters<typeof selectLeases>[1]) => selectLeases(all, q, now).map((l) => l.address);

  it('in force by default (bound or quarantined), sorted by address; --expired the rest', () => {
    expect(addrs({})).toEqual(['10.77.0.11', '10.77.0.12', '10.77.0.15', '10.78.0.11']);
    expect(addrs({ expired: true })).toEqual(['10.77.0.13', '10.77.0.14']);
  });

  it('by MAC (any spelling), address and subnet', () => {
    expect(addrs({ mac: '00-04-0D-00-00-01' })).toEqual(['10.77.0.11', '10.78.0.11']);
    expect(addrs({ mac: '00040d000001', subnet: '10.78.0.0/16' })).toEqual(['10.78.0.11']);
    expect(addrs({ ip: '10.77.0.12' })).toEqual(['10.77.0.12']);
    expect(addrs({ subnet: '10.77.0.15' })).toEqual(['10.77.0.15']);
  });

  it('bad arguments are refused with the reason', () => {
    expect(() => leaseFilter({ mac: '00:04:0d' }, now)).toThrow(LeaseQueryError);
    expect(() => leaseFilter({ ip: '10.77.0.256' }, now)).toThrow(/not an IPv4 address/);
    expect(() => leaseFilter({ subnet: '10.77.0.0/33' }, now)).toThrow(/not a subnet/);
    expect(() => leaseFilter({ subnet: 'x/24' }, now)).toThrow(/not a subnet/);
    expect(normalizeMac('00:04:0D:AA:BB:01')).toBe('00:04:0d:aa:bb:01');
  });

  it('a release: bound becomes released now, a quarantine is lifted, a released one stays', () => {
    expect(releaseChange(all[0]!, now)).toEqual({ ok: true, row: { ...all[0]!, state: 'released', expiresAt: now } });
    expect(releaseChange(all[4]!, now)).toEqual({ ok: true, row: 'delete' });
    expect(releaseChange(all[3]!, now)).toMatchObject({ ok: false, reason: '10.77.0.14 is already released' });
  });
});

describe('DhcpEngine across a reload, its summary and an operator release', () => {
  const dhcp = (pool: string, extra: Record<string, unknown> = {}) =>
    parseConfig(
      { dhcp: { listen: '127.0.0.1:67', leases: 'x.db', subnets: [{ subnet: '10.77.0.0/24', pool, ...extra }] } },
      '/',
    ).dhcp!;
  const engineFor = (store: MemoryLeaseStore, pool: string, previous?: DhcpEngine, extra?: Record<string, unknown>) =>
    new DhcpEngine(compileDhcpConfig(dhcp(pool, extra), []), store, previous);
  const req = (type: number, m: string, extra: Partial<ClientRequest> = {}): ClientRequest => ({
    messageType: type,
    xid: 1,
    flags: 0,
    ciaddr: '0.0.0.0',
    giaddr: '10.77.0.1',
    mac: m,
    requestedOptions: [1, 3],
    userClasses: [],
    ...extra,
  });
  const yiaddr = (d: ReturnType<DhcpEngine['handle']>) => (d.kind === 'reply' ? d.yiaddr : undefined);
  const type = (d: ReturnType<DhcpEngine['handle']>) => (d.kind === 'reply' ? d.type : d.reason);

  it('an offer made before a reload is still good after it; leases stay; a pool change applies to new clients', () => {
    const store = new MemoryLeaseStore();
    const before = engineFor(store, '10.77.0.10-10.77.0.20');
    const t = 1_000_000;
    const a = yiaddr(before.handle(req(MessageType.DISCOVER, '00:00:00:00:00:01'), t))!;
    before.handle(req(MessageType.REQUEST, '00:00:00:00:00:01', { requestedAddress: a, serverId: '127.0.0.1' }), t);
    const offered = yiaddr(before.handle(req(MessageType.DISCOVER, '00:00:00:00:00:02'), t))!;
    const after = engineFor(store, '10.77.0.10-10.77.0.30', before);
    // The client that was offered an address before the reload gets its ACK after it.
    expect(
      type(
        after.handle(
          req(MessageType.REQUEST, '00:00:00:00:00:02', { requestedAddress: offered, serverId: '127.0.0.1' }),
          t + 10,
        ),
      ),
    ).toBe(MessageType.ACK);
    // The lease from before is kept: the same client is offered its address again.
    expect(yiaddr(after.handle(req(MessageType.DISCOVER, '00:00:00:00:00:01'), t + 20))).toBe(a);
    // Without carrying the offer over, that REQUEST would have met silence (RFC 2131 4.3.2).
    const fresh = engineFor(new MemoryLeaseStore(), '10.77.0.10-10.77.0.30');
    expect(
      type(
        fresh.handle(
          req(MessageType.REQUEST, '00:00:00:00:00:02', { requestedAddress: offered, serverId: '127.0.0.1' }),
          t + 10,
        ),
      ),
    ).toMatch(/no record/);
  });

  it('an offer outside the new pools is dropped; nothing else is offered twice', () => {
    const store = new MemoryLeaseStore();
    const before = engineFor(store, '10.77.0.10-10.77.0.10');
    const offered = yiaddr(before.handle(req(MessageType.DISCOVER, '00:00:00:00:00:03'), 0))!;
    expect(offered).toBe('10.77.0.10');
    const after = engineFor(store, '10.77.0.10-10.77.0.11', before);
    // 10.77.0.10 is still on offer to client 3: client 4 gets the other address.
    expect(yiaddr(after.handle(req(MessageType.DISCOVER, '00:00:00:00:00:04'), 1))).toBe('10.77.0.11');
    const moved = engineFor(store, '10.77.0.50-10.77.0.50', after);
    expect(yiaddr(moved.handle(req(MessageType.DISCOVER, '00:00:00:00:00:05'), 2))).toBe('10.77.0.50');
  });

  it('leaseSummary: rows by state, offers and the share of the pool in use', () => {
    const store = new MemoryLeaseStore();
    const now = 5_000_000;
    store.put(lease('10.77.0.10', '00:00:00:00:00:10', 'bound', now + 1000));
    store.put(lease('10.77.0.11', '00:00:00:00:00:11', 'bound', now - 1000));
    store.put(lease('10.77.0.12', '00:00:00:00:00:12', 'released', now - 1000));
    store.put(lease('10.77.0.13', '00:00:00:00:00:13', 'declined', now + 1000));
    const e = engineFor(store, '10.77.0.10-10.77.0.19');
    e.handle(req(MessageType.DISCOVER, '00:00:00:00:00:20'), now);
    expect(e.leaseSummary(now)).toEqual([
      {
        subnet: '10.77.0.0/24',
        poolSize: 10,
        inUse: 2,
        offered: 1,
        states: { bound: 1, expired: 1, released: 1, declined: 1 },
      },
    ]);
  });

  it('releaseLease frees a bound address for others and lifts a quarantine', () => {
    const store = new MemoryLeaseStore();
    const e = engineFor(store, '10.77.0.10-10.77.0.11');
    const now = 7_000_000;
    for (const m of ['00:00:00:00:00:01', '00:00:00:00:00:02']) {
      const a = yiaddr(e.handle(req(MessageType.DISCOVER, m), now))!;
      e.handle(req(MessageType.REQUEST, m, { requestedAddress: a, serverId: '127.0.0.1' }), now);
    }
    expect(type(e.handle(req(MessageType.DISCOVER, '00:00:00:00:00:03'), now))).toMatch(/exhausted/);
    const r = e.releaseLease('10.77.0.10', now + 1);
    expect(r).toMatchObject({ ok: true, lease: { state: 'released', address: '10.77.0.10' } });
    expect(store.get('10.77.0.10')!.state).toBe('released');
    expect(yiaddr(e.handle(req(MessageType.DISCOVER, '00:00:00:00:00:03'), now + 2))).toBe('10.77.0.10');
    expect(e.releaseLease('10.77.0.99', now)).toMatchObject({ ok: false, reason: 'no lease for 10.77.0.99' });
    // A quarantine (DECLINE) lifted: the row goes, the address is free again.
    const d = engineFor(store, '10.77.0.10-10.77.0.11', e);
    d.handle(req(MessageType.DECLINE, '00:00:00:00:00:02', { requestedAddress: '10.77.0.11' }), now + 3);
    expect(store.get('10.77.0.11')!.state).toBe('declined');
    expect(d.releaseLease('10.77.0.11', now + 4)).toMatchObject({ ok: true });
    expect(store.get('10.77.0.11')).toBeUndefined();
    expect(d.leaseSummary(now + 5)[0]!.states.declined).toBe(0);
  });
});
