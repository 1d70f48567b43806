import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DhcpConfigError } from '../../packages/dhcp/src/codec/errors.js';
import { ConfigError, parseConfig } from '../../packages/bootwire/src/config/load.js';
import { compileDhcpConfig } from '../../packages/dhcp/src/server/compile.js';
import { type ClientRequest, DhcpEngine, MessageType } from '../../packages/dhcp/src/server/engine.js';
import { MemoryLeaseStore, SqliteLeaseStore } from '../../packages/dhcp/src/leases/store.js';
import { ipToInt } from '../../packages/core/src/ipv4.js';

/** The config shape the issue asks for, exactly as written. */
const ISSUE_CONFIG = {
  root: './tftpboot',
  tftp: { listen: '0.0.0.0:69' },
  dhcp: {
    listen: '0.0.0.0:67',
    leases: './leases.db',
    subnets: [
      {
        subnet: '10.77.0.0/24',
        pool: '10.77.0.100-10.77.0.199',
        leaseSeconds: 3600,
        options: { router: '10.77.0.1', '66': '10.77.0.1' },
      },
    ],
    classes: [
      {
        match: { vendorClass: 'ccp.avaya.com' },
        options: { '242': 'MCIPADD=10.77.0.5,MCPORT=1719,HTTPSRVR=10.77.0.1', '67': '46xxupgrade.scr' },
      },
      { match: { vendorClass: '440HD' }, options: { '160': 'tftp://10.77.0.1/440HD.img;440HD.cfg' } },
    ],
  },
};

const SERVER = ipToInt('10.77.0.1');
/** The repository (the kill -9 test runs the built engine in a child process: `npm run build` first). */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function engine(extra: Record<string, unknown> = {}, store = new MemoryLeaseStore()) {
  const cfg = parseConfig({ ...ISSUE_CONFIG, dhcp: { ...ISSUE_CONFIG.dhcp, ...extra } }, '/srv');
  return new DhcpEngine(compileDhcpConfig(cfg.dhcp!, [SERVER]), store);
}

function req(type: number, mac: string, more: Partial<ClientRequest> = {}): ClientRequest {
  return {
    messageType: type,
    xid: 1,
    flags: 0,
    ciaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    mac,
    requestedOptions: [1, 3, 66, 67, 242],
    userClasses: [],
    ...more,
  };
}

function reply(d: ReturnType<DhcpEngine['handle']>) {
  if (d.kind !== 'reply') throw new Error(`expected a reply, got: ${d.reason}`);
  return d;
}

const codes = (d: { options: [number, Buffer][] }) => d.options.map(([c]) => c);
const opt = (d: { options: [number, Buffer][] }, code: number) => d.options.find(([c]) => c === code)?.[1];

describe('config', () => {
  it('accepts the documented shape and resolves paths against the file', () => {
    const c = parseConfig(ISSUE_CONFIG, '/srv/boot');
    expect(c.root).toBe('/srv/boot/tftpboot');
    expect(c.dhcp!.leases).toBe('/srv/boot/leases.db');
    expect(c.dhcp!.subnets[0]!.leaseSeconds).toBe(3600);
    const compiled = compileDhcpConfig(c.dhcp!, [SERVER]);
    expect(compiled.subnets[0]!.options.get(3)).toEqual(Buffer.from([10, 77, 0, 1]));
    expect(compiled.subnets[0]!.options.get(66)!.toString()).toBe('10.77.0.1');
    expect(compiled.classes[0]!.options.get(242)!.toString()).toBe('MCIPADD=10.77.0.5,MCPORT=1719,HTTPSRVR=10.77.0.1');
  });

  for (const [what, change, message] of [
    [
      'a bad subnet',
      { subnets: [{ subnet: '10.77.0.0/33', pool: '10.77.0.1-10.77.0.2' }] },
      /dhcp\.subnets\[0\]\.subnet: expected an IPv4 subnet/,
    ],
    ['a bad pool', { subnets: [{ subnet: '10.77.0.0/24', pool: '10.77.0.1' }] }, /dhcp\.subnets\[0\]\.pool/],
    [
      'a pool outside the subnet',
      { subnets: [{ subnet: '10.77.0.0/24', pool: '10.78.0.1-10.78.0.9' }] },
      /dhcp\.subnets\[0\]\.pool: .* is not inside 10\.77\.0\.0\/24/,
    ],
    [
      'an unknown option name',
      { subnets: [{ subnet: '10.77.0.0/24', pool: '10.77.0.10-10.77.0.20', options: { rooter: '1.2.3.4' } }] },
      /dhcp\.subnets\[0\]\.options\.rooter: unknown option name/,
    ],
    [
      'a bad option value',
      { subnets: [{ subnet: '10.77.0.0/24', pool: '10.77.0.10-10.77.0.20', options: { router: 'not-an-ip' } }] },
      /dhcp\.subnets\[0\]\.options\.router: /,
    ],
    ['an unknown field', { subnet: [] }, /dhcp: .*subnet/],
    [
      'a bad regex',
      { classes: [{ match: { vendorClass: { regex: '(' } }, options: {} }] },
      /dhcp\.classes\[0\]\.match\.vendorClass/,
    ],
  ] as const) {
    it(`names the field for ${what}`, () => {
      let err: unknown;
      try {
        const c = parseConfig({ ...ISSUE_CONFIG, dhcp: { ...ISSUE_CONFIG.dhcp, ...change } }, '/srv');
        compileDhcpConfig(c.dhcp!, [SERVER]);
      } catch (e) {
        err = e;
      }
      // The file's schema (the CLI's) or the DHCP server's own checks (the library's).
      expect(err instanceof ConfigError || err instanceof DhcpConfigError, String(err)).toBe(true);
      expect((err as Error).message).toMatch(message);
    });
  }
});

describe('DHCP engine', () => {
  it('DORA: offers a pool address with the options asked for, in the client order, then ACKs and stores it', () => {
    const e = engine();
    const mac = '00:04:0d:aa:bb:01';
    const offer = reply(
      e.handle(
        req(MessageType.DISCOVER, mac, { vendorClass: 'ccp.avaya.com', requestedOptions: [242, 1, 3, 66, 67, 6] }),
        1000,
      ),
    );
    expect(offer.type).toBe(MessageType.OFFER);
    expect(offer.yiaddr).toBe('10.77.0.100');
    // 53, 54, 51 first; then the client's order; 6 has no value and is left out.
    expect(codes(offer)).toEqual([53, 54, 51, 242, 1, 3, 66, 67]);
    expect(opt(offer, 54)).toEqual(Buffer.from([10, 77, 0, 1]));
    expect(opt(offer, 51)!.readUInt32BE(0)).toBe(3600);
    expect(offer.className).toBe('classes[0]');
    expect(offer.destination).toMatchObject({ kind: 'broadcast' });

    const ack = reply(
      e.handle(
        req(MessageType.REQUEST, mac, {
          vendorClass: 'ccp.avaya.com',
          serverId: '10.77.0.1',
          requestedAddress: '10.77.0.100',
        }),
        2000,
      ),
    );
    expect(ack.type).toBe(MessageType.ACK);
    expect(ack.yiaddr).toBe('10.77.0.100');
    expect(e.store.get('10.77.0.100')).toMatchObject({ state: 'bound', mac, expiresAt: 2000 + 3600_000 });
  });

  it('a class without a match gets only the subnet options; the 440HD class gets option 160', () => {
    const e = engine();
    const plain = reply(
      e.handle(req(MessageType.DISCOVER, '00:00:00:00:00:01', { requestedOptions: [242, 160, 66] }), 0),
    );
    expect(codes(plain)).toEqual([53, 54, 51, 66, 1]);
    const hd = reply(
      e.handle(
        req(MessageType.DISCOVER, '00:90:8f:00:00:01', { vendorClass: '440HD', requestedOptions: [160, 66, 67] }),
        0,
      ),
    );
    expect(opt(hd, 160)!.toString()).toBe('tftp://10.77.0.1/440HD.img;440HD.cfg');
  });

  it(
    'matches classes by user class, MAC prefix, client id and circuit id, by exact text, prefix or ' +
      'regex; the first match wins',
    () => {
      const e = engine({
        classes: [
          { name: 'uc', match: { userClass: { prefix: 'Avaya' } }, options: { '67': 'uc.scr' } },
          { name: 'mac', match: { macPrefix: '00:04:0d' }, options: { '67': 'mac.scr' } },
          { name: 'cid', match: { clientId: { regex: '^01' } }, options: { '67': 'cid.scr' } },
          { name: 'circuit', match: { circuitId: 'port-7' }, options: { '67': 'circuit.scr' } },
        ],
      });
      const file = (r: Partial<ClientRequest>, mac = '11:22:33:44:55:66') =>
        opt(reply(e.handle(req(MessageType.DISCOVER, mac, { requestedOptions: [67], ...r }), 0)), 67)?.toString();
      expect(file({ userClasses: ['x', 'Avaya-phones'] })).toBe('uc.scr');
      expect(file({ userClasses: ['Avaya'] }, '00:04:0d:01:02:03')).toBe('uc.scr');
      expect(file({}, '00:04:0d:01:02:03')).toBe('mac.scr');
      expect(file({ clientId: '01112233445566' })).toBe('cid.scr');
      expect(file({ circuitId: 'port-7', giaddr: '10.77.0.2' })).toBe('circuit.scr');
      expect(file({ circuitId: 'port-77', giaddr: '10.77.0.2' })).toBeUndefined();
    },
  );

  it('always-send options go out unasked', () => {
    const e = engine({
      classes: [
        { match: { vendorClass: 'ccp.avaya.com' }, options: { '242': 'MCIPADD=10.77.0.5' }, alwaysSend: ['242'] },
      ],
    });
    const r = reply(
      e.handle(
        req(MessageType.DISCOVER, '00:04:0d:00:00:01', { vendorClass: 'ccp.avaya.com', requestedOptions: [1, 3] }),
        0,
      ),
    );
    expect(codes(r)).toEqual([53, 54, 51, 1, 3, 242]);
  });

  it('REQUEST for another server withdraws our offer and stays silent', () => {
    const e = engine();
    const offer = reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:00:02'), 0));
    expect(
      e.handle(
        req(MessageType.REQUEST, '00:00:00:00:00:02', { serverId: '10.77.0.9', requestedAddress: offer.yiaddr }),
        1,
      ),
    ).toMatchObject({ kind: 'ignore' });
    // The address is free again for someone else (who asks for it).
    expect(
      reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:00:03', { requestedAddress: offer.yiaddr }), 2)).yiaddr,
    ).toBe(offer.yiaddr);
  });

  it('INIT-REBOOT: ACK for the client own address, NAK for another subnet or another client address', () => {
    const e = engine();
    const a = '00:00:00:00:00:0a';
    const b = '00:00:00:00:00:0b';
    e.handle(req(MessageType.DISCOVER, a), 0);
    reply(e.handle(req(MessageType.REQUEST, a, { serverId: '10.77.0.1', requestedAddress: '10.77.0.100' }), 1));
    expect(reply(e.handle(req(MessageType.REQUEST, a, { requestedAddress: '10.77.0.100' }), 10)).type).toBe(
      MessageType.ACK,
    );
    // b has a record (an offer of .101), and asks for a's address.
    expect(reply(e.handle(req(MessageType.DISCOVER, b), 10)).yiaddr).toBe('10.77.0.101');
    expect(reply(e.handle(req(MessageType.REQUEST, b, { requestedAddress: '10.77.0.100' }), 10)).type).toBe(
      MessageType.NAK,
    );
    const wrong = reply(e.handle(req(MessageType.REQUEST, b, { requestedAddress: '192.168.1.5' }), 10));
    expect(wrong.type).toBe(MessageType.NAK);
    expect(wrong.destination).toMatchObject({ kind: 'broadcast' });
    expect(opt(wrong, 56)!.toString()).toMatch(/not on 10\.77\.0\.0\/24/);
  });
  it('RENEWING: extends the lease and answers unicast to ciaddr', () => {
    const e = engine();
    const a = '00:00:00:00:00:0c';
    e.handle(req(MessageType.DISCOVER, a), 0);
    reply(e.handle(req(MessageType.REQUEST, a, { serverId: '10.77.0.1', requestedAddress: '10.77.0.100' }), 0));
    const renew = reply(e.handle(req(MessageType.REQUEST, a, { ciaddr: '10.77.0.100' }), 1_800_000));
    expect(renew.type).toBe(MessageType.ACK);
    expect(renew.destination).toEqual({ kind: 'unicast', address: '10.77.0.100' });
    expect(e.store.get('10.77.0.100')!.expiresAt).toBe(1_800_000 + 3_600_000);
  });

  it('DECLINE quarantines the address; RELEASE frees it but the client gets it back', () => {
    const e = engine({ declineSeconds: 600 });
    const a = '00:00:00:00:00:0d';
    const b = '00:00:00:00:00:0e';
    e.handle(req(MessageType.DISCOVER, a), 0);
    reply(e.handle(req(MessageType.REQUEST, a, { serverId: '10.77.0.1', requestedAddress: '10.77.0.100' }), 0));
    e.handle(req(MessageType.DECLINE, a, { requestedAddress: '10.77.0.100', serverId: '10.77.0.1' }), 5);
    expect(e.store.get('10.77.0.100')!.state).toBe('declined');
    expect(reply(e.handle(req(MessageType.DISCOVER, b), 10)).yiaddr).toBe('10.77.0.101');
    // Released: the same client returns to its address.
    reply(e.handle(req(MessageType.REQUEST, b, { serverId: '10.77.0.1', requestedAddress: '10.77.0.101' }), 11));
    e.handle(req(MessageType.RELEASE, b, { ciaddr: '10.77.0.101' }), 12);
    expect(e.store.get('10.77.0.101')!.state).toBe('released');
    expect(reply(e.handle(req(MessageType.DISCOVER, b), 13)).yiaddr).toBe('10.77.0.101');
    // After the quarantine the declined address is usable again.
    expect(
      reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:00:0f', { requestedAddress: '10.77.0.100' }), 700_000))
        .yiaddr,
    ).toBe('10.77.0.100');
  });

  it('INFORM gets the options without an address or lease time, unicast', () => {
    const e = engine();
    const r = reply(
      e.handle(req(MessageType.INFORM, '00:00:00:00:00:10', { ciaddr: '10.77.0.50', requestedOptions: [66, 3] }), 0),
    );
    expect(r.type).toBe(MessageType.ACK);
    expect(r.yiaddr).toBe('0.0.0.0');
    expect(codes(r)).toEqual([53, 54, 66, 3]);
    expect(r.destination).toEqual({ kind: 'unicast', address: '10.77.0.50' });
  });

  it('relayed requests: subnet by giaddr, reply to the relay, option 82 echoed last', () => {
    const e = engine({
      subnets: [...ISSUE_CONFIG.dhcp.subnets, { subnet: '10.88.0.0/24', pool: '10.88.0.10-10.88.0.20' }],
    });
    const agent = Buffer.from([1, 6, 0x70, 0x6f, 0x72, 0x74, 0x2d, 0x37]);
    const r = reply(
      e.handle(
        req(MessageType.DISCOVER, '00:00:00:00:00:11', {
          giaddr: '10.88.0.1',
          relayAgent: agent,
          circuitId: 'port-7',
          localAddress: '10.77.0.1',
        }),
        0,
      ),
    );
    expect(r.yiaddr).toBe('10.88.0.10');
    expect(r.destination).toEqual({ kind: 'relay', address: '10.88.0.1' });
    expect(r.options.at(-1)).toEqual([82, agent]);
    // Link selection (82.5) beats giaddr.
    const ls = reply(
      e.handle(
        req(MessageType.DISCOVER, '00:00:00:00:00:12', {
          giaddr: '10.88.0.1',
          linkSelection: '10.77.0.0',
          localAddress: '10.77.0.1',
        }),
        0,
      ),
    );
    expect(ls.yiaddr).toBe('10.77.0.100');
  });

  it('reservations, and a full pool stays silent', () => {
    const e = engine({
      subnets: [
        {
          subnet: '10.77.0.0/24',
          pool: '10.77.0.100-10.77.0.101',
          reservations: [{ mac: '00:04:0d:00:00:99', address: '10.77.0.50' }],
        },
      ],
    });
    expect(reply(e.handle(req(MessageType.DISCOVER, '00:04:0d:00:00:99'), 0)).yiaddr).toBe('10.77.0.50');
    expect(reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:00:01'), 0)).yiaddr).toBe('10.77.0.100');
    expect(reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:00:02'), 0)).yiaddr).toBe('10.77.0.101');
    expect(e.handle(req(MessageType.DISCOVER, '00:00:00:00:00:03'), 0)).toMatchObject({
      kind: 'ignore',
      reason: 'pool of 10.77.0.0/24 exhausted',
    });
    // Another client may not take the reserved address (silence without a record; NAK with one).
    expect(
      e.handle(req(MessageType.REQUEST, '00:00:00:00:00:03', { requestedAddress: '10.77.0.50' }), 0),
    ).toMatchObject({ kind: 'ignore' });
    expect(
      reply(e.handle(req(MessageType.REQUEST, '00:00:00:00:00:01', { requestedAddress: '10.77.0.50' }), 0)).type,
    ).toBe(MessageType.NAK);
  });

  it('leases in SQLite survive kill -9 of the process that stored them: the client keeps its address', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bw-leases-'));
    try {
      const file = path.join(dir, 'leases.db');
      const mac = '00:04:0d:aa:bb:02';
      // A child process (the built engine) offers .100 to another client, leases .101 to `mac`, commits (what the
      // server
      // does before the ACK leaves), and is killed with SIGKILL: no close, no exit handler.
      const child = `
        import { parseConfig } from ${JSON.stringify(path.resolve(ROOT, 'packages/bootwire/dist/config/load.js'))};
        import { compileDhcpConfig } from ${JSON.stringify(path.resolve(ROOT, 'packages/dhcp/dist/server/compile.js'))};
        import { DhcpEngine } from ${JSON.stringify(path.resolve(ROOT, 'packages/dhcp/dist/server/engine.js'))};
        import { SqliteLeaseStore } from ${JSON.stringify(path.resolve(ROOT, 'packages/dhcp/dist/leases/store.js'))};
        const cfg = parseConfig(${JSON.stringify({ ...ISSUE_CONFIG })}, '/srv');
        const e = new DhcpEngine(
          compileDhcpConfig(cfg.dhcp, [${SERVER}]),
          new SqliteLeaseStore(${JSON.stringify(file)}),
        );
        const base = { xid: 1, flags: 0, ciaddr: '0.0.0.0', giaddr: '0.0.0.0', requestedOptions: [1], userClasses: [] };
        e.handle({ ...base, messageType: 1, mac: '00:00:00:00:00:01' }, 0);
        const offer = e.handle({ ...base, messageType: 1, mac: ${JSON.stringify(mac)} }, 0);
        const ack = e.handle(
          { ...base, messageType: 3, mac: ${JSON.stringify(mac)}, serverId: '10.77.0.1',
            requestedAddress: offer.yiaddr },
          0,
        );
        e.store.flush();
        process.stdout.write(ack.yiaddr);
        process.kill(process.pid, 'SIGKILL');`;
      const { execFile } = await import('node:child_process');
      const out = await new Promise<{ stdout: string; signal: string | null }>((resolve) => {
        const p = execFile(process.execPath, ['--input-type=module', '-e', child], { cwd: ROOT }, (_err, stdout) =>
          resolve({ stdout, signal: p.signalCode }),
        );
      });
      expect(out.signal).toBe('SIGKILL');
      expect(out.stdout).toBe('10.77.0.101');
      const e = engine({}, new SqliteLeaseStore(file));
      expect(e.store.get('10.77.0.101')).toMatchObject({ mac, state: 'bound' });
      // A fresh server would offer .100 to anyone: this client gets its .101 back.
      expect(reply(e.handle(req(MessageType.DISCOVER, mac), 10)).yiaddr).toBe('10.77.0.101');
      expect(reply(e.handle(req(MessageType.REQUEST, mac, { requestedAddress: '10.77.0.101' }), 10)).type).toBe(
        MessageType.ACK,
      );
      expect(reply(e.handle(req(MessageType.DISCOVER, '00:00:00:00:00:99'), 10)).yiaddr).toBe('10.77.0.100');
      e.store.close();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
